/**
 * The results store: one gzipped JSON file per finished cell (`<key>.json.gz`; plain `<key>.json`
 * files of earlier stores are read too), named by the hash of the cell's full configuration,
 * written to a temporary name and renamed into place. Decoded outputs are kept (every example's
 * text), so a compressed cell of 300 long outputs takes about 10 KB instead of 70. A crash (kill -9 included)
 * leaves either no file or a complete one; every file carries a checksum and is validated on
 * read, so a damaged one counts as missing and is recomputed, never silently used.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import type { RunResult, StudentConfig, TrainConfig } from "../train/spec.js";
import { canonicalJson, hashOf, sha256Hex } from "./hash.js";

/** Everything a cell's result depends on; its hash is the cell's key. */
export interface CellConfig {
  /** Hash of the training data (the mix manifest hash, or of the examples themselves). */
  data: string;
  student: string | StudentConfig;
  /** Training configuration, seed included. */
  training: TrainConfig;
  /** Hash of the evaluation examples. */
  test: string;
  maxNewTokens: number;
  /** Requested tensor backend ("auto", "wasm", "cpu", "tensorflow"). */
  backend: string;
  /** "openblas" when the wasm backend multiplies with OpenBLAS; absent for XNNPACK (keys of earlier stores). */
  matmul?: "openblas";
}

/** Descriptive fields kept beside a result (not part of the key). */
export interface CellMeta {
  student: string;
  variant: string;
  seed: number;
  budget: string;
  sweep?: string;
  /** Benchmark name of test examples without a task. */
  benchmark?: string;
}

export interface StoredCell {
  format: "mixdistill.cell.v1";
  key: string;
  config: CellConfig;
  meta: CellMeta;
  result: RunResult;
  finishedAt: string;
  /** sha256 of the canonical JSON of every other field. */
  checksum: string;
}

export const cellKey = (c: CellConfig): string => hashOf({ v: 1, ...c });

const FILE_RE = /^[0-9a-f]{64}\.json(?:\.gz)?$/;
const TMP_RE = /^\.([0-9a-f]{64})\.(\d+)\.[0-9a-f]+\.tmp$/;
const CLAIM_RE = /^([0-9a-f]{64})\.claim$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** Validates a parsed cell file; returns a problem or undefined. */
export function checkStoredCell(x: unknown, expectedKey?: string): string | undefined {
  if (!isObject(x)) return "expected an object";
  if (x.format !== "mixdistill.cell.v1") return `format: expected "mixdistill.cell.v1", got ${JSON.stringify(x.format)}`;
  if (typeof x.key !== "string" || !/^[0-9a-f]{64}$/.test(x.key)) return "key: expected a sha256 hex string";
  if (expectedKey !== undefined && x.key !== expectedKey) return `key: file holds ${x.key}, expected ${expectedKey}`;
  if (!isObject(x.config)) return "config: expected an object";
  if (cellKey(x.config as unknown as CellConfig) !== x.key) return "config: does not hash to the key";
  if (!isObject(x.meta) || typeof x.meta.variant !== "string" || typeof x.meta.student !== "string") return "meta: expected {student, variant, ...}";
  const r = x.result;
  if (!isObject(r) || typeof r.accuracy !== "number" || !Array.isArray(r.examples)) return "result: expected a RunResult";
  if (typeof x.checksum !== "string") return "checksum: missing";
  const { checksum, ...rest } = x;
  if (sha256Hex(canonicalJson(rest)) !== checksum) return "checksum: does not match the contents";
  return undefined;
}

/** Parses a cell file, gzipped (`.gz`) or plain. */
function readCellFile(path: string): unknown {
  const bytes = readFileSync(path);
  return JSON.parse((path.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8"));
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
function writeAtomicSync(dir: string, name: string, tmpName: string, bytes: Buffer): void {
  const tmp = join(dir, tmpName);
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is still atomic.
  }
}

export interface StoreScan {
  cells: StoredCell[];
  /** Files that failed validation: "name: problem". They count as missing. */
  damaged: string[];
  /** Temp files of writers that are no longer running (removed by `clean`). */
  staleTemp: string[];
  /** Claims of processes that are no longer running (removed by `clean`). */
  staleClaims: string[];
}

/** Who is computing a cell: the process and the sweep inside it. */
interface Claim {
  pid: number;
  token: string;
}

/** The results store of a sweep: one file per finished cell, keyed by its full configuration. */
export class ResultsStore {
  readonly dir: string;
  private readonly cellsDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.cellsDir = join(dir, "cells");
    mkdirSync(this.cellsDir, { recursive: true });
  }

  /** The stored cell for a key, or undefined when absent or damaged (the gzipped file first, then a plain one). */
  get(key: string): StoredCell | undefined {
    for (const name of [`${key}.json.gz`, `${key}.json`]) {
      let x: unknown;
      try {
        x = readCellFile(join(this.cellsDir, name));
      } catch {
        continue;
      }
      if (checkStoredCell(x, key) === undefined) return x as StoredCell;
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores a finished cell atomically; returns what was written. */
  put(config: CellConfig, meta: CellMeta, result: RunResult): StoredCell {
    const key = cellKey(config);
    const body = { format: "mixdistill.cell.v1" as const, key, config, meta, result, finishedAt: new Date().toISOString() };
    const cell: StoredCell = { ...body, checksum: sha256Hex(canonicalJson(body)) };
    writeAtomicSync(this.cellsDir, `${key}.json.gz`, `.${key}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`, gzipSync(JSON.stringify(cell) + "\n", { level: 9 }));
    // A plain file of the same cell (an earlier store's format) is superseded by the compressed one.
    rmSync(join(this.cellsDir, `${key}.json`), { force: true });
    return cell;
  }

  private claimPath(key: string): string {
    return join(this.cellsDir, `${key}.claim`);
  }

  private readClaim(key: string): Claim | undefined {
    try {
      const c = JSON.parse(readFileSync(this.claimPath(key), "utf8")) as Claim;
      return Number.isSafeInteger(c.pid) && typeof c.token === "string" ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Claims a cell for computing, so concurrent sweeps on one store (two notebooks) do not both run
   * it. True when claimed (or already ours); false while another live sweep holds it. A claim of
   * a process that died is taken over.
   */
  claim(key: string, token: string): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.claimPath(key), "wx");
        try {
          writeSync(fd, JSON.stringify({ pid: process.pid, token } satisfies Claim));
        } finally {
          closeSync(fd);
        }
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = this.readClaim(key);
      if (holder?.token === token) return true;
      // Unreadable: a claim being written right now, or a wreck; only a dead holder is taken over.
      if (holder && processAlive(holder.pid)) return false;
      if (!holder) {
        try {
          const age = Date.now() - statSync(this.claimPath(key)).mtimeMs;
          if (age < 5000) return false;
        } catch {
          // gone meanwhile: try again
        }
      }
      rmSync(this.claimPath(key), { force: true });
    }
    return false;
  }

  /** Whether another live sweep holds the cell. */
  claimedElsewhere(key: string, token: string): boolean {
    const holder = this.readClaim(key);
    return holder !== undefined && holder.token !== token && processAlive(holder.pid);
  }

  /** Releases a claim this sweep holds. */
  release(key: string, token: string): void {
    if (this.readClaim(key)?.token === token) rmSync(this.claimPath(key), { force: true });
  }

  /** Every file in the store, validated. */
  scan(): StoreScan {
    const out: StoreScan = { cells: [], damaged: [], staleTemp: [], staleClaims: [] };
    const names = readdirSync(this.cellsDir).sort();
    const compressed = new Set(names.filter((n) => n.endsWith(".json.gz")));
    for (const name of names) {
      const tmp = TMP_RE.exec(name);
      if (tmp) {
        if (!processAlive(Number(tmp[2]))) out.staleTemp.push(name);
        continue;
      }
      if (CLAIM_RE.test(name)) {
        const c = this.readClaim(name.slice(0, 64));
        if (!c || !processAlive(c.pid)) out.staleClaims.push(name);
        continue;
      }
      if (!FILE_RE.test(name)) continue;
      // A plain file beside the compressed one of its cell (a put ended before removing it) is superseded.
      if (name.endsWith(".json") && compressed.has(`${name}.gz`)) continue;
      let problem: string | undefined;
      let x: unknown;
      try {
        x = readCellFile(join(this.cellsDir, name));
        problem = checkStoredCell(x, name.slice(0, 64));
      } catch (e) {
        problem = `unreadable (${(e as Error).message})`;
      }
      if (problem) out.damaged.push(`${name}: ${problem}`);
      else out.cells.push(x as StoredCell);
    }
    return out;
  }

  /** Removes temp files left by writers that died; damaged cells are left for the next put to replace. */
  clean(): StoreScan {
    const s = this.scan();
    for (const name of [...s.staleTemp, ...s.staleClaims]) rmSync(join(this.cellsDir, name), { force: true });
    return s;
  }
}
