/**
 * Checkpoints: one file holding the student config, tokenizer, weights, optimiser state and the
 * position in training, written to a temp name and renamed (a crash leaves the old file or the new).
 *
 *   "MDSTUDENT1\n" | u32 LE header length | header JSON | zero padding to 4 bytes | float32 LE data
 */
import { openSync, closeSync, fsyncSync, readFileSync, renameSync, writeSync, unlinkSync } from "node:fs";
import type { ResolvedStudentConfig } from "../model/config.js";
import type { TokenizerJSON } from "../model/student-tokenizer.js";
import type { TrainConfig } from "./spec.js";

const MAGIC = "MDSTUDENT1\n";

export interface CheckpointTrainState {
  train: TrainConfig;
  /** Steps completed. */
  step: number;
  totalSteps: number;
  /** Tokens trained on so far. */
  tokens: number;
  /** Optimiser step count. */
  adamT: number;
  /** Fingerprint of the encoded training data (resume checks it). */
  dataFingerprint: string;
  /** Loss of every step so far. */
  losses: number[];
}

export interface CheckpointData {
  config: ResolvedStudentConfig;
  tokenizer: TokenizerJSON;
  /** Named tensors: parameters by name, Adam moments as "adam.m/NAME" and "adam.v/NAME". */
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>;
  /** Absent for a weights-only checkpoint. */
  state?: CheckpointTrainState;
}

interface Header {
  format: "mixdistill-student";
  version: 1;
  config: ResolvedStudentConfig;
  tokenizer: TokenizerJSON;
  state?: CheckpointTrainState;
  tensors: Array<{ name: string; shape: number[]; offset: number; length: number }>;
}

export function writeCheckpoint(path: string, ck: CheckpointData): void {
  let offset = 0;
  const index = ck.tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`checkpoint tensor ${t.name}: shape [${t.shape}] does not match ${t.data.length} values`);
    const e = { name: t.name, shape: t.shape, offset, length: n };
    offset += n;
    return e;
  });
  const header: Header = { format: "mixdistill-student", version: 1, config: ck.config, tokenizer: ck.tokenizer, state: ck.state, tensors: index };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const pre = Buffer.byteLength(MAGIC) + 4 + json.length;
  const pad = (4 - (pre % 4)) % 4;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, Buffer.from(MAGIC, "utf8"));
    writeSync(fd, len);
    writeSync(fd, json);
    writeSync(fd, Buffer.alloc(pad));
    for (const t of ck.tensors) {
      const le = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength); // little-endian hosts only (x86, arm)
      writeSync(fd, le);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function readCheckpoint(path: string): CheckpointData {
  const buf = readFileSync(path);
  const magic = buf.subarray(0, Buffer.byteLength(MAGIC)).toString("utf8");
  if (magic !== MAGIC) throw new Error(`${path}: not a mixdistill student checkpoint (bad magic)`);
  let pos = Buffer.byteLength(MAGIC);
  if (buf.length < pos + 4) throw new Error(`${path}: truncated header`);
  const hlen = buf.readUInt32LE(pos);
  pos += 4;
  if (buf.length < pos + hlen) throw new Error(`${path}: truncated header (${hlen} bytes announced)`);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(pos, pos + hlen).toString("utf8")) as Header;
  } catch (e) {
    throw new Error(`${path}: header is not JSON (${(e as Error).message})`);
  }
  if (header.format !== "mixdistill-student" || header.version !== 1) throw new Error(`${path}: header.format/version: unsupported (${header.format} v${header.version})`);
  if (!header.config || typeof header.config.dModel !== "number") throw new Error(`${path}: header.config missing`);
  if (!Array.isArray(header.tensors)) throw new Error(`${path}: header.tensors missing`);
  pos += hlen;
  pos += (4 - (pos % 4)) % 4;
  const total = header.tensors.reduce((a, t) => a + t.length, 0);
  if (buf.length !== pos + total * 4) throw new Error(`${path}: expected ${total} float32 values after the header, file has ${(buf.length - pos) / 4}`);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + pos, buf.byteOffset + pos + total * 4));
  const tensors = header.tensors.map((t, i) => {
    if (typeof t.name !== "string" || !Array.isArray(t.shape) || t.shape.reduce((a, b) => a * b, 1) !== t.length) {
      throw new Error(`${path}: header.tensors[${i}] is malformed`);
    }
    return { name: t.name, shape: t.shape, data: data.subarray(t.offset, t.offset + t.length) };
  });
  return { config: header.config, tokenizer: header.tokenizer, tensors, state: header.state };
}
