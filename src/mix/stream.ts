/**
 * Per-question mixing over files too large for memory. The source files must list the same questions
 * in the same order (as the paper's released single-source files and anything `synth` writes do);
 * they are read in lockstep, one line each, so memory stays flat whatever their size. The result is
 * byte-identical to `mix()` over the joined corpus with the same options.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, join } from "node:path";
import { isUtf8 } from "node:buffer";
import { Worker } from "node:worker_threads";
import { CorpusError } from "../data/errors.js";
import { decodeRawLine, readLineSpans, ReadReport, openByteStream, type ErrorPolicy, type LineSpans, type RawLine } from "../data/jsonl.js";
import { checkCorpusRecord, checkPaperRecord, recordKind } from "../data/validate.js";
import { extractBoxed, normaliseQuestion, questionId } from "../data/corpus.js";
import { makeRng } from "../data/rng.js";
import type { CorpusRecord } from "../data/record.js";
import { defaultTokenizer, type Tokenizer } from "../tokenize/tokenizer.js";
import { resolveMixOptions, MixOptionError, type MixOptions } from "./options.js";
import { QuestionDrawer, type Plan } from "./plan.js";
import { buildManifest, toExample, type MixManifest, type SourceFileInfo } from "./mix.js";
import { checkExportOptions, formatExample, mergeDatasetInfo, resolveTemplate, type ExportFormat, type ExportOptions, type OutputFile } from "./export.js";

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

/** A sha256 fed chunk by chunk, here or on the hashing thread. */
interface Digest {
  update(chunk: Buffer): void;
  /** A promise while too many bytes wait to be hashed (await it before reading more). */
  backlog(): Promise<void> | undefined;
  hex(): Promise<string>;
}

function localDigest(): Digest {
  const h = createHash("sha256");
  return { update: (c) => void h.update(c), backlog: () => undefined, hex: async () => h.digest("hex") };
}

/** Inputs at least this large are hashed on a second thread (starting one costs ~30 ms). */
const HASH_THREAD_MIN_BYTES = 64 << 20;
/** The hashing thread gets the bytes in a fixed pool of buffers (32 x 1 MB: ~100 ms of reading at full speed, so a briefly descheduled thread does not stall the reader) that go back and forth. */
const HASH_SLOT = 1 << 20;
const HASH_SLOTS = 32;
/** Reading (or writing) waits until this many buffers are free, so at most the pool is in flight. */
const HASH_FREE_MIN = 8;

const HASH_WORKER = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  let h = hashes.get(m.id);
  if (!h) hashes.set(m.id, (h = createHash("sha256")));
  if (m.data) {
    h.update(new Uint8Array(m.data, 0, m.len));
    parentPort.postMessage({ back: m.data }, [m.data]);
  } else {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest("hex") });
  }
});
`;

/**
 * sha256 of the input files (and the output) on a worker thread, from copies of the chunks the main
 * thread already read (no second read). The copies go in a fixed pool of buffers moved (not copied)
 * to the worker and back, so memory stays bounded; reading waits while the pool is in use.
 */
class HashThread {
  private readonly worker = new Worker(HASH_WORKER, { eval: true });
  private next = 0;
  private readonly free: ArrayBuffer[] = [];
  private made = 0;
  private waiting: Array<() => void> = [];
  private readonly results = new Map<number, (hex: string) => void>();
  private failed: Error | undefined;
  constructor() {
    this.worker.unref();
    this.worker.on("message", (m: { id?: number; back?: ArrayBuffer; hex?: string }) => {
      if (m.back) {
        if (m.back.byteLength === HASH_SLOT) this.free.push(m.back);
        if (this.available() >= HASH_FREE_MIN) for (const w of this.waiting.splice(0)) w();
      } else this.results.get(m.id!)?.(m.hex!);
    });
    this.worker.on("error", (e) => {
      this.failed = e;
      for (const w of this.waiting.splice(0)) w();
    });
  }
  private available(): number {
    return this.free.length + HASH_SLOTS - this.made;
  }
  private take(n: number): ArrayBuffer {
    const b = this.free.pop();
    if (b) return b;
    if (this.made < HASH_SLOTS) {
      this.made++;
      return new ArrayBuffer(HASH_SLOT);
    }
    return new ArrayBuffer(n); // the pool is in use (only if a caller did not wait): a one-off buffer
  }
  digest(): Digest {
    const id = this.next++;
    return {
      update: (c) => {
        for (let off = 0; off < c.length; off += HASH_SLOT) {
          const piece = c.subarray(off, Math.min(c.length, off + HASH_SLOT));
          const b = this.take(piece.length);
          new Uint8Array(b, 0, piece.length).set(piece);
          this.worker.postMessage({ id, data: b, len: piece.length }, [b]);
        }
      },
      backlog: () => {
        if (this.failed) throw this.failed;
        if (this.available() >= HASH_FREE_MIN) return undefined;
        return this.held(new Promise<void>((resolve) => this.waiting.push(resolve)));
      },
      hex: () => {
        if (this.failed) return Promise.reject(this.failed);
        return this.held(
          new Promise<string>((resolve, reject) => {
            this.results.set(id, resolve);
            this.worker.once("error", reject);
            this.worker.postMessage({ id });
          }),
        );
      },
    };
  }
  /** The worker is unref'd (a forgotten one cannot keep the process alive) except while awaited. */
  private refs = 0;
  private held<T>(p: Promise<T>): Promise<T> {
    if (this.refs++ === 0) this.worker.ref();
    return p.finally(() => {
      if (--this.refs === 0) this.worker.unref();
    });
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
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


// ---------------------------------------------------------------------------------------------
// Fast path. Most lines of a paper-form file are `{"problem": "...", "solution": "..."}` with string
// values whose JSON escapes are the ones JSON.stringify writes. For such lines the output line is the
// format's fixed bytes around the raw string bytes of the question and the response, which is exactly
// what parsing and re-serialising gives; nothing is decoded. Any line the scanner is not sure of
// (other escapes, non-string values, keys with meaning, bad JSON, invalid UTF-8, blank-looking text)
// takes the full parse-and-validate path, which also gives the error message.

/** Byte ranges (quotes included) of the last scanned line's problem and solution strings. */
let scanQ0 = 0;
let scanQ1 = 0;
let scanR0 = 0;
let scanR1 = 0;

const KEY_PROBLEM = Buffer.from("problem");
const KEY_SOLUTION = Buffer.from("solution");
/** Keys whose presence changes how the line is read (record kind, id, level): full parse. */
const KEYS_SLOW = ["question", "responses", "id", "level"].map((k) => Buffer.from(k));

function keyIs(b: Buffer, start: number, end: number, key: Buffer): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (b[start + i] !== key[i]) return false;
  return true;
}

/** A non-space ASCII character among a string's raw bytes (so the decoded text is not blank). */
function rawHasText(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 92) i++; // an escape: may be whitespace (\n, \t); the full path decides if nothing else is text
    else if (c > 32 && c < 127) return true;
  }
  return false;
}

/**
 * Scans one line as a canonical paper-form record; true when it certainly is a valid one (the same
 * that JSON.parse + checkPaperRecord would accept) and its problem and solution are byte-exact
 * JSON.stringify output. Sets scanQ0/Q1/R0/R1. False means: decide by the full path.
 */
/** Copies src[a, z) to dst at `at`; returns the new end. Short runs by hand (Buffer.copy has a fixed cost). */
function copyBytes(dst: Buffer, at: number, src: Buffer, a: number, z: number): number {
  if (z - a > 96) return at + src.copy(dst, at, a, z);
  for (let i = a; i < z; i++) dst[at++] = src[i]!;
  return at;
}

let wordsOf: ArrayBufferLike | undefined;
let W: Int32Array<ArrayBufferLike> = new Int32Array(0);

function scanPaperLine(b: Buffer, from: number, n: number, utf8Known: boolean): boolean {
  if (b.buffer !== wordsOf) {
    wordsOf = b.buffer;
    W = new Int32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
  }
  const base = b.byteOffset;
  let i = from;
  let c = 0;
  let hi = 0; // OR of all string bytes: bit 7 set when UTF-8 must be checked
  while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
  if (c !== 123 || i >= n) return false;
  i++;
  let q0 = -1;
  let r0 = -1;
  let q1 = 0;
  let r1 = 0;
  for (;;) {
    while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
    if (i >= n || c !== 34) return false;
    // Key: plain bytes only.
    const k0 = ++i;
    while (i < n && (c = b[i]!) !== 34) {
      if (c === 92 || c < 32) return false;
      hi |= c;
      i++;
    }
    if (i >= n) return false;
    const k1 = i++;
    let which = 0;
    if (keyIs(b, k0, k1, KEY_PROBLEM)) which = 1;
    else if (keyIs(b, k0, k1, KEY_SOLUTION)) which = 2;
    else for (const k of KEYS_SLOW) if (keyIs(b, k0, k1, k)) return false;
    while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
    if (i >= n || c !== 58) return false;
    i++;
    while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
    if (i >= n || c !== 34) return false;
    // String value: the escapes JSON.stringify writes, no raw control characters.
    const v0 = i++;
    for (;;) {
      // Four bytes at a time (aligned words) while none is a quote, a backslash or a control byte.
      while (((base + i) & 3) === 0 && i + 4 <= n) {
        const w = W[(base + i) >>> 2]!;
        const xq = w ^ 0x22222222;
        const xb = w ^ 0x5c5c5c5c;
        if (((((xq - 0x01010101) | 0) & ~xq) | (((xb - 0x01010101) | 0) & ~xb) | (((w - 0x20202020) | 0) & ~w)) & 0x80808080) break;
        hi |= w;
        i += 4;
      }
      if (i >= n) return false;
      c = b[i]!;
      if (c === 34) break;
      if (c === 92) {
        const e = b[i + 1];
        if (e === 34 || e === 92 || e === 110 || e === 116 || e === 114 || e === 98 || e === 102) i += 2;
        else return false;
      } else if (c < 32) return false;
      else {
        hi |= c;
        i++;
      }
    }
    const v1 = ++i;
    if (which === 1) {
      if (q0 >= 0) return false;
      q0 = v0;
      q1 = v1;
    } else if (which === 2) {
      if (r0 >= 0) return false;
      r0 = v0;
      r1 = v1;
    }
    while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
    if (i >= n) return false;
    i++;
    if (c === 125) break;
    if (c !== 44) return false;
  }
  while (i < n && ((c = b[i]!) === 32 || c === 9 || c === 13 || c === 10)) i++;
  if (i < n || q0 < 0 || r0 < 0) return false;
  if (!rawHasText(b, q0 + 1, q1 - 1) || !rawHasText(b, r0 + 1, r1 - 1)) return false;
  if (hi & 0x80808080 && !utf8Known && !isUtf8(b.subarray(from, n))) return false;
  scanQ0 = q0;
  scanQ1 = q1;
  scanR0 = r0;
  scanR1 = r1;
  return true;
}

/**
 * An export line as fixed byte pieces around slots for the question (0) and the response (1)
 * contents, JSON-escaped already: found by formatting an example with marker strings. Undefined for
 * formats that need more than the question and the response (jsonl).
 */
export interface FastLayout {
  pieces: Buffer[];
  slots: number[];
}

export function fastLayout(format: ExportFormat, template: string, system?: string): FastLayout | undefined {
  if (format === "jsonl") return undefined;
  const marker = (x: string): string => `\u0001${x}\u0001`;
  const text = formatExample({ id: "", question: marker("Q"), answer: "", source: "", response: marker("R") }, format, template, system) + "\n";
  const parts = text.split(/\\u0001([QR])\\u0001/);
  const pieces: Buffer[] = [];
  const slots: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) {
      if (parts[i]!.includes("\\u0001")) return undefined; // the template or system text has a marker byte
      pieces.push(Buffer.from(parts[i]!));
    } else slots.push(parts[i] === "Q" ? 0 : 1);
  }
  if (!slots.includes(1)) return undefined;
  return { pieces, slots };
}

const BYTE_EXPORT_BUFFER = 4 << 20;

/**
 * The export data file written as bytes: one large buffer, flushed to a temp file (hashed as it
 * goes) and renamed on close, plus the dataset_info.json entry, as ExportWriter does.
 */
class ByteExport {
  buf = Buffer.allocUnsafe(BYTE_EXPORT_BUFFER);
  len = 0;
  lines = 0;
  private bytes = 0;
  private closed = false;
  private constructor(
    private readonly dir: string,
    private readonly opts: ExportOptions,
    private readonly fileName: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly hash: Digest,
  ) {}

  static async create(dir: string, opts: ExportOptions, hash: Digest = localDigest()): Promise<ByteExport> {
    const fileName = checkExportOptions(opts);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(fileName)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    return new ByteExport(dir, opts, fileName, tmp, await open(tmp, "w"), hash);
  }

  /** Makes room for n more bytes; a promise when it had to write (await it). */
  room(n: number): Promise<void> | undefined {
    if (this.len + n <= this.buf.length) return undefined;
    return this.flush(n);
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

  /** Appends one line given as text (the full path). */
  writeText(line: string): Promise<void> | undefined {
    const max = line.length * 3;
    const p = this.room(max);
    if (p) return p.then(() => this.writeText(line));
    this.len += this.buf.write(line, this.len, "utf8");
    this.lines++;
    return undefined;
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }

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
    const files: OutputFile[] = [{ path: this.fileName, sha256: await this.hash.hex(), lines: this.lines, bytes: this.bytes }];
    const info = await mergeDatasetInfo(this.dir, this.opts, this.fileName);
    if (info) files.push(info);
    return files;
  }
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
  const hashes = sizes.reduce((x, y) => x + y, 0) >= HASH_THREAD_MIN_BYTES && (options.threads ?? 1) > 1 ? new HashThread() : undefined;
  const cursors = files.map((f) => new LineCursor(f, hashes));
  const writer = await ByteExport.create(out.dir, out, hashes?.digest()).catch(async (e: unknown) => {
    await hashes?.close();
    throw e;
  });
  const template = resolveTemplate(out.template);
  const layout = fastLayout(out.format, template, out.system);
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
  const alive: boolean[] = new Array(nf).fill(false);
  const parsed: Array<LineRecord | undefined> = new Array(nf).fill(undefined);
  let badLine = -1;
  const parse = (f: number): LineRecord => {
    let l = parsed[f];
    if (!l) {
      l = parsed[f] = parseLine(cursors[f]!.raw(), paperName[f]!);
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
  // Fast path state: a paper-form line provides exactly its file's first source name.
  const fastHas = o.sources.map((name, s) => paperName[fileOf[s]!] === name);
  const fastAny = fastHas.some((x) => x);
  const hasFast = (s: number): boolean => fastHas[s]!;
  const sQ0 = new Int32Array(nf);
  const sQ1 = new Int32Array(nf);
  const sR0 = new Int32Array(nf);
  const sR1 = new Int32Array(nf);
  const scanAll = (): boolean => {
    for (let f = 0; f < nf; f++) {
      const c = cursors[f]!;
      if (!scanPaperLine(c.buf, c.start, c.end, c.utf8)) return false;
      sQ0[f] = scanQ0;
      sQ1[f] = scanQ1;
      sR0[f] = scanR0;
      sR1[f] = scanR1;
      // The same question, byte for byte (anything else is decided by the full path).
      if (f > 0 && (scanQ1 - scanQ0 !== sQ1[0]! - sQ0[0]! || c.buf.compare(cursors[0]!.buf, sQ0[0]!, sQ1[0]!, scanQ0, scanQ1) !== 0)) return false;
    }
    return true;
  };
  try {
    for (;;) {
      let ended = 0;
      for (let f = 0; f < nf; f++) {
        const x = cursors[f]!.next();
        const ok = x === true || (x !== false && (await x));
        alive[f] = ok;
        parsed[f] = undefined;
        if (!ok) ended++;
      }
      if (ended === nf) break;
      if (ended > 0) {
        const f = alive.indexOf(false);
        throw new NotAlignedError({ file: files[f]!, line: 0, field: "" }, `has fewer records than ${files[alive.indexOf(true)]}; the files are not aligned`);
      }
      report.lines += nf;
      if (layout && scanAll()) {
        for (let s = 0; s < k; s++) if (!fastHas[s]) missing[s]!++;
        if (!fastAny) noResponse++;
        const s = drawer.pick(hasFast);
        report.records++;
        if (s >= 0) {
          const f = fileOf[s]!;
          const qb = cursors[0]!.buf;
          const rb = cursors[f]!.buf;
          const qa = sQ0[0]! + 1;
          const qz = sQ1[0]! - 1;
          const ra = sR0[f]! + 1;
          const rz = sR1[f]! - 1;
          const { pieces, slots } = layout;
          let size = 0;
          for (const p of pieces) size += p.length;
          for (const x of slots) size += x === 0 ? qz - qa : rz - ra;
          const pending = writer.room(size);
          if (pending) await pending;
          const buf = writer.buf;
          let at = writer.len;
          for (let i = 0; i < slots.length; i++) {
            const p = pieces[i]!;
            at = copyBytes(buf, at, p, 0, p.length);
            at = slots[i] === 0 ? copyBytes(buf, at, qb, qa, qz) : copyBytes(buf, at, rb, ra, rz);
          }
          const p = pieces[slots.length]!;
          at = copyBytes(buf, at, p, 0, p.length);
          writer.len = at;
          writer.lines++;
          if (written % every === 0) {
            sampled.push(tok.count(JSON.parse(rb.toString("utf8", ra - 1, rz + 1)) as string));
            sampleQ.push(q);
            sampleS.push(s);
          }
          counts[s]!++;
          written++;
        }
        q++;
        continue;
      }
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
          const b = cursors[f]!.raw().bytes;
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
        const pending = writer.writeText(formatExample(e, out.format, template, out.system) + "\n");
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
    await hashes?.close();
    throw e;
  }
  let outputs: OutputFile[];
  const info: Record<string, SourceFileInfo> = {};
  try {
    outputs = await writer.close();
    for (let i = 0; i < nf; i++) {
      const sha256 = await cursors[i]!.hash.hex();
      for (const name of byFile.get(files[i]!)!) info[name] = { name, path: files[i]!, sha256, bytes: cursors[i]!.bytes };
    }
  } finally {
    await hashes?.close();
  }
  const plan: Plan = { q: Int32Array.from(sampleQ), s: Int32Array.from(sampleS), counts, dropped: drawer.dropped, noResponse, fallbacksFrom: drawer.fallbacksFrom, missing };
  // Token statistics from a deterministic sample: the examples numbered 0, every, 2*every, ...
  const manifest = buildManifest(o, plan, q, tok, (i) => sampled[i]!, info);
  if (every > 1) manifest.tokens = { ...manifest.tokens, sampleEvery: every, total: Math.round(manifest.tokens.total * every) };
  manifest.outputs = outputs;
  return { manifest, outputs };
}
