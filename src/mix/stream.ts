/**
 * Per-question mixing over files too large for memory. The source files must list the same questions
 * in the same order (as the paper's released single-source files and anything `synth` writes do);
 * they are read in lockstep, one line each, so memory stays flat whatever their size. The result is
 * byte-identical to `mix()` over the joined corpus with the same options.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { CorpusError } from "../data/errors.js";
import { readLines, ReadReport, openByteStream, type ErrorPolicy } from "../data/jsonl.js";
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
  let n = 0;
  let lineHasContent = false;
  for await (const chunk of openByteStream(path)) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 10) {
        if (lineHasContent) n++;
        lineHasContent = false;
      } else if (!lineHasContent && b !== 32 && b !== 13 && b !== 9) lineHasContent = true;
    }
  }
  if (lineHasContent) n++;
  return n;
}

type LineRecord = { line: number; rec?: CorpusRecord; field?: string; reason?: string };

/** Records of one file, one per non-blank line, as CorpusRecords (paper-form lines become `{[name]: solution}`). */
async function* fileRecords(path: string, paperName: string): AsyncGenerator<LineRecord> {
  for await (const item of readLines(path)) {
    if (item.error !== undefined) {
      yield { line: item.line, field: "", reason: item.error };
      continue;
    }
    if (item.text.trim().length === 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(item.text);
    } catch (e) {
      yield { line: item.line, field: "", reason: `invalid JSON (${(e as Error).message})` };
      continue;
    }
    if (recordKind(v) === "paper") {
      const p = checkPaperRecord(v);
      if (!p.ok) {
        yield { line: item.line, field: p.field, reason: p.reason };
        continue;
      }
      const r = p.value;
      const rec: CorpusRecord = { id: r.id ?? "", question: r.problem, answer: r.answer ?? "", responses: { [paperName]: r.solution } };
      if (r.level !== undefined) rec.level = r.level;
      if (r.subject !== undefined) rec.subject = r.subject;
      yield { line: item.line, rec };
    } else {
      const c = checkCorpusRecord(v);
      if (!c.ok) yield { line: item.line, field: c.field, reason: c.reason };
      else yield { line: item.line, rec: c.value };
    }
  }
}

export interface StreamMixOptions extends MixOptions {
  onError?: ErrorPolicy;
  report?: ReadReport;
  /** Token statistics from every `tokenSampleEvery`-th example (default: about 50,000 samples). */
  tokenSampleEvery?: number;
}

/** Joins one line of each file into a record (files in the order given; the first names the question). */
function joinLine(files: string[], parts: LineRecord[], byFile: Map<string, string[]>): CorpusRecord {
  const first = parts[0]!.rec!;
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
  if (!id) id = questionId(first.question);
  if (!answer) {
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
  const every = options.tokenSampleEvery ?? Math.max(1, Math.ceil(n / 50_000));
  const iters = files.map((f) => fileRecords(f, byFile.get(f)![0]!)[Symbol.asyncIterator]());
  const writer = await ExportWriter.create(out.dir, out);
  const planQ: number[] = [];
  const planS: number[] = [];
  const sampled: number[] = [];
  const missing = new Array<number>(k).fill(0);
  let noResponse = 0;
  let q = 0;
  try {
    for (;;) {
      const parts = await Promise.all(iters.map((it) => it.next()));
      const ended = parts.filter((p) => p.done).length;
      if (ended === parts.length) break;
      if (ended > 0) {
        const f = parts.findIndex((p) => p.done);
        throw new NotAlignedError({ file: files[f]!, line: 0, field: "" }, `has fewer records than ${files[parts.findIndex((p) => !p.done)]}; the files are not aligned`);
      }
      const lines = parts.map((p) => p.value as LineRecord);
      report.lines += lines.length;
      const bad = lines.findIndex((l) => !l.rec);
      if (bad >= 0) {
        const l = lines[bad]!;
        if (policy === "fail") throw new CorpusError({ file: files[bad]!, line: l.line, field: l.field! }, l.reason!);
        report.addSkipped({ file: files[bad]!, line: l.line, field: l.field!, reason: l.reason! });
        continue;
      }
      report.records++;
      const rec = joinLine(files, lines, byFile);
      const has = (s: number): boolean => rec.responses[o.sources[s]!] !== undefined;
      let any = false;
      for (let s = 0; s < k; s++) {
        if (!has(s)) missing[s]!++;
        else any = true;
      }
      if (!any) noResponse++;
      const s = drawer.pick(has);
      if (s >= 0) {
        const e = toExample(rec, o.sources[s]!);
        await writer.write(e);
        if (planQ.length % every === 0) sampled.push(tok.count(e.response));
        planQ.push(q);
        planS.push(s);
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
  const counts = new Array<number>(k).fill(0);
  for (const s of planS) counts[s]!++;
  const plan: Plan = { q: Int32Array.from(planQ), s: Int32Array.from(planS), counts, dropped: drawer.dropped, noResponse, fallbacksFrom: drawer.fallbacksFrom, missing };
  const info: Record<string, SourceFileInfo> = {};
  for (const f of files) {
    const d = await fileDigest(f);
    for (const name of byFile.get(f)!) info[name] = { name, path: f, sha256: d.sha256, bytes: d.bytes };
  }
  // Token statistics from a deterministic sample: example i is sampled when i % every === 0.
  const sampledPlan: Plan = { ...plan, q: plan.q.filter((_, i) => i % every === 0), s: plan.s.filter((_, i) => i % every === 0) };
  const manifest = buildManifest(o, plan, q, tok, () => 0, info);
  const tokenPart = buildManifest(o, sampledPlan, q, tok, (i) => sampled[i]!, info).tokens;
  manifest.tokens = every === 1 ? tokenPart : { ...tokenPart, sampleEvery: every, total: Math.round(tokenPart.total * every) };
  manifest.outputs = outputs;
  return { manifest, outputs };
}
