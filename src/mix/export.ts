/**
 * Exporters for the trainers users run at scale. Each writes a data file (atomic) and, for
 * LLaMA-Factory, the dataset_info.json entry that registers it.
 *
 * - `llamafactory`: alpaca-style JSONL `{"problem", "solution"}` with the entry
 *   `{"file_name", "formatting": "alpaca", "columns": {"prompt": "problem", "response": "solution"}}`,
 *   the columns of the paper's repository (its dataset_info.json for UWNSL/*).
 * - `sharegpt`: `{"conversations": [{"from": "human", "value"}, {"from": "gpt", "value"}]}` with a
 *   `"formatting": "sharegpt"` entry (LLaMA-Factory's default tags).
 * - `trl-messages`: `{"messages": [{"role": "user", "content"}, {"role": "assistant", "content"}]}`
 *   (TRL's conversational format).
 * - `trl-prompt-completion`: `{"prompt", "completion"}` (TRL's standard prompt-completion format).
 * - `jsonl`: the mixed examples themselves (id, question, answer, level, subject, source, response).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink, type FileHandle } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../data/atomic.js";
import { localDigest, type Digest } from "./digest.js";
import type { MixedExample } from "./mix.js";

/** The export formats (see the list at the top of this file). */
export const EXPORT_FORMATS = ["llamafactory", "sharegpt", "trl-messages", "trl-prompt-completion", "jsonl"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * Prompt templates by name; `{{problem}}` is replaced by the question. `paper` is the prompt of the
 * paper's evaluation (its lm-evaluation-harness tasks; see reference/paper_tables.json).
 */
export const PROMPT_TEMPLATES: Record<string, string> = {
  plain: "{{problem}}",
  paper: "Solve the following math problem. Present the final answer in the format: Final Answer: \\boxed{your_answer}.\nProblem: {{problem}}\nAnswer:",
};

/** A template by name, or the text itself when it contains {{problem}}. */
export function resolveTemplate(nameOrText: string | undefined): string {
  if (nameOrText === undefined) return PROMPT_TEMPLATES.plain!;
  const named = PROMPT_TEMPLATES[nameOrText];
  if (named !== undefined) return named;
  if (nameOrText.includes("{{problem}}") || nameOrText.includes("{{question}}")) return nameOrText;
  throw new Error(`template: unknown name ${JSON.stringify(nameOrText)} (known: ${Object.keys(PROMPT_TEMPLATES).join(", ")}; or give a text containing {{problem}})`);
}

export function applyTemplate(template: string, question: string): string {
  if (template === "{{problem}}") return question;
  return template.replace(/\{\{\s*(problem|question)\s*\}\}/g, () => question);
}

export interface ExportOptions {
  format: ExportFormat;
  /** Dataset name: the data file is NAME.jsonl and the dataset_info.json key is NAME. */
  name: string;
  /** Template name or text (default: the question as it is). */
  template?: string;
  /** Optional system prompt (messages / sharegpt / llamafactory `system` column). */
  system?: string;
}

export interface OutputFile {
  /** Relative to the dataset folder. */
  path: string;
  sha256: string;
  lines: number;
  bytes: number;
}

/** Serialises one example in the chosen format. Key order is fixed, so output is byte-stable. */
export function formatExample(e: MixedExample, format: ExportFormat, template: string, system?: string): string {
  const prompt = applyTemplate(template, e.question);
  switch (format) {
    case "llamafactory":
      return JSON.stringify(system === undefined ? { problem: prompt, solution: e.response } : { problem: prompt, solution: e.response, system });
    case "sharegpt": {
      const conv = [{ from: "human", value: prompt }, { from: "gpt", value: e.response }];
      return JSON.stringify(system === undefined ? { conversations: conv } : { conversations: conv, system });
    }
    case "trl-messages": {
      const msgs = [{ role: "user", content: prompt }, { role: "assistant", content: e.response }];
      if (system !== undefined) msgs.unshift({ role: "system", content: system });
      return JSON.stringify({ messages: msgs });
    }
    case "trl-prompt-completion":
      return JSON.stringify({ prompt, completion: e.response });
    case "jsonl": {
      const o: Record<string, unknown> = { id: e.id, question: prompt, answer: e.answer };
      if (e.level !== undefined) o.level = e.level;
      if (e.subject !== undefined) o.subject = e.subject;
      o.source = e.source;
      o.response = e.response;
      return JSON.stringify(o);
    }
  }
}

/** The dataset_info.json entry LLaMA-Factory needs for a file written by this exporter. */
export function datasetInfoEntry(format: ExportFormat, fileName: string, system?: string): Record<string, unknown> | undefined {
  if (format === "llamafactory") {
    const columns: Record<string, string> = { prompt: "problem", response: "solution" };
    if (system !== undefined) columns.system = "system";
    return { file_name: fileName, formatting: "alpaca", columns };
  }
  if (format === "sharegpt") {
    const columns: Record<string, string> = { messages: "conversations" };
    if (system !== undefined) columns.system = "system";
    return { file_name: fileName, formatting: "sharegpt", columns, tags: { role_tag: "from", content_tag: "value", user_tag: "human", assistant_tag: "gpt" } };
  }
  return undefined;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Checks format, dataset name and template before anything is written; returns the data file's name. */
export function checkExportOptions(opts: ExportOptions): string {
  if (!EXPORT_FORMATS.includes(opts.format)) throw new Error(`format: expected one of ${EXPORT_FORMATS.join(", ")}, got ${JSON.stringify(opts.format)}`);
  if (!NAME_RE.test(opts.name)) throw new Error(`name: ${JSON.stringify(opts.name)} is not a usable file name (letters, digits, . _ -)`);
  resolveTemplate(opts.template);
  return `${opts.name}.jsonl`;
}

/**
 * For LLaMA-Factory formats, merges this dataset's entry into the folder's dataset_info.json (atomic;
 * other datasets' entries are kept) and returns the file's record; undefined for other formats.
 */
export async function mergeDatasetInfo(dir: string, opts: ExportOptions, fileName: string): Promise<OutputFile | undefined> {
  const entry = datasetInfoEntry(opts.format, fileName, opts.system);
  if (!entry) return undefined;
  const infoPath = join(dir, "dataset_info.json");
  let info: Record<string, unknown> = {};
  if (existsSync(infoPath)) {
    try {
      info = JSON.parse(await readFile(infoPath, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${infoPath}: existing dataset_info.json is not valid JSON (${(e as Error).message})`);
    }
  }
  info[opts.name] = entry;
  const text = JSON.stringify(info, null, 2) + "\n";
  await writeFileAtomic(infoPath, text);
  return { path: "dataset_info.json", sha256: createHash("sha256").update(text).digest("hex"), lines: text.split("\n").length - 1, bytes: Buffer.byteLength(text) };
}

const EXPORT_BUFFER = 4 << 20;

/**
 * Streams examples into a dataset folder; nothing is visible until `close()`. The one exporter of
 * both the in-memory and the streaming mix: lines are appended to one large buffer (as formatted text,
 * or as bytes spliced by the streaming fast path), flushed to a temp file, hashed as they go, and
 * renamed on close, with the dataset_info.json entry for LLaMA-Factory formats.
 */
export class ExportWriter {
  /** The pending bytes are buf[0, len) (the byte path appends here after `reserve`). */
  buf = Buffer.allocUnsafe(EXPORT_BUFFER);
  len = 0;
  private lines = 0;
  private bytes = 0;
  private closed = false;
  private readonly template: string;
  private constructor(
    private readonly dir: string,
    private readonly opts: ExportOptions,
    private readonly fileName: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly hash: Digest,
  ) {
    this.template = resolveTemplate(opts.template);
  }

  /** Checks the options, then opens a temp file in `dir`; `hash` computes the manifest's sha256 (default: on this thread). */
  static async create(dir: string, opts: ExportOptions, hash: Digest = localDigest()): Promise<ExportWriter> {
    const fileName = checkExportOptions(opts);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(fileName)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    return new ExportWriter(dir, opts, fileName, tmp, await open(tmp, "w"), hash);
  }

  /** Queues one example; await the result when it is a promise (it had to write). */
  write(e: MixedExample): Promise<void> | undefined {
    return this.writeLine(formatExample(e, this.opts.format, this.template, this.opts.system) + "\n");
  }

  /** Queues one line of text (ending in a newline); a promise when it had to write first. */
  writeLine(line: string): Promise<void> | undefined {
    const p = this.reserve(line.length * 3);
    if (p) return p.then(() => this.writeLine(line));
    this.len += this.buf.write(line, this.len, "utf8");
    this.lines++;
    return undefined;
  }

  /** Makes room for n more bytes at buf[len]; a promise when it had to write (await it). */
  reserve(n: number): Promise<void> | undefined {
    if (this.len + n <= this.buf.length) return undefined;
    return this.flush(n);
  }

  /** Ends a line appended as bytes after `reserve`: the pending bytes now end at `end`. */
  commitBytes(end: number): void {
    this.len = end;
    this.lines++;
  }

  private async flush(need = 0): Promise<void> {
    if (this.len > 0) {
      const view = this.buf.subarray(0, this.len);
      const wait = this.hash.backlog();
      if (wait) await wait;
      this.hash.update(view);
      let off = 0;
      while (off < view.length) off += (await this.fh.write(view, off, view.length - off)).bytesWritten;
      this.bytes += this.len;
      this.len = 0;
    }
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
  }

  /** Drops the temp file; nothing is written to the folder. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }

  /** Commits the data file and, for LLaMA-Factory formats, merges the entry into dataset_info.json. */
  async close(): Promise<OutputFile[]> {
    try {
      await this.flush();
      await this.fh.sync();
    } catch (e) {
      await this.abort();
      throw e;
    }
    this.closed = true;
    await this.fh.close();
    await rename(this.tmp, join(this.dir, this.fileName));
    // Paths relative to the dataset folder, so a manifest does not depend on where the folder is.
    const files: OutputFile[] = [{ path: this.fileName, sha256: await this.hash.hex(), lines: this.lines, bytes: this.bytes }];
    const info = await mergeDatasetInfo(this.dir, this.opts, this.fileName);
    if (info) files.push(info);
    return files;
  }
}

/** Writes a whole list of examples in one format. */
export async function exportMix(examples: Iterable<MixedExample> | AsyncIterable<MixedExample>, dir: string, opts: ExportOptions): Promise<OutputFile[]> {
  const w = await ExportWriter.create(dir, opts);
  try {
    for await (const e of examples as AsyncIterable<MixedExample>) await w.write(e);
  } catch (err) {
    await w.abort();
    throw err;
  }
  return w.close();
}
