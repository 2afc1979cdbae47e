/**
 * Inference with a KV cache. A decoding step touches only the new token's row: plain JavaScript
 * over Float32Arrays for small batches (lower overhead than a tensor op per layer piece), the
 * backend's matMul for large ones (batched evaluation, prompt prefill). Same maths as
 * StudentModel.forward; the tests check the logits agree.
 */
import * as tf from "@tensorflow/tfjs";
import type { StudentModel } from "../model/transformer.js";
import { makeRng, type Rng } from "../data/rng.js";

/**
 * Keys and values of one sequence, every layer, positions [0, len): (capacity, D) rows each, so a
 * new position is one contiguous write.
 */
export class KVCache {
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  len = 0;
  constructor(layers: number, D: number, readonly capacity: number) {
    this.k = Array.from({ length: layers }, () => new Float32Array(capacity * D));
    this.v = Array.from({ length: layers }, () => new Float32Array(capacity * D));
  }
}

interface Dense {
  /** Weights transposed, (N, K): the JavaScript path reads rows of it. */
  wT: Float32Array;
  b: Float32Array;
  K: number;
  N: number;
  wt: tf.Tensor2D;
  bt: tf.Tensor1D;
}
interface Norm {
  g: Float32Array;
  b: Float32Array;
}
interface Layer {
  ln1: Norm;
  qkv: Dense;
  proj: Dense;
  ln2: Norm;
  fc1: Dense;
  fc2: Dense;
}

/**
 * One row's attention over its cache, all heads: q at qkv[qo..qo+D), keys K and values V (n, D)
 * rows; `scores` is scratch of at least n. Written for V8: chunks of 16 query dimensions (scaled)
 * or 8 probabilities are held in locals while the loop runs over positions (or value dimensions),
 * so a product costs ~1.25 loads instead of 2.
 */
function attendRow(qkv: Float32Array, qo: number, K: Float32Array, V: Float32Array, n: number, D: number, H: number, out: Float32Array, ao: number, scores: Float64Array, scale: number): void {
  const hs = D / H;
  for (let h = 0; h < H; h++) {
    const qh = qo + h * hs;
    scores.fill(0, 0, n);
    let e = 0;
    for (; e + 15 < hs; e += 16) {
      const q = qh + e;
      const q0 = qkv[q]! * scale, q1 = qkv[q + 1]! * scale, q2 = qkv[q + 2]! * scale, q3 = qkv[q + 3]! * scale;
      const q4 = qkv[q + 4]! * scale, q5 = qkv[q + 5]! * scale, q6 = qkv[q + 6]! * scale, q7 = qkv[q + 7]! * scale;
      const q8 = qkv[q + 8]! * scale, q9 = qkv[q + 9]! * scale, q10 = qkv[q + 10]! * scale, q11 = qkv[q + 11]! * scale;
      const q12 = qkv[q + 12]! * scale, q13 = qkv[q + 13]! * scale, q14 = qkv[q + 14]! * scale, q15 = qkv[q + 15]! * scale;
      for (let t = 0, ko = h * hs + e; t < n; t++, ko += D) {
        scores[t] += q0 * K[ko]! + q1 * K[ko + 1]! + q2 * K[ko + 2]! + q3 * K[ko + 3]! + (q4 * K[ko + 4]! + q5 * K[ko + 5]! + q6 * K[ko + 6]! + q7 * K[ko + 7]!)
          + (q8 * K[ko + 8]! + q9 * K[ko + 9]! + q10 * K[ko + 10]! + q11 * K[ko + 11]! + (q12 * K[ko + 12]! + q13 * K[ko + 13]! + q14 * K[ko + 14]! + q15 * K[ko + 15]!));
      }
    }
    for (; e < hs; e++) {
      const q0 = qkv[qh + e]! * scale;
      for (let t = 0, ko = h * hs + e; t < n; t++, ko += D) scores[t] += q0 * K[ko]!;
    }
    let max = -Infinity;
    for (let t = 0; t < n; t++) if (scores[t]! > max) max = scores[t]!;
    let sum = 0;
    for (let t = 0; t < n; t++) { const v = Math.exp(scores[t]! - max); scores[t] = v; sum += v; }
    const inv = 1 / sum;
    const oh = ao + h * hs;
    for (let i = 0; i < hs; i++) out[oh + i] = 0;
    const hh = h * hs;
    let t = 0;
    for (; t + 7 < n; t += 8) {
      const p0 = scores[t]!, p1 = scores[t + 1]!, p2 = scores[t + 2]!, p3 = scores[t + 3]!;
      const p4 = scores[t + 4]!, p5 = scores[t + 5]!, p6 = scores[t + 6]!, p7 = scores[t + 7]!;
      const v0 = t * D + hh, v1 = v0 + D, v2 = v1 + D, v3 = v2 + D, v4 = v3 + D, v5 = v4 + D, v6 = v5 + D, v7 = v6 + D;
      for (let i = 0; i < hs; i++) {
        out[oh + i] += p0 * V[v0 + i]! + p1 * V[v1 + i]! + p2 * V[v2 + i]! + p3 * V[v3 + i]! + (p4 * V[v4 + i]! + p5 * V[v5 + i]! + p6 * V[v6 + i]! + p7 * V[v7 + i]!);
      }
    }
    for (; t < n; t++) {
      const p0 = scores[t]!;
      const v0 = t * D + hh;
      for (let i = 0; i < hs; i++) out[oh + i] += p0 * V[v0 + i]!;
    }
    for (let i = 0; i < hs; i++) out[oh + i] *= inv;
  }
}

/** Floats of KV cache a decoding chunk may hold (2^26 floats = 256 MB). */
const MAX_CACHE_FLOATS = 1 << 26;

/**
 * Rows at or above `tensorRows` use the backend's matMul, fewer the JavaScript dot products
 * (null: 1 on wasm, where XNNPACK wins even for one row, 8 elsewhere). Tests may change it.
 */
export const decoderSettings: { tensorRows: number | null } = { tensorRows: null };

export interface DecodeRow {
  cache: KVCache;
  /** Token at position cache.len (the cache grows by one). */
  token: number;
}

/** Incremental decoding of a student with a KV cache (greedy or sampled). */
export class Decoder {
  readonly D: number;
  readonly H: number;
  readonly V: number;
  readonly maxLen: number;
  readonly layers: Layer[] = [];
  private readonly wte: Float32Array;
  private readonly wpe: Float32Array;
  private readonly lnf: Norm;
  private readonly head: Dense;
  private readonly kept: tf.Tensor[] = [];
  /** Attention scratch (one row, one head). */
  private readonly scores: Float64Array;

  constructor(model: StudentModel) {
    const c = model.config;
    this.D = c.dModel;
    this.H = c.nHeads;
    this.V = c.vocabSize;
    this.maxLen = c.maxLen;
    this.scores = new Float64Array(c.maxLen);
    const byName = new Map(model.specs.map((s, i) => [s.name, model.params[i]!]));
    const arr = (n: string) => new Float32Array(byName.get(n)!.dataSync());
    const dense = (n: string): Dense => {
      const w = byName.get(n + ".w")! as tf.Tensor2D;
      const b = byName.get(n + ".b")! as tf.Tensor1D;
      const wt = tf.keep(tf.clone(w));
      const bt = tf.keep(tf.clone(b));
      this.kept.push(wt, bt);
      const [K, N] = w.shape;
      const wv = arr(n + ".w");
      const wT = new Float32Array(K * N);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wT[j * K + k] = wv[k * N + j]!;
      return { wT, b: arr(n + ".b"), K, N, wt, bt };
    };
    const norm = (n: string): Norm => ({ g: arr(n + ".g"), b: arr(n + ".b") });
    this.wte = arr("wte");
    this.wpe = arr("wpe");
    for (let l = 0; l < c.nLayers; l++) {
      const p = `h${l}.`;
      this.layers.push({ ln1: norm(p + "ln1"), qkv: dense(p + "qkv"), proj: dense(p + "proj"), ln2: norm(p + "ln2"), fc1: dense(p + "fc1"), fc2: dense(p + "fc2") });
    }
    this.lnf = norm("lnf");
    this.head = dense("head");
  }

  newCache(capacity = this.maxLen): KVCache {
    return new KVCache(this.layers.length, this.D, Math.min(capacity, this.maxLen));
  }

  private useTensors(R: number): boolean {
    return R >= (decoderSettings.tensorRows ?? (tf.getBackend() === "wasm" ? 1 : 8));
  }

  /** The MLP, fc2(gelu(fc1(x))): x (R, D) -> (R, D); on the backend, one upload and one read. */
  private mlp(x: Float32Array, R: number, L: Layer): Float32Array {
    if (!this.useTensors(R)) return this.dense(this.dense(x, R, L.fc1, true), R, L.fc2);
    let out: Float32Array | null = null;
    tf.tidy(() => {
      const h = tf.fused.matMul({ a: tf.tensor2d(x, [R, L.fc1.K]), b: L.fc1.wt, bias: L.fc1.bt });
      const g = tf.mul(h, tf.sigmoid(tf.mul(h, 1.702))) as tf.Tensor2D;
      out = tf.fused.matMul({ a: g, b: L.fc2.wt, bias: L.fc2.bt }).dataSync() as Float32Array;
    });
    return out!;
  }

  /** x (R, K) W + b -> (R, N), followed by GELU when `gelu`. */
  private dense(x: Float32Array, R: number, d: Dense, gelu = false): Float32Array {
    const { K, N } = d;
    if (this.useTensors(R)) {
      // (not returned from tidy: tidy would walk every element of a typed array looking for tensors)
      let out: Float32Array | null = null;
      tf.tidy(() => {
        const y = tf.fused.matMul({ a: tf.tensor2d(x, [R, K]), b: d.wt, bias: d.bt });
        out = (gelu ? tf.mul(y, tf.sigmoid(tf.mul(y, 1.702))) : y).dataSync() as Float32Array;
      });
      return out!;
    }
    // dot products against the transposed weights, 4 accumulators (2-3x the speed of axpy rows in V8)
    const out = new Float32Array(R * N);
    const wT = d.wT;
    const K4 = K - (K % 4);
    for (let r = 0; r < R; r++) {
      const xo = r * K;
      for (let j = 0; j < N; j++) {
        const wo = j * K;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let k = 0;
        for (; k < K4; k += 4) {
          s0 += x[xo + k]! * wT[wo + k]!;
          s1 += x[xo + k + 1]! * wT[wo + k + 1]!;
          s2 += x[xo + k + 2]! * wT[wo + k + 2]!;
          s3 += x[xo + k + 3]! * wT[wo + k + 3]!;
        }
        for (; k < K; k++) s0 += x[xo + k]! * wT[wo + k]!;
        out[r * N + j] = d.b[j]! + s0 + s1 + s2 + s3;
      }
    }
    if (gelu) {
      for (let i = 0; i < out.length; i++) {
        const v = out[i]!;
        out[i] = v / (1 + Math.exp(-1.702 * v));
      }
    }
    return out;
  }

  private layerNorm(x: Float32Array, R: number, n: Norm): Float32Array {
    const D = this.D;
    const out = new Float32Array(R * D);
    for (let r = 0; r < R; r++) {
      const o = r * D;
      let mean = 0;
      for (let i = 0; i < D; i++) mean += x[o + i]!;
      mean /= D;
      let v = 0;
      for (let i = 0; i < D; i++) {
        const c = x[o + i]! - mean;
        v += c * c;
      }
      const rstd = 1 / Math.sqrt(v / D + 1e-5);
      for (let i = 0; i < D; i++) out[o + i] = (x[o + i]! - mean) * rstd * n.g[i]! + n.b[i]!;
    }
    return out;
  }

  /**
   * Appends one token to each row's cache and returns the next-token logits (R, V). Several rows
   * may share a cache (prefill): they must be consecutive positions in order.
   */
  forward(rows: readonly DecodeRow[]): Float32Array {
    const R = rows.length;
    const { D, H } = this;
    const hs = D / H;
    const pos = rows.map((r) => {
      const p = r.cache.len++;
      if (p >= r.cache.capacity) throw new Error(`KV cache full (capacity ${r.cache.capacity})`);
      return p;
    });
    let x: Float32Array = new Float32Array(R * D);
    rows.forEach((r, i) => {
      if (r.token < 0 || r.token >= this.V) throw new Error(`token id ${r.token} outside the vocabulary`);
      for (let e = 0; e < D; e++) x[i * D + e] = this.wte[r.token * D + e]! + this.wpe[pos[i]! * D + e]!;
    });
    const scale = 1 / Math.sqrt(hs);
    const scores = this.scores;
    this.layers.forEach((L, l) => {
      const qkv = this.dense(this.layerNorm(x, R, L.ln1), R, L.qkv); // (R, 3D)
      const att = new Float32Array(R * D); // (R, D)
      for (let i = 0; i < R; i++) {
        const c = rows[i]!.cache;
        const K = c.k[l]!;
        const V = c.v[l]!;
        for (let e = 0, dst = pos[i]! * D, src = i * 3 * D + D; e < D; e++) {
          K[dst + e] = qkv[src + e]!;
          V[dst + e] = qkv[src + D + e]!;
        }
        attendRow(qkv, i * 3 * D, K, V, pos[i]! + 1, D, H, att, i * D, scores, scale);
      }
      const proj = this.dense(att, R, L.proj);
      for (let i = 0; i < x.length; i++) x[i] += proj[i]!;
      const m = this.mlp(this.layerNorm(x, R, L.ln2), R, L); // (R, D)
      for (let i = 0; i < x.length; i++) x[i] += m[i]!;
    });
    x = this.layerNorm(x, R, this.lnf);
    return this.dense(x, R, this.head); // (R, V)
  }

  dispose(): void {
    for (const t of this.kept) t.dispose();
    this.kept.length = 0;
  }
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default): greedy. */
  temperature?: number;
  seed?: number;
  /** Sequences decoded together. */
  batchSize?: number;
  /** Token that ends a response. */
  eosId: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface Generation {
  /** Generated ids, without the end marker. */
  tokens: number[];
  /** True when the end marker was generated, false when a length limit stopped it. */
  stopped: boolean;
}

function pick(logits: Float32Array, off: number, V: number, temperature: number, rng: Rng): number {
  if (temperature <= 0) {
    let best = 0;
    for (let j = 1; j < V; j++) if (logits[off + j]! > logits[off + best]!) best = j;
    return best;
  }
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, logits[off + j]!);
  const p = new Float64Array(V);
  let sum = 0;
  for (let j = 0; j < V; j++) sum += p[j] = Math.exp((logits[off + j]! - max) / temperature);
  let u = rng.next() * sum;
  for (let j = 0; j < V; j++) if ((u -= p[j]!) <= 0) return j;
  return V - 1;
}

/**
 * Decodes continuations of `prompts` (token ids, e.g. `<bos> prompt <resp>`), `batchSize` at a
 * time, until the end marker, `maxNewTokens`, or the model's context is full.
 */
export async function generate(decoder: Decoder, prompts: readonly number[][], opts: GenerateOptions): Promise<Generation[]> {
  const temperature = opts.temperature ?? 0;
  const rng = makeRng(opts.seed ?? 0, "sample");
  // KV caches are 2 x layers x context x D floats a row: keep a chunk's caches under ~256 MB.
  const longest = prompts.reduce((m, p) => Math.max(m, p.length), 0);
  const rowFloats = 2 * decoder.layers.length * decoder.D * Math.min(decoder.maxLen, longest + opts.maxNewTokens);
  const batchSize = Math.max(1, Math.min(opts.batchSize ?? 32, Math.floor(MAX_CACHE_FLOATS / rowFloats)));
  const out: Generation[] = new Array(prompts.length);
  const V = decoder.V;
  for (let start = 0; start < prompts.length; start += batchSize) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    const chunk = prompts.slice(start, start + batchSize).map((p) => (p.length >= decoder.maxLen ? p.slice(p.length - decoder.maxLen + 1) : p));
    const caches = chunk.map((p) => decoder.newCache(p.length + opts.maxNewTokens));
    // Prefill: every prompt token of the chunk in one pass; keep each prompt's last logits.
    const rows: DecodeRow[] = [];
    const lastRow: number[] = [];
    chunk.forEach((p, i) => {
      if (p.length === 0) throw new Error(`prompt ${start + i} is empty`);
      p.forEach((token) => rows.push({ cache: caches[i]!, token }));
      lastRow.push(rows.length - 1);
    });
    const pre = decoder.forward(rows);
    const gens: Generation[] = chunk.map(() => ({ tokens: [], stopped: false }));
    let next = lastRow.map((r) => pick(pre, r * V, V, temperature, rng));
    let active = chunk.map((_, i) => i);
    let steps = 0;
    for (;;) {
      const still: number[] = [];
      const nextTokens: number[] = [];
      active.forEach((i, a) => {
        const tok = next[a]!;
        const g = gens[i]!;
        if (tok === opts.eosId) {
          g.stopped = true;
          return;
        }
        g.tokens.push(tok);
        if (g.tokens.length >= opts.maxNewTokens || caches[i]!.len >= caches[i]!.capacity) return;
        still.push(i);
        nextTokens.push(tok);
      });
      active = still;
      if (active.length === 0) break;
      // Yield now and then so an abort (the kernel's interrupt) can arrive mid-chunk.
      if (++steps % 16 === 0) {
        await new Promise<void>((r) => setImmediate(r));
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
      }
      const logits = decoder.forward(active.map((i, a) => ({ cache: caches[i]!, token: nextTokens[a]! })));
      next = active.map((_, a) => pick(logits, a * V, V, temperature, rng));
    }
    gens.forEach((g, i) => (out[start + i] = g));
    opts.onProgress?.(Math.min(prompts.length, start + batchSize), prompts.length);
    await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}
