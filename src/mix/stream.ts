/**
 * Per-question mixing over files too large for memory. The source files must list the same questions
 * in the same order (as the paper's released single-source files and anything `synth` writes do);
 * they are read in lockstep, one line each, so memory stays flat whatever their size. The result is
 * byte-identical to `mix()` over the joined corpus with the same options.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { CorpusError } from "../data/errors.js";
import { decodeRawLine, readRawLineBatches, ReadReport, openByteStream, type ErrorPolicy, type RawLine } from "../data/jsonl.js";
import { checkCorpusRecord, checkPaperRecord, recordKind } from "../data/validate.js";
import { extractBoxed, normaliseQuestion, questionId } from "../data/corpus.js";
import { makeRng } from "../data/rng.js";
import type { CorpusRecord } from "../data/record.js";
import { defaultTokenizer, type Tokenizer } from "../tokenize/tokenizer.js";
import { resolveMixOptions, MixOptionError, type MixOptions } from "./options.js";
import { QuestionDrawer, type Plan } from "./plan.js";
import { buildManifest, toExample, type MixManifest, type SourceFileInfo } from "./mix.js";
import { ExportWriter, type ExportOptions, type OutputFile } from "./export.js";

export interface SourceFile {
  name: string;
  path: string;
}

/** Raised when source files do not list the same questions in the same order. */
export class NotAlignedError extends CorpusError {}

/** sha256 and size of a file, streamed. */
export async function fileDigest(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), bytes };
}

/** Number of non-blank lines (records) of a (possibly gzip) file, without parsing them. */
export async function countRecords(path: string): Promise<number> {
  // Scanning stops at a line's first non-space byte, so a line usually costs one indexOf and one byte.
  const hasContent = (b: Buffer, from: number, to: number): boolean => {
    for (let i = from; i < to; i++) {
      const c = b[i]!;
      if (c !== 32 && c !== 13 && c !== 9) return true;
    }
    return false;
  };
  let n = 0;
  let content = false; // the current line has content so far
  for await (const chunk of openByteStream(path)) {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
      if (content || hasContent(chunk, start, nl)) n++;
      content = false;
      start = nl + 1;
    }
    if (!content && hasContent(chunk, start, chunk.length)) content = true;
  }
  if (content) n++;
  return n;
}

type LineRecord = { line: number; rec?: CorpusRecord; field?: string; reason?: string };

/** Parses one line as a CorpusRecord (paper-form lines become `{[paperName]: solution}`). */
function parseLine(raw: RawLine, paperName: string): LineRecord {
  const item = decodeRawLine(raw);
  if (item.error !== undefined) return { line: item.line, field: "", reason: item.error };
  let v: unknown;
  try {
    v = JSON.parse(item.text);
  } catch (e) {
    return { line: item.line, field: "", reason: `invalid JSON (${(e as Error).message})` };
  }
  if (recordKind(v) === "paper") {
    const p = checkPaperRecord(v);
    if (!p.ok) return { line: item.line, field: p.field, reason: p.reason };
    const r = p.value;
    const rec: CorpusRecord = { id: r.id ?? "", question: r.problem, answer: r.answer ?? "", responses: { [paperName]: r.solution } };
    if (r.level !== undefined) rec.level = r.level;
    if (r.subject !== undefined) rec.subject = r.subject;
    return { line: item.line, rec };
  }
  const c = checkCorpusRecord(v);
  return c.ok ? { line: item.line, rec: c.value } : { line: item.line, field: c.field, reason: c.reason };
}

/** The non-blank lines of a file, pulled one at a time but read in ~1 MB batches (few awaits per line). */
class LineCursor {
  private batch: RawLine[] = [];
  private i = 0;
  private readonly it: AsyncIterator<RawLine[]>;
  readonly hash = createHash("sha256");
  bytes = 0;
  constructor(path: string) {
    this.it = readRawLineBatches(path, {
      onRawChunk: (c) => {
        this.hash.update(c);
        this.bytes += c.length;
      },
    })[Symbol.asyncIterator]();
  }
  /** The next non-blank line, or null at the end. Synchronous while the batch lasts. */
  next(): RawLine | null | Promise<RawLine | null> {
    while (this.i < this.batch.length) {
      const item = this.batch[this.i++]!;
      if (!isBlank(item.bytes)) return item;
    }
    return this.refill();
  }
  private async refill(): Promise<RawLine | null> {
    for (;;) {
      const r = await this.it.next();
      if (r.done) return null;
      this.batch = r.value;
      this.i = 0;
      const item = this.next();
      if (item !== null) return item;
    }
  }
}

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 32 && c !== 13 && c !== 9) return false;
  }
  return true;
}

export interface StreamMixOptions extends MixOptions {
  onError?: ErrorPolicy;
  report?: ReadReport;
  /**
   * `all` (default) parses and validates every line of every file; `used` fully parses only the lines
   * whose response goes into the mix, and checks the others for the same question by text. Faster
   * when one source is long and rarely used; malformed unused lines then go unnoticed.
   */
  validate?: "all" | "used";
  /** Token statistics from every `tokenSampleEvery`-th example (default: about 2,000 samples). */
  tokenSampleEvery?: number;
}

/** Joins one line of each file into a record (files in the order given; the first names the question). */
function joinLine(files: string[], parts: LineRecord[], byFile: Map<string, string[]>, needIds = true): CorpusRecord {
  const first = parts[0]!.rec!;
  // A single line has nothing to merge (its extra responses, if any, are simply not used).
  if (parts.length === 1 && (!needIds || (first.id && first.answer))) return first;
  const responses: Record<string, string> = {};
  let id = first.id;
  let answer = first.answer;
  let level = first.level;
  let subject = first.subject;
  parts.forEach((p, f) => {
    const r = p.rec!;
    if (f > 0 && r.question !== first.question && normaliseQuestion(r.question) !== normaliseQuestion(first.question))
      throw new NotAlignedError({ file: files[f]!, line: p.line, field: "question" }, `differs from ${files[0]}:${parts[0]!.line}; the files do not list the same questions in the same order (join them in memory instead)`);
    for (const name of byFile.get(files[f]!)!) {
      const t = r.responses[name];
      if (t !== undefined) responses[name] = t;
    }
    if (!id && r.id) id = r.id;
    if (!answer && r.answer) answer = r.answer;
    level ??= r.level;
    subject ??= r.subject;
  });
  // Ids and answers only appear in the jsonl export; the others need not pay for them.
  if (!id && needIds) id = questionId(first.question);
  if (!answer && needIds) {
    for (const t of Object.values(responses)) {
      const b = extractBoxed(t);
      if (b !== null) {
        answer = b;
        break;
      }
    }
  }
  const rec: CorpusRecord = { id, question: first.question, answer, responses };
  if (level !== undefined) rec.level = level;
  if (subject !== undefined) rec.subject = subject;
  return rec;
}

/**
 * Streams a per-question mix of aligned source files into an export. A file may be paper-form
 * (`{problem, solution}`: its solution is the response of the source naming it) or corpus records
 * (the source's name selects the response).
 */
export async function mixFilesPerQuestion(
  sources: SourceFile[],
  options: StreamMixOptions,
  out: { dir: string } & ExportOptions,
): Promise<{ manifest: MixManifest; outputs: OutputFile[] }> {
  const o = resolveMixOptions({ ...options, sources: sources.map((s) => s.name), strategy: "per-question" });
  if (o.weightBy !== "examples" || o.levelRule) throw new MixOptionError("strategy", "streaming per-question mixing supports example weights without a level rule; load the corpus for the others");
  const tok: Tokenizer = options.tokenizer ?? defaultTokenizer;
  const policy = options.onError ?? "fail";
  const report = options.report ?? new ReadReport();
  const files = [...new Set(sources.map((s) => s.path))];
  const byFile = new Map(files.map((f) => [f, sources.filter((s) => s.path === f).map((s) => s.name)]));
  // The smallest file is the cheapest to count; aligned files have the same number of records.
  const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
  const n = await countRecords(files[sizes.indexOf(Math.min(...sizes))]!);
  const drawer = new QuestionDrawer(o.weights, n, makeRng(o.seed, "per-question", "all"), o.draw, o.missing);
  const k = o.sources.length;
  const every = options.tokenSampleEvery ?? Math.max(1, Math.ceil(n / 2_000));
  const cursors = files.map((f) => new LineCursor(f));
  const writer = await ExportWriter.create(out.dir, out);
  // Only counts and a token sample are kept per example, so memory does not grow with the input.
  const counts = new Array<number>(o.sources.length).fill(0);
  let written = 0;
  const sampleQ: number[] = [];
  const sampleS: number[] = [];
  const sampled: number[] = [];
  const missing = new Array<number>(k).fill(0);
  let noResponse = 0;
  let q = 0;
  const fileOf = o.sources.map((name) => files.indexOf(sources.find((x) => x.name === name)!.path));
  const paperName = files.map((f) => byFile.get(f)![0]!);
  const validateAll = (options.validate ?? "all") === "all";
  const needIds = out.format === "jsonl";
  const nf = files.length;
  // Per-line state, reused across lines (the loop runs once per question on inputs of any size).
  const items: Array<RawLine | null> = new Array(nf).fill(null);
  const parsed: Array<LineRecord | undefined> = new Array(nf).fill(undefined);
  let badLine = -1;
  const parse = (f: number): LineRecord => {
    let l = parsed[f];
    if (!l) {
      l = parsed[f] = parseLine(items[f]!, paperName[f]!);
      if (!l.rec && badLine < 0) {
        badLine = f;
        if (policy === "fail") throw new CorpusError({ file: files[f]!, line: l.line, field: l.field! }, l.reason!);
        report.addSkipped({ file: files[f]!, line: l.line, field: l.field!, reason: l.reason! });
      }
    }
    return l;
  };
  const has = (s: number): boolean => parse(fileOf[s]!).rec?.responses[o.sources[s]!] !== undefined;
  const doneFiles: string[] = [];
  const doneParts: LineRecord[] = [];
  try {
    for (;;) {
      let ended = 0;
      for (let f = 0; f < nf; f++) {
        const x = cursors[f]!.next();
        const item = x instanceof Promise ? await x : x;
        items[f] = item;
        parsed[f] = undefined;
        if (item === null) ended++;
      }
      if (ended === nf) break;
      if (ended > 0) {
        const f = items.findIndex((x) => x === null);
        throw new NotAlignedError({ file: files[f]!, line: 0, field: "" }, `has fewer records than ${files[items.findIndex((x) => x !== null)]}; the files are not aligned`);
      }
      report.lines += nf;
      badLine = -1;
      // Lines are parsed on demand: all of them (validate "all"), or only those whose response is used.
      if (validateAll) for (let f = 0; f < nf; f++) parse(f);
      if (badLine >= 0) continue;
      let any = false;
      for (let s = 0; s < k; s++) {
        if (parsed[fileOf[s]!] === undefined) any = true;
        else if (!has(s)) missing[s]!++;
        else any = true;
      }
      if (!any) noResponse++;
      const s = drawer.pick(has);
      if (badLine >= 0) continue;
      doneFiles.length = 0;
      doneParts.length = 0;
      for (let f = 0; f < nf; f++) {
        const l = parsed[f];
        if (l) {
          doneFiles.push(files[f]!);
          doneParts.push(l);
        }
      }
      const rec = joinLine(doneFiles, doneParts, byFile, needIds);
      // Unparsed lines must still be the same question, in a well-formed line: valid UTF-8, an object,
      // and the JSON-escaped question among its bytes (a full parse only when that fails).
      if (doneParts.length < nf) {
        // Quotes included: the whole string value must match, not a prefix of a longer question.
        const escaped = JSON.stringify(rec.question);
        for (let f = 0; f < nf; f++) {
          if (parsed[f]) continue;
          const b = items[f]!.bytes;
          const last = b[b.length - 1] === 13 ? b.length - 2 : b.length - 1;
          if (b[0] === 0x7b && b[last] === 0x7d && isUtf8(b) && b.includes(escaped, 0, "utf8")) continue;
          const l = parse(f);
          if (!l.rec) break;
          if (normaliseQuestion(l.rec.question) !== normaliseQuestion(rec.question))
            throw new NotAlignedError({ file: files[f]!, line: l.line, field: "question" }, `differs from ${doneFiles[0]}:${doneParts[0]!.line}; the files do not list the same questions in the same order (join them in memory instead)`);
        }
        if (badLine >= 0) continue;
      }
      report.records++;
      if (s >= 0) {
        const e = toExample(rec, o.sources[s]!);
        const pending = writer.write(e);
        if (pending) await pending;
        if (written % every === 0) {
          sampled.push(tok.count(e.response));
          sampleQ.push(q);
          sampleS.push(s);
        }
        counts[s]!++;
        written++;
      }
      q++;
    }
    const absent = o.sources.findIndex((_, s) => missing[s] === q);
    if (q > 0 && absent >= 0) throw new MixOptionError("sources", `no question has a "${o.sources[absent]}" response`);
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const outputs = await writer.close();
  const plan: Plan = { q: Int32Array.from(sampleQ), s: Int32Array.from(sampleS), counts, dropped: drawer.dropped, noResponse, fallbacksFrom: drawer.fallbacksFrom, missing };
  const info: Record<string, SourceFileInfo> = {};
  files.forEach((f, i) => {
    const sha256 = cursors[i]!.hash.digest("hex");
    for (const name of byFile.get(f)!) info[name] = { name, path: f, sha256, bytes: cursors[i]!.bytes };
  });
  // Token statistics from a deterministic sample: the examples numbered 0, every, 2*every, ...
  const manifest = buildManifest(o, plan, q, tok, (i) => sampled[i]!, info);
  if (every > 1) manifest.tokens = { ...manifest.tokens, sampleEvery: every, total: Math.round(manifest.tokens.total * every) };
  manifest.outputs = outputs;
  return { manifest, outputs };
}
