/**
 * The byte-level fast path of the streaming mix. Most lines of a paper-form file are
 * `{"problem": "...", "solution": "..."}` with string values whose JSON escapes are the ones
 * JSON.stringify writes. For such lines an export line is the format's fixed bytes around the raw
 * string bytes of the question and the response, which is exactly what parsing and re-serialising
 * gives; nothing is decoded. Any line the scanner is not sure of (other escapes, non-string values,
 * keys with meaning, bad JSON, invalid UTF-8, blank-looking text) goes to the full parse-and-validate
 * path, which also gives the error message.
 */
import { isUtf8 } from "node:buffer";
import { formatExample, type ExportFormat, type ExportWriter } from "./export.js";

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

/** Copies src[a, z) to dst at `at`; returns the new end. Short runs by hand (Buffer.copy has a fixed cost). */
function copyBytes(dst: Buffer, at: number, src: Buffer, a: number, z: number): number {
  if (z - a > 96) return at + src.copy(dst, at, a, z);
  for (let i = a; i < z; i++) dst[at++] = src[i]!;
  return at;
}

/**
 * Scans lines as canonical paper-form records. `scan` is true when the line certainly is a valid one
 * (the same that JSON.parse + checkPaperRecord would accept) and its problem and solution are
 * byte-exact JSON.stringify output; then `q0..q1` and `r0..r1` are the byte ranges (quotes included)
 * of the problem and the solution strings. False means: decide by the full path.
 */
export class PaperLineScanner {
  q0 = 0;
  q1 = 0;
  r0 = 0;
  r1 = 0;
  /** An aligned Int32 view of the last buffer scanned (four bytes a step through plain text). */
  private wordsOf: ArrayBufferLike | undefined;
  private W: Int32Array<ArrayBufferLike> = new Int32Array(0);

  scan(b: Buffer, from: number, n: number, utf8Known: boolean): boolean {
    if (b.buffer !== this.wordsOf) {
      this.wordsOf = b.buffer;
      this.W = new Int32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
    }
    const W = this.W;
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
    this.q0 = q0;
    this.q1 = q1;
    this.r0 = r0;
    this.r1 = r1;
    return true;
  }
}

/**
 * An export line as fixed byte pieces around slots for the question (0) and the response (1)
 * contents, JSON-escaped already: found by formatting an example with marker strings. Undefined for
 * formats that need more than the question and the response (jsonl).
 */
export interface FastLayout {
  pieces: Buffer[];
  slots: number[];
  /** Total bytes of the pieces. */
  fixed: number;
}

/** The layout of `format` with this template and system text; undefined when the format has no fast path. */
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
  return { pieces, slots, fixed: pieces.reduce((a, p) => a + p.length, 0) };
}

/**
 * Appends one export line made of `layout`'s pieces around the JSON string contents qb[qa, qz) (the
 * question) and rb[ra, rz) (the response), escapes kept as they are. A promise when the writer had
 * to flush first (await it).
 */
export function appendSpliced(w: ExportWriter, layout: FastLayout, qb: Buffer, qa: number, qz: number, rb: Buffer, ra: number, rz: number): Promise<void> | undefined {
  const { pieces, slots, fixed } = layout;
  let size = fixed;
  for (const x of slots) size += x === 0 ? qz - qa : rz - ra;
  const pending = w.reserve(size);
  if (pending) return pending.then(() => void appendSpliced(w, layout, qb, qa, qz, rb, ra, rz));
  const buf = w.buf;
  let at = w.len;
  for (let i = 0; i < slots.length; i++) {
    const p = pieces[i]!;
    at = copyBytes(buf, at, p, 0, p.length);
    at = slots[i] === 0 ? copyBytes(buf, at, qb, qa, qz) : copyBytes(buf, at, rb, ra, rz);
  }
  const p = pieces[slots.length]!;
  at = copyBytes(buf, at, p, 0, p.length);
  w.commitBytes(at);
  return undefined;
}
