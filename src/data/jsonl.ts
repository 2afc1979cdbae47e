import { createReadStream, openSync, readSync, closeSync } from "node:fs";
import { open } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { isUtf8 } from "node:buffer";
import { CorpusError, type SkippedLine } from "./errors.js";
import { AtomicWriter } from "./atomic.js";
import { checkCorpusRecord, checkPaperRecord, recordKind, type Checked, type PaperRecord } from "./validate.js";
import type { CorpusRecord } from "./record.js";

/** One line of a text file: its text, or why it could not be decoded. */
export type LineItem = { line: number; text: string; error?: undefined } | { line: number; text?: undefined; error: string };

function isGzipFile(path: string): boolean {
  if (path.endsWith(".gz")) return true;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Opens a (possibly gzip-compressed) file as a stream of byte chunks. `onRawChunk` sees the file's own
 * bytes (compressed if it is gzip), e.g. to hash the file in the same pass.
 */
export function openByteStream(path: string, onRawChunk?: (chunk: Buffer) => void): AsyncIterable<Buffer> {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (!isGzipFile(path)) return onRawChunk ? tap(raw, onRawChunk) : raw;
  // pipe() already reads in flowing mode (with backpressure), so a data listener sees every chunk.
  if (onRawChunk) raw.on("data", (c) => onRawChunk(c as Buffer));
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  raw.on("error", (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/** Offset of the first byte that is not valid UTF-8 in buf[start, end), or -1. */
function firstInvalidUtf8(b: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    let need: number;
    if (c < 0x80) need = 0;
    else if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2;
    else if (c >= 0xf0 && c <= 0xf4) need = 3;
    else return i;
    for (let k = 1; k <= need; k++) if (i + k >= end || (b[i + k]! & 0xc0) !== 0x80) return i;
    const c1 = need > 0 ? b[i + 1]! : 0;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += need + 1;
  }
  return -1;
}

async function* tap(chunks: AsyncIterable<Buffer>, f: (c: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    f(c);
    yield c;
  }
}

function decodeLine(buf: Buffer, start: number, end: number, line: number): LineItem {
  if (end > start && buf[end - 1] === 0x0d) end--; // CRLF
  const text = buf.toString("utf8", start, end);
  // toString replaces invalid bytes with U+FFFD; only then is the byte-level check needed.
  if (text.includes("\uFFFD")) {
    const bad = firstInvalidUtf8(buf, start, end);
    if (bad >= 0) return { line, error: `invalid UTF-8 (byte 0x${buf[bad]!.toString(16)} at byte ${bad - start + 1} of the line)` };
  }
  return { line, text };
}

/** One line's bytes (a view into the chunk, without the newline), not yet decoded. */
export interface RawLine {
  line: number;
  bytes: Buffer;
}

/** Decodes a raw line, reporting invalid UTF-8 instead of replacing it. */
export function decodeRawLine(r: RawLine): LineItem {
  return decodeLine(r.bytes, 0, r.bytes.length, r.line);
}

/**
 * Streams the lines of a (possibly gzip) file as undecoded byte views, in batches of one ~1 MB chunk.
 * Memory holds one chunk plus one partial line. `onRawChunk` sees the file's bytes, e.g. to hash them
 * in the same pass.
 */
export async function* readRawLineBatches(path: string, opts: { onRawChunk?: (chunk: Buffer) => void } = {}): AsyncGenerator<RawLine[]> {
  let rest: Buffer | undefined;
  let line = 0;
  for await (const chunk of openByteStream(path, opts.onRawChunk)) {
    const batch: RawLine[] = [];
    let start = 0;
    let nl = chunk.indexOf(10);
    if (rest) {
      // Only the line that spans two chunks is copied.
      if (nl === -1) {
        rest = Buffer.concat([rest, chunk]);
        continue;
      }
      batch.push({ line: ++line, bytes: Buffer.concat([rest, chunk.subarray(0, nl)]) });
      rest = undefined;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl !== -1) {
      batch.push({ line: ++line, bytes: chunk.subarray(start, nl) });
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) rest = Buffer.from(chunk.subarray(start));
    if (batch.length) yield batch;
  }
  if (rest && rest.length > 0) yield [{ line: ++line, bytes: rest }];
}

/**
 * The lines of one buffer as byte offsets: line `firstLine + i` is `buf[starts[i], ends[i])` (newline
 * excluded, a CR kept). `utf8` is true when all of these lines are known to be valid UTF-8.
 */
export interface LineSpans {
  buf: Buffer;
  starts: Int32Array;
  ends: Int32Array;
  count: number;
  firstLine: number;
  utf8: boolean;
}

/**
 * The byte chunks of a file. An uncompressed file is read into two 1 MB buffers used in turn (no
 * allocation per chunk), one read ahead: a chunk is valid until the next one is requested.
 */
async function* fileChunks(path: string, onRawChunk?: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  if (isGzipFile(path)) {
    yield* openByteStream(path, onRawChunk);
    return;
  }
  const fh = await open(path, "r");
  const bufs = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)];
  // One read ahead: the next chunk is read into the other buffer while this one is used.
  let pending = fh.read(bufs[0]!, 0, 1 << 20, null);
  try {
    for (let k = 0; ; k ^= 1) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const b = bufs[k]!;
      pending = fh.read(bufs[k ^ 1]!, 0, 1 << 20, null);
      const c = bytesRead === b.length ? b : b.subarray(0, bytesRead);
      onRawChunk?.(c);
      yield c;
    }
  } finally {
    await pending.catch(() => undefined);
    await fh.close();
  }
}

/**
 * Streams the lines of a (possibly gzip) file as offsets into the chunks read (~1 MB each), with no
 * object per line; UTF-8 validity is checked once per chunk (lines split at ASCII newlines, so a valid
 * chunk has valid lines). Memory holds two chunks plus one partial line. A batch (its buffer and
 * offsets) is valid until the next batch is requested.
 */
export async function* readLineSpans(path: string, opts: { onRawChunk?: (chunk: Buffer) => void } = {}): AsyncGenerator<LineSpans> {
  let rest: Buffer | undefined;
  let line = 0;
  let starts = new Int32Array(4096);
  let ends = new Int32Array(4096);
  for await (const chunk of fileChunks(path, opts.onRawChunk)) {
    let start = 0;
    let nl = chunk.indexOf(10);
    if (rest) {
      if (nl === -1) {
        rest = Buffer.concat([rest, chunk]);
        continue;
      }
      // Only the line that spans two chunks is copied; it comes as a batch of its own.
      const joined = Buffer.concat([rest, chunk.subarray(0, nl)]);
      rest = undefined;
      yield { buf: joined, starts: Int32Array.of(0), ends: Int32Array.of(joined.length), count: 1, firstLine: ++line, utf8: isUtf8(joined) };
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    let count = 0;
    const first = start;
    while (nl !== -1) {
      if (count === starts.length) {
        const s2 = new Int32Array(count * 2);
        s2.set(starts);
        starts = s2;
        const e2 = new Int32Array(count * 2);
        e2.set(ends);
        ends = e2;
      }
      starts[count] = start;
      ends[count++] = nl;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    const utf8 = count > 0 && isUtf8(chunk.subarray(first, ends[count - 1]));
    if (start < chunk.length) rest = Buffer.from(chunk.subarray(start));
    if (count) {
      yield { buf: chunk, starts, ends, count, firstLine: line + 1, utf8 };
      line += count;
      // The consumer is done with this batch's offsets once it asks for the next one.
    }
  }
  if (rest && rest.length > 0) yield { buf: rest, starts: Int32Array.of(0), ends: Int32Array.of(rest.length), count: 1, firstLine: ++line, utf8: isUtf8(rest) };
}

/**
 * Streams the lines of a text file in batches, splitting on bytes so that invalid UTF-8 is reported
 * per line instead of being silently replaced.
 */
export async function* readLineBatches(path: string, opts: { onRawChunk?: (chunk: Buffer) => void } = {}): AsyncGenerator<LineItem[]> {
  for await (const batch of readRawLineBatches(path, opts)) yield batch.map(decodeRawLine);
}

/** Streams the lines of a text file one by one (see readLineBatches). */
export async function* readLines(path: string): AsyncGenerator<LineItem> {
  for await (const batch of readLineBatches(path)) yield* batch;
}

export type ErrorPolicy = "fail" | "skip";

/** What a read saw; filled in as the iterator runs. Skipped lines are never silently lost. */
export class ReadReport {
  lines = 0;
  records = 0;
  skippedCount = 0;
  /** The first `maxDetails` skipped lines with file, line, field and reason. */
  skipped: SkippedLine[] = [];
  constructor(readonly maxDetails = 1000) {}
  addSkipped(s: SkippedLine): void {
    this.skippedCount++;
    if (this.skipped.length < this.maxDetails) this.skipped.push(s);
  }
}

export interface ReadOptions {
  /** `fail` (default) throws a CorpusError at the first bad line; `skip` counts and reports it. */
  onError?: ErrorPolicy;
  report?: ReadReport;
}

/** One line parsed and checked: its value, or what is wrong (`field` is "" for the line as a whole). */
export type ParsedLine<T> = { line: number; ok: true; value: T } | { line: number; ok: false; field: string; reason: string };

/**
 * Parses one decoded line as JSON and checks it: the one place where a line's UTF-8, JSON and field
 * errors get their wording. The caller skips blank lines (they are not records).
 */
export function parseJsonLine<T>(item: LineItem, check: (x: unknown) => Checked<T>): ParsedLine<T> {
  if (item.error !== undefined) return { line: item.line, ok: false, field: "", reason: item.error };
  let v: unknown;
  try {
    v = JSON.parse(item.text);
  } catch (e) {
    return { line: item.line, ok: false, field: "", reason: `invalid JSON (${(e as Error).message})` };
  }
  const r = check(v);
  return r.ok ? { line: item.line, ok: true, value: r.value } : { line: item.line, ok: false, field: r.field, reason: r.reason };
}

/** A line of a source file: paper form (`{problem, solution}`) or a corpus record. */
export type SourceRecord = { kind: "paper"; value: PaperRecord } | { kind: "corpus"; value: CorpusRecord };

/** Checks a parsed line of a source file in either form (paper form when it has `problem`). */
export function checkSourceRecord(x: unknown): Checked<SourceRecord> {
  if (recordKind(x) === "paper") {
    const p = checkPaperRecord(x);
    return p.ok ? { ok: true, value: { kind: "paper", value: p.value } } : p;
  }
  const c = checkCorpusRecord(x);
  return c.ok ? { ok: true, value: { kind: "corpus", value: c.value } } : c;
}

/** A source line as a corpus record: a paper-form line's solution becomes the response of `paperName`. */
export function sourceAsCorpus(r: SourceRecord, paperName: string): CorpusRecord {
  if (r.kind === "corpus") return r.value;
  const p = r.value;
  const rec: CorpusRecord = { id: p.id ?? "", question: p.problem, answer: p.answer ?? "", responses: { [paperName]: p.solution } };
  if (p.level !== undefined) rec.level = p.level;
  if (p.subject !== undefined) rec.subject = p.subject;
  return rec;
}

/** Streams validated values from a JSONL file using `check` on each parsed line. */
export async function* readJsonlChecked<T>(
  path: string,
  check: (x: unknown) => Checked<T>,
  opts: ReadOptions = {},
): AsyncGenerator<T> {
  const policy = opts.onError ?? "fail";
  const report = opts.report ?? new ReadReport();
  for await (const batch of readLineBatches(path)) for (const item of batch) {
    report.lines++;
    if (item.error === undefined && item.text.trim().length === 0) continue;
    const r = parseJsonLine(item, check);
    if (!r.ok) {
      if (policy === "fail") throw new CorpusError({ file: path, line: r.line, field: r.field }, r.reason);
      report.addSkipped({ file: path, line: r.line, field: r.field, reason: r.reason });
      continue;
    }
    report.records++;
    yield r.value;
  }
}

/** Streams the records of a source file in either form (see checkSourceRecord). */
export function readSourceRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  return readJsonlChecked(path, checkSourceRecord, opts);
}

/** Streams the validated CorpusRecords of a JSONL (or JSONL.gz) file. */
export function readCorpus(path: string, opts: ReadOptions = {}): AsyncGenerator<CorpusRecord> {
  return readJsonlChecked(path, checkCorpusRecord, opts);
}

/** Streams the records of a paper-form single-source file (`{problem, solution}` a line). */
export function readPaperRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<PaperRecord> {
  return readJsonlChecked(path, checkPaperRecord, opts);
}

/** Reads a whole corpus into memory. */
export async function loadCorpus(path: string, opts: ReadOptions = {}): Promise<CorpusRecord[]> {
  const out: CorpusRecord[] = [];
  for await (const r of readCorpus(path, opts)) out.push(r);
  return out;
}

/** Serialises a record with a fixed key order, so equal records give equal bytes. */
export function serializeRecord(r: CorpusRecord): string {
  const o: Record<string, unknown> = { id: r.id, question: r.question, answer: r.answer };
  if (r.level !== undefined) o.level = r.level;
  if (r.subject !== undefined) o.subject = r.subject;
  o.responses = r.responses;
  return JSON.stringify(o);
}

/** Writes JSON values one a line, atomically (`.gz` paths are compressed). Returns the line count. */
export async function writeJsonl(
  path: string,
  values: Iterable<unknown> | AsyncIterable<unknown>,
  serialize: (v: unknown) => string = (v) => JSON.stringify(v),
): Promise<number> {
  const w = await AtomicWriter.create(path);
  let n = 0;
  try {
    for await (const v of values as AsyncIterable<unknown>) {
      await w.write(serialize(v) + "\n");
      n++;
    }
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return n;
}

/** Writes a corpus as JSONL, atomically. */
export function writeCorpus(path: string, records: Iterable<CorpusRecord> | AsyncIterable<CorpusRecord>): Promise<number> {
  return writeJsonl(path, records, (v) => serializeRecord(v as CorpusRecord));
}
