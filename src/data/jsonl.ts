import { createReadStream, openSync, readSync, closeSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { CorpusError, type SkippedLine } from "./errors.js";
import { AtomicWriter } from "./atomic.js";
import { checkCorpusRecord, checkPaperRecord, type Checked, type PaperRecord } from "./validate.js";
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

/** Opens a (possibly gzip-compressed) file as a stream of byte chunks. */
export function openByteStream(path: string): AsyncIterable<Buffer> {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (!isGzipFile(path)) return raw;
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

/**
 * Streams the lines of a text file (gzip is detected), splitting on bytes so that invalid UTF-8 is
 * reported per line instead of being silently replaced. Memory holds one chunk plus one partial line.
 */
export async function* readLines(path: string): AsyncGenerator<LineItem> {
  let rest: Buffer | undefined;
  let line = 0;
  for await (const chunk of openByteStream(path)) {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf(10, start)) !== -1) {
      line++;
      yield decodeLine(buf, start, nl, line);
      start = nl + 1;
    }
    rest = start < buf.length ? buf.subarray(start) : undefined;
  }
  if (rest && rest.length > 0) {
    line++;
    yield decodeLine(rest, 0, rest.length, line);
  }
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

/** Streams validated values from a JSONL file using `check` on each parsed line. */
export async function* readJsonlChecked<T>(
  path: string,
  check: (x: unknown) => Checked<T>,
  opts: ReadOptions = {},
): AsyncGenerator<T> {
  const policy = opts.onError ?? "fail";
  const report = opts.report ?? new ReadReport();
  const reject = (line: number, field: string, reason: string): void => {
    if (policy === "fail") throw new CorpusError({ file: path, line, field }, reason);
    report.addSkipped({ file: path, line, field, reason });
  };
  for await (const item of readLines(path)) {
    report.lines++;
    if (item.error !== undefined) {
      reject(item.line, "", item.error);
      continue;
    }
    if (item.text.trim().length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(item.text);
    } catch (e) {
      reject(item.line, "", `invalid JSON (${(e as Error).message})`);
      continue;
    }
    const r = check(parsed);
    if (!r.ok) {
      reject(item.line, r.field, r.reason);
      continue;
    }
    report.records++;
    yield r.value;
  }
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
