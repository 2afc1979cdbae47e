/**
 * Per-question mixing over files too large for memory. The source files must list the same questions
 * in the same order (as the paper's released single-source files and anything `synth` writes do);
 * they are read in lockstep, one line each, so memory stays flat whatever their size. The result is
 * byte-identical to `mix()` over the joined corpus with the same options: the same planner draws
 * (StreamingPlanner), the same exporter writes (ExportWriter), and lines the byte-level fast path
 * (fastline.ts) is sure of are spliced, the others parsed as `mix()` would.
 */
import { stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { CorpusError } from "../data/errors.js";
import { checkSourceRecord, decodeRawLine, parseJsonLine, readLineSpans, ReadReport, openByteStream, sourceAsCorpus, type ErrorPolicy, type LineSpans, type RawLine } from "../data/jsonl.js";
import { extractBoxed, normaliseQuestion, questionId } from "../data/corpus.js";
import type { CorpusRecord } from "../data/record.js";
import { defaultTokenizer, type Tokenizer } from "../tokenize/token-counter.js";
import { resolveMixOptions, MixOptionError, type MixOptions, type ResolvedMixOptions } from "./options.js";
import { StreamingPlanner } from "./plan.js";
import { buildManifest, toExample, type MixManifest, type SourceFileInfo } from "./mix.js";
import { ExportWriter, resolveTemplate, type ExportOptions, type OutputFile } from "./export.js";
import { appendSpliced, fastLayout, PaperLineScanner, type FastLayout } from "./fastline.js";
import { HASH_THREAD_MIN_BYTES, HashThread, localDigest, type Digest } from "./digest.js";

export interface SourceFile {
  name: string;
  path: string;
}

/** Raised when source files do not list the same questions in the same order. */
export class NotAlignedError extends CorpusError {}

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
  const r = parseJsonLine(decodeRawLine(raw), checkSourceRecord);
  return r.ok ? { line: r.line, rec: sourceAsCorpus(r.value, paperName) } : { line: r.line, field: r.field, reason: r.reason };
}

/**
 * The non-blank lines of a file, pulled one at a time but read in ~1 MB chunks (few awaits per line)
 * and kept as offsets into the chunk: `buf[start, end)` is the current line, `raw()` a view of it.
 */
class LineCursor {
  private spans: LineSpans | undefined;
  private i = 0;
  private readonly it: AsyncIterator<LineSpans>;
  readonly hash: Digest;
  bytes = 0;
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  line = 0;
  /** The current line is known to be valid UTF-8. */
  utf8 = false;
  private rawLine: RawLine | undefined;
  constructor(path: string, hashes?: HashThread) {
    this.hash = hashes ? hashes.digest() : localDigest();
    this.it = readLineSpans(path, {
      onRawChunk: (c) => {
        this.hash.update(c);
        this.bytes += c.length;
      },
    })[Symbol.asyncIterator]();
  }
  /** Moves to the next non-blank line; false at the end. Synchronous while the chunk lasts. */
  next(): boolean | Promise<boolean> {
    const sp = this.spans;
    if (sp) {
      const { buf, starts, ends, count } = sp;
      while (this.i < count) {
        const i = this.i++;
        const a = starts[i]!;
        const z = ends[i]!;
        if (isBlankRange(buf, a, z)) continue;
        this.buf = buf;
        this.start = a;
        this.end = z;
        this.line = sp.firstLine + i;
        this.utf8 = sp.utf8;
        this.rawLine = undefined;
        return true;
      }
    }
    return this.refill();
  }
  private async refill(): Promise<boolean> {
    for (;;) {
      const wait = this.hash.backlog();
      if (wait) await wait;
      const r = await this.it.next();
      if (r.done) {
        this.spans = undefined;
        return false;
      }
      this.spans = r.value;
      this.i = 0;
      const x = this.next();
      if (x === true) return true;
      if (x !== false) return x;
    }
  }
  /** Stops reading (closes the file) before the end. */
  async close(): Promise<void> {
    await this.it.return?.();
  }

  /** The current line as a RawLine (a view, made on demand). */
  raw(): RawLine {
    return (this.rawLine ??= { line: this.line, bytes: this.buf.subarray(this.start, this.end) });
  }
}

function isBlankRange(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
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
  /**
   * 1 (default): everything on the calling thread. 2: inputs of 64 MB or more, and the output, are
   * hashed (sha256, for the manifest) on a worker thread, from copies of the chunks. On the shared
   * 2-core machine of the benchmark that was slower than one thread (the copies cost about what the
   * hashing saves, and the worker competes for the same cores); it may help where a core is idle.
   */
  threads?: number;
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


/** The source files read in lockstep: one line of each at a time, with the sources each file provides. */
class LockstepFiles {
  readonly files: string[];
  /** Source names per file (a paper-form line provides its file's first name). */
  readonly namesOf: string[][];
  readonly byFile: Map<string, string[]>;
  readonly cursors: LineCursor[];
  constructor(sources: SourceFile[], hashes: HashThread | undefined) {
    this.files = [...new Set(sources.map((s) => s.path))];
    this.namesOf = this.files.map((f) => sources.filter((s) => s.path === f).map((s) => s.name));
    this.byFile = new Map(this.files.map((f, i) => [f, this.namesOf[i]!]));
    this.cursors = this.files.map((f) => new LineCursor(f, hashes));
  }

  /** Moves every file to its next line; false when all have ended (an error when only some have). */
  async next(): Promise<boolean> {
    let ended = -1;
    let alive = -1;
    for (let f = 0; f < this.cursors.length; f++) {
      const x = this.cursors[f]!.next();
      const ok = x === true || (x !== false && (await x));
      if (ok) alive = f;
      else ended = f;
    }
    if (ended < 0) return true;
    if (alive < 0) return false;
    throw new NotAlignedError({ file: this.files[ended]!, line: 0, field: "" }, `has fewer records than ${this.files[alive]}; the files are not aligned`);
  }

  /** Closes the files (after an error: reading stopped before their end). */
  async close(): Promise<void> {
    await Promise.all(this.cursors.map((c) => c.close().catch(() => undefined)));
  }

  /** sha256 and size of each source's file, for the manifest (after the last line). */
  async info(): Promise<Record<string, SourceFileInfo>> {
    const info: Record<string, SourceFileInfo> = {};
    for (let i = 0; i < this.files.length; i++) {
      const sha256 = await this.cursors[i]!.hash.hex();
      for (const name of this.namesOf[i]!) info[name] = { name, path: this.files[i]!, sha256, bytes: this.cursors[i]!.bytes };
    }
    return info;
  }
}

/** Every `every`-th example's token count, with its question and source (the manifest's sample). */
class TokenSample {
  readonly q: number[] = [];
  readonly s: number[] = [];
  readonly tokens: number[] = [];
  private written = 0;
  constructor(readonly every: number) {}
  /** True when the next example is sampled (then call `add`). */
  due(): boolean {
    return this.written++ % this.every === 0;
  }
  add(q: number, s: number, tokens: number): void {
    this.q.push(q);
    this.s.push(s);
    this.tokens.push(tokens);
  }
}

/** The per-question loop over aligned files: one `step` per question, fast path first. */
class StreamMix {
  private readonly nf: number;
  private readonly fileOf: number[];
  private readonly paperName: string[];
  private readonly parsed: Array<LineRecord | undefined>;
  private badLine = -1;
  private readonly scanner = new PaperLineScanner();
  private readonly fastHas: boolean[];
  private readonly sQ0: Int32Array;
  private readonly sQ1: Int32Array;
  private readonly sR0: Int32Array;
  private readonly sR1: Int32Array;
  private readonly template: string;
  private readonly hasFast = (s: number): boolean => this.fastHas[s]!;
  private readonly has = (s: number): boolean => this.parse(this.fileOf[s]!).rec?.responses[this.o.sources[s]!] !== undefined;
  private readonly known = (s: number): boolean => this.parsed[this.fileOf[s]!] !== undefined;
  private readonly doneFiles: string[] = [];
  private readonly doneParts: LineRecord[] = [];

  constructor(
    private readonly o: ResolvedMixOptions,
    sources: SourceFile[],
    private readonly input: LockstepFiles,
    private readonly planner: StreamingPlanner,
    private readonly writer: ExportWriter,
    private readonly out: ExportOptions,
    private readonly layout: FastLayout | undefined,
    private readonly sample: TokenSample,
    private readonly tok: Tokenizer,
    private readonly policy: ErrorPolicy,
    private readonly report: ReadReport,
    private readonly validateAll: boolean,
  ) {
    const files = input.files;
    this.nf = files.length;
    this.fileOf = o.sources.map((name) => files.indexOf(sources.find((x) => x.name === name)!.path));
    this.paperName = input.namesOf.map((names) => names[0]!);
    this.parsed = new Array(this.nf).fill(undefined);
    // A paper-form line (all the fast path takes) provides exactly its file's first source name.
    this.fastHas = o.sources.map((name, s) => this.paperName[this.fileOf[s]!] === name);
    this.sQ0 = new Int32Array(this.nf);
    this.sQ1 = new Int32Array(this.nf);
    this.sR0 = new Int32Array(this.nf);
    this.sR1 = new Int32Array(this.nf);
    this.template = resolveTemplate(out.template);
  }

  /** The current line of file f, parsed once; a bad line is reported (or thrown) and marks the question bad. */
  private parse(f: number): LineRecord {
    let l = this.parsed[f];
    if (!l) {
      l = this.parsed[f] = parseLine(this.input.cursors[f]!.raw(), this.paperName[f]!);
      if (!l.rec && this.badLine < 0) {
        this.badLine = f;
        const file = this.input.files[f]!;
        if (this.policy === "fail") throw new CorpusError({ file, line: l.line, field: l.field! }, l.reason!);
        this.report.addSkipped({ file, line: l.line, field: l.field!, reason: l.reason! });
      }
    }
    return l;
  }

  /** Every file's line scanned by the fast path, all the same question byte for byte. */
  private scanAll(): boolean {
    const cursors = this.input.cursors;
    const sc = this.scanner;
    for (let f = 0; f < this.nf; f++) {
      const c = cursors[f]!;
      if (!sc.scan(c.buf, c.start, c.end, c.utf8)) return false;
      this.sQ0[f] = sc.q0;
      this.sQ1[f] = sc.q1;
      this.sR0[f] = sc.r0;
      this.sR1[f] = sc.r1;
      // The same question, byte for byte (anything else is decided by the full path).
      if (f > 0 && (sc.q1 - sc.q0 !== this.sQ1[0]! - this.sQ0[0]! || c.buf.compare(cursors[0]!.buf, this.sQ0[0]!, this.sQ1[0]!, sc.q0, sc.q1) !== 0)) return false;
    }
    return true;
  }

  /** Mixes the current lines (one question); a promise when the writer had to flush. */
  step(): Promise<void> | undefined {
    this.report.lines += this.nf;
    for (let f = 0; f < this.nf; f++) this.parsed[f] = undefined;
    if (this.layout && this.scanAll()) return this.fastStep(this.layout);
    return this.fullStep();
  }

  private fastStep(layout: FastLayout): Promise<void> | undefined {
    const s = this.planner.draw(this.hasFast);
    this.report.records++;
    const q = this.planner.questions;
    this.planner.take(s);
    if (s < 0) return undefined;
    const f = this.fileOf[s]!;
    const cursors = this.input.cursors;
    const rb = cursors[f]!.buf;
    const ra = this.sR0[f]! + 1;
    const rz = this.sR1[f]! - 1;
    if (this.sample.due()) this.sample.add(q, s, this.tok.count(JSON.parse(rb.toString("utf8", ra - 1, rz + 1)) as string));
    return appendSpliced(this.writer, layout, cursors[0]!.buf, this.sQ0[0]! + 1, this.sQ1[0]! - 1, rb, ra, rz);
  }

  private fullStep(): Promise<void> | undefined {
    const nf = this.nf;
    this.badLine = -1;
    // Lines are parsed on demand: all of them (validate "all"), or only those whose response is used.
    if (this.validateAll) for (let f = 0; f < nf; f++) this.parse(f);
    if (this.badLine >= 0) return undefined;
    const s = this.planner.draw(this.has, this.known);
    if (this.badLine >= 0) return undefined;
    const files = this.input.files;
    const doneFiles = this.doneFiles;
    const doneParts = this.doneParts;
    doneFiles.length = 0;
    doneParts.length = 0;
    for (let f = 0; f < nf; f++) {
      const l = this.parsed[f];
      if (l) {
        doneFiles.push(files[f]!);
        doneParts.push(l);
      }
    }
    const rec = joinLine(doneFiles, doneParts, this.input.byFile, this.out.format === "jsonl");
    // Unparsed lines must still be the same question, in a well-formed line: valid UTF-8, an object,
    // and the JSON-escaped question among its bytes (a full parse only when that fails).
    if (doneParts.length < nf) {
      // Quotes included: the whole string value must match, not a prefix of a longer question.
      const escaped = JSON.stringify(rec.question);
      for (let f = 0; f < nf; f++) {
        if (this.parsed[f]) continue;
        const b = this.input.cursors[f]!.raw().bytes;
        const last = b[b.length - 1] === 13 ? b.length - 2 : b.length - 1;
        if (b[0] === 0x7b && b[last] === 0x7d && isUtf8(b) && b.includes(escaped, 0, "utf8")) continue;
        const l = this.parse(f);
        if (!l.rec) break;
        if (normaliseQuestion(l.rec.question) !== normaliseQuestion(rec.question))
          throw new NotAlignedError({ file: files[f]!, line: l.line, field: "question" }, `differs from ${doneFiles[0]}:${doneParts[0]!.line}; the files do not list the same questions in the same order (join them in memory instead)`);
      }
      if (this.badLine >= 0) return undefined;
    }
    this.report.records++;
    const q = this.planner.questions;
    this.planner.take(s);
    if (s < 0) return undefined;
    const e = toExample(rec, this.o.sources[s]!);
    if (this.sample.due()) this.sample.add(q, s, this.tok.count(e.response));
    return this.writer.write(e);
  }
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
  const tok: Tokenizer = options.tokenizer ?? defaultTokenizer;
  const report = options.report ?? new ReadReport();
  const paths = [...new Set(sources.map((s) => s.path))];
  // The smallest file is the cheapest to count; aligned files have the same number of records.
  const sizes = await Promise.all(paths.map(async (f) => (await stat(f)).size));
  const n = await countRecords(paths[sizes.indexOf(Math.min(...sizes))]!);
  const planner = new StreamingPlanner(o, n);
  const sample = new TokenSample(options.tokenSampleEvery ?? Math.max(1, Math.ceil(n / 2_000)));
  const hashes = sizes.reduce((x, y) => x + y, 0) >= HASH_THREAD_MIN_BYTES && (options.threads ?? 1) > 1 ? new HashThread() : undefined;
  const input = new LockstepFiles(sources, hashes);
  const outHash: Digest = hashes?.digest() ?? localDigest();
  const writer = await ExportWriter.create(out.dir, out, outHash).catch(async (e: unknown) => {
    await hashes?.close();
    throw e;
  });
  const layout = fastLayout(out.format, resolveTemplate(out.template), out.system);
  const loop = new StreamMix(o, sources, input, planner, writer, out, layout, sample, tok, options.onError ?? "fail", report, (options.validate ?? "all") === "all");
  try {
    while (await input.next()) {
      const pending = loop.step();
      if (pending) await pending;
    }
    const absent = planner.absent();
    if (absent >= 0) throw new MixOptionError("sources", `no question has a "${o.sources[absent]}" response`);
  } catch (e) {
    await writer.abort();
    await input.close();
    await hashes?.close();
    throw e;
  }
  let outputs: OutputFile[];
  let info: Record<string, SourceFileInfo>;
  try {
    outputs = await writer.close();
    info = await input.info();
  } finally {
    await hashes?.close();
  }
  // Token statistics from a deterministic sample: the examples numbered 0, every, 2*every, ...
  const manifest = buildManifest(o, planner.plan(sample.q, sample.s), planner.questions, tok, (i) => sample.tokens[i]!, info);
  const every = sample.every;
  if (every > 1) manifest.tokens = { ...manifest.tokens, sampleEvery: every, total: Math.round(manifest.tokens.total * every) };
  manifest.outputs = outputs;
  return { manifest, outputs };
}
