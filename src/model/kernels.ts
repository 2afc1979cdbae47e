/**
 * Layout and matrix primitives the student's layers are built from, each in two implementations:
 *
 * - fast (wasm backend): the only fast op on tfjs-wasm is a 2-D, non-transposed matMul (XNNPACK).
 *   Head split/merge and transposes run as JavaScript loops over the wasm heap (no copy of the
 *   input, unlike wasm's Slice/Transpose), and per-(batch, head) attention products call the
 *   backend's matMul on zero-copy views of one contiguous buffer.
 * - generic (any backend; tfjs-node-gpu, cpu): plain tfjs ops (reshape, transpose, batched matMul).
 *
 * Both compute the same numbers; tests compare them.
 */
import * as tf from "@tensorflow/tfjs";
import { blas } from "./blas.js";

type Mode = "auto" | "generic";
let mode: Mode = "auto";

/** Forces the generic implementations (tests compare the two); "auto" uses the fast one on wasm. */
export function setKernelMode(m: Mode): void {
  mode = m;
}

interface WasmData {
  id: number;
  memoryOffset: number;
}
interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    _malloc: (bytes: number) => number;
    _free: (ptr: number) => void;
    _BatchMatMul: (aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number, transposeA: number, transposeB: number, outId: number) => void;
    _Softmax: (xId: number, outId: number, channels: number, batch: number) => void;
    tfjs: { disposeData: (id: number) => void; registerTensor: (id: number, size: number, offset: number) => void };
  };
  dataIdNextNumber: number;
  dataIdMap: { get(d: object): WasmData; delete(d: object): void };
  disposeData(d: object): boolean;
  makeOutput(shape: number[], dtype: "float32", memoryOffset?: number): tf.TensorInfo;
}

function wasmBackend(): WasmBackend | null {
  if (mode === "generic" || tf.getBackend() !== "wasm") return null;
  shareIdentityOnWasm();
  return tf.backend() as unknown as WasmBackend;
}

let identityShared = false;
/**
 * tfjs-wasm's Identity kernel copies its input; tf.customGrad clones every tensor it saves for the
 * backward pass through it (the attention probabilities alone are B*H*T*T floats a layer). Tensors
 * are immutable, so the clone can share the data with a reference count, as the cpu backend does.
 */
function shareIdentityOnWasm(): void {
  if (identityShared) return;
  identityShared = true;
  const kernel = tf.getKernel("Identity", "wasm");
  if (!kernel) return;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return kernel.kernelFunc({ inputs, backend, attrs: {} });
      (backend as unknown as { incRef(d: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/** True when the fast (wasm) implementations are in use. */
export function usingFastKernels(): boolean {
  return wasmBackend() !== null;
}

function heapF32(be: WasmBackend, t: tf.TensorInfo, size: number): Float32Array {
  return new Float32Array(be.wasm.HEAPU8.buffer, be.dataIdMap.get(t.dataId).memoryOffset, size);
}

/**
 * The whole wasm heap as floats (take it after allocating: allocation may grow the heap). Head
 * layouts move hs-float runs with copyWithin on it (a memmove; 2x a JavaScript loop at hs = 32).
 */
function heapAll(be: WasmBackend): Float32Array {
  const buf = be.wasm.HEAPU8.buffer;
  return new Float32Array(buf, 0, buf.byteLength >>> 2);
}

/** Allocates an output, then returns views of it and of the inputs (allocation may grow the heap). */
function withOutput<T extends tf.Tensor>(
  be: WasmBackend,
  shape: number[],
  inputs: tf.Tensor[],
  fill: (out: Float32Array, ins: Float32Array[]) => void,
): T {
  const info = be.makeOutput(shape, "float32");
  const size = shape.reduce((a, b) => a * b, 1);
  fill(
    heapF32(be, info, size),
    inputs.map((t) => heapF32(be, t, t.size)),
  );
  return tf.engine().makeTensorFromTensorInfo(info) as T;
}

/** x (R, C) -> x^T (C, R). */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const be = wasmBackend();
  if (!be) return tf.transpose(x);
  const [R, C] = x.shape;
  return withOutput<tf.Tensor2D>(be, [C, R], [x], (o, [a]) => transposeInto(a!, 0, o, 0, R, C));
}

/** a[ia..] (R, C) -> o[oa..] (C, R), both contiguous. */
function transposeInto(a: Float32Array, ia0: number, o: Float32Array, oa: number, R: number, C: number): void {
  transposeStrided(a, ia0, C, o, oa, R, R, C);
}

/** x (n, R, C) -> (n, C, R): every block transposed. */
export function blockTranspose(x: tf.Tensor3D): tf.Tensor3D {
  const be = wasmBackend();
  if (!be) return tf.transpose(x, [0, 2, 1]);
  const [n, R, C] = x.shape;
  return withOutput<tf.Tensor3D>(be, [n, C, R], [x], (o, [a]) => {
    for (let b = 0; b < n; b++) transposeInto(a!, b * R * C, o, b * R * C, R, C);
  });
}

/**
 * `count` products a (M, K) x b (K, N) -> o (M, N) on views of the heap; `at(i)` gives the float
 * offsets of product i's a, b and o. The backend's own BatchMatMul entry point is called directly: each
 * view is registered with the wasm side under a fresh id (never reused, so XNNPACK's packed-operand
 * cache, keyed by id, cannot confuse views), used, and forgotten without freeing: the memory is the
 * caller's tensors'.
 */
function viewMatMuls(be: WasmBackend, M: number, K: number, N: number, count: number, at: (i: number) => readonly [number, number, number]): void {
  const lib = blas();
  if (lib) {
    const offs = new Float64Array(3 * count);
    for (let i = 0; i < count; i++) {
      const [a, b, o] = at(i);
      offs[3 * i] = 4 * a;
      offs[3 * i + 1] = 4 * b;
      offs[3 * i + 2] = 4 * o;
    }
    lib.gemmMany(be.wasm.HEAPU8.buffer as ArrayBuffer, M, N, K, offs, false, false);
    return;
  }
  const w = be.wasm;
  const shapes = w._malloc(24);
  new Int32Array(w.HEAPU8.buffer, shapes, 6).set([1, M, K, 1, K, N]);
  try {
    for (let i = 0; i < count; i++) {
      const [a, b, o] = at(i);
      const ia = be.dataIdNextNumber++;
      const ib = be.dataIdNextNumber++;
      const io = be.dataIdNextNumber++;
      w.tfjs.registerTensor(ia, M * K, 4 * a);
      w.tfjs.registerTensor(ib, K * N, 4 * b);
      w.tfjs.registerTensor(io, M * N, 4 * o);
      w._BatchMatMul(ia, shapes, 3, ib, shapes + 12, 3, 0, 0, io);
      w.tfjs.disposeData(ia);
      w.tfjs.disposeData(ib);
      w.tfjs.disposeData(io);
    }
  } finally {
    w._free(shapes);
  }
}

/** Row-wise softmax of x (rows, channels) into o, views at float offsets of the heap (wasm's XNNPACK softmax). */
function viewSoftmax(be: WasmBackend, xOff: number, oOff: number, rows: number, channels: number): void {
  const w = be.wasm;
  const ix = be.dataIdNextNumber++;
  const io = be.dataIdNextNumber++;
  w.tfjs.registerTensor(ix, rows * channels, 4 * xOff);
  w.tfjs.registerTensor(io, rows * channels, 4 * oOff);
  w._Softmax(ix, io, channels, rows);
  w.tfjs.disposeData(ix);
  w.tfjs.disposeData(io);
}

/** a (n, M, K) x b (n, K, N) -> (n, M, N), one 2-D product per block. */
export function blockMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const be = wasmBackend();
  if (!be) return tf.matMul(a, b);
  const [n, M, K] = a.shape;
  const [nb, K2, N] = b.shape;
  if (n !== nb || K !== K2) throw new Error(`blockMatMul: shapes ${a.shape} and ${b.shape} do not match`);
  const out = be.makeOutput([n, M, N], "float32");
  const ao = be.dataIdMap.get(a.dataId).memoryOffset >>> 2;
  const bo = be.dataIdMap.get(b.dataId).memoryOffset >>> 2;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  viewMatMuls(be, M, K, N, n, (i) => [ao + i * M * K, bo + i * K * N, oo + i * M * N]);
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor3D;
}

/**
 * Splits fused projections qkv (B*T, 3D) into per-(batch, head) blocks:
 * q (B*H, T, hs) multiplied by `qScale`, kT (B*H, hs, T), v (B*H, T, hs).
 */
export function splitQKV(qkv: tf.Tensor2D, B: number, T: number, H: number, qScale: number): { q: tf.Tensor3D; kT: tf.Tensor3D; v: tf.Tensor3D } {
  const D = qkv.shape[1] / 3;
  const hs = D / H;
  const be = wasmBackend();
  if (!be) {
    return tf.tidy(() => {
      const r = qkv.reshape([B, T, 3, H, hs]);
      const part = (i: number) => r.slice([0, 0, i, 0, 0], [B, T, 1, H, hs]).reshape([B, T, H, hs]);
      return {
        q: part(0).transpose([0, 2, 1, 3]).reshape([B * H, T, hs]).mul(qScale) as tf.Tensor3D,
        kT: part(1).transpose([0, 2, 3, 1]).reshape([B * H, hs, T]) as tf.Tensor3D,
        v: part(2).transpose([0, 2, 1, 3]).reshape([B * H, T, hs]) as tf.Tensor3D,
      };
    });
  }
  const q = withOutput<tf.Tensor3D>(be, [B * H, T, hs], [qkv], (o, [x]) => {
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const src = (b * T + t) * 3 * D;
        for (let h = 0; h < H; h++) {
          const dst = ((b * H + h) * T + t) * hs;
          for (let e = 0; e < hs; e++) o[dst + e] = x![src + h * hs + e]! * qScale;
        }
      }
  });
  const kT = fromRowsToHeadsT(be, qkv, B, T, H, D, D, 1);
  const v = fromRowsToHeads(be, qkv, B, T, H, 2 * D, D);
  return { q, kT, v };
}

/** Columns [off, off+D) of rows x (B*T, stride) -> heads (B*H, T, D/H). */
function fromRowsToHeads(be: WasmBackend, x: tf.Tensor2D, B: number, T: number, H: number, off: number, D: number): tf.Tensor3D {
  const stride = x.shape[1];
  const hs = D / H;
  const out = be.makeOutput([B * H, T, hs], "float32");
  const heap = heapAll(be);
  const ao = be.dataIdMap.get(x.dataId).memoryOffset >>> 2;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const src = ao + (b * T + t) * stride + off;
      for (let h = 0; h < H; h++) heap.copyWithin(oo + ((b * H + h) * T + t) * hs, src + h * hs, src + h * hs + hs);
    }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor3D;
}

/** Heads (B*H, T, hs) -> rows (B*T, D). */
export function fromHeads(x: tf.Tensor3D, B: number, T: number, H: number): tf.Tensor2D {
  const hs = x.shape[2];
  const D = H * hs;
  const be = wasmBackend();
  if (!be) return tf.tidy(() => x.reshape([B, H, T, hs]).transpose([0, 2, 1, 3]).reshape([B * T, D]) as tf.Tensor2D);
  const out = be.makeOutput([B * T, D], "float32");
  const heap = heapAll(be);
  const ao = be.dataIdMap.get(x.dataId).memoryOffset >>> 2;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const src = ao + ((b * H + h) * T + t) * hs;
        heap.copyWithin(oo + (b * T + t) * D + h * hs, src, src + hs);
      }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor2D;
}

/** Columns [off, off+D) of rows x (B*T, stride), times `scale` -> transposed heads (B*H, D/H, T). */
function fromRowsToHeadsT(be: WasmBackend, x: tf.Tensor2D, B: number, T: number, H: number, off: number, D: number, scale: number): tf.Tensor3D {
  const stride = x.shape[1];
  const hs = D / H;
  return withOutput<tf.Tensor3D>(be, [B * H, hs, T], [x], (o, [a]) => {
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let e = 0; e < hs; e++) {
          const dst = ((b * H + h) * hs + e) * T;
          const src = b * T * stride + off + h * hs + e;
          for (let t = 0; t < T; t++) o[dst + t] = a![src + t * stride]! * scale;
        }
  });
}

/** Generic version: columns [off, off+D) of x (B*T, stride) -> (B*H, T, hs), or (B*H, hs, T) transposed. */
function headsGeneric(x: tf.Tensor2D, B: number, T: number, H: number, off: number, D: number, transposed: boolean, scale = 1): tf.Tensor3D {
  return tf.tidy(() => {
    const hs = D / H;
    const part = x.slice([0, off], [B * T, D]).reshape([B, T, H, hs]);
    const r = transposed ? part.transpose([0, 2, 3, 1]).reshape([B * H, hs, T]) : part.transpose([0, 2, 1, 3]).reshape([B * H, T, hs]);
    return (scale === 1 ? r : r.mul(scale)) as tf.Tensor3D;
  });
}

/**
 * What attention's backward pass needs from qkv (B*T, 3D) and the output gradient dy (B*T, D):
 * k (B*H, T, hs), vT (B*H, hs, T) and dO (B*H, T, hs).
 */
export function attentionBackwardLayouts(qkv: tf.Tensor2D, dy: tf.Tensor2D, B: number, T: number, H: number) {
  const D = qkv.shape[1] / 3;
  const be = wasmBackend();
  if (!be) {
    return {
      k: headsGeneric(qkv, B, T, H, D, D, false),
      vT: headsGeneric(qkv, B, T, H, 2 * D, D, true),
      dO: headsGeneric(dy, B, T, H, 0, D, false),
    };
  }
  return {
    k: fromRowsToHeads(be, qkv, B, T, H, D, D),
    vT: fromRowsToHeadsT(be, qkv, B, T, H, 2 * D, D, 1),
    dO: fromRowsToHeads(be, dy, B, T, H, 0, D),
  };
}

/**
 * Causal attention on wasm in row blocks, skipping the masked upper triangle of each (T, T)
 * matrix. Rows are cut into blocks at multiples of kernelSettings.attentionBlockRows; row block i
 * (rows r_i..r_{i+1}) only attends to columns below c_i = r_{i+1}, so a score matrix is stored
 * packed, block after block, each block holding (rows of the block, c_i) for every (batch, head):
 * with k blocks, (k + 1) / 2k of the full matrix. Every product is a 2-D matMul on contiguous views:
 *
 *   forward   S_i  = Q_i K[:c_i]^T    P_i = softmax(S_i, masked in its last columns)   O_i = P_i V[:c_i]
 *   backward  dP_i = dO_i V[:c_i]^T   dS_i = P_i (dP_i - rowsum(dO_i O_i))
 *             dQ_i = dS_i K[:c_i]     dK_j = (dS^T)_j Q[r_j:]    dV_j = (P^T)_j dO[r_j:]
 *
 * where (X^T)_j is row block j of the transpose: the columns of block j over rows r_j..T. The
 * omitted entries are exact zeros in the full computation (exp underflows to 0 for masked scores)
 * and every product sums over its shared dimension in the same order, so the results are the
 * full computation's, bit for bit (tested).
 */
export function causalBlocks(T: number): number[] {
  const rb = kernelSettings.attentionBlockRows;
  if (!(rb > 0) || T <= rb) return [0, T];
  const bounds: number[] = [];
  for (let r = 0; r < T; r += rb) bounds.push(r);
  bounds.push(T);
  return bounds;
}

/** Offsets (in floats, per block) of a packed lower-block-triangular layout: block i holds n x rows_i x cols_i. */
function packedOffsets(bounds: number[], n: number, rows: (i: number) => number, cols: (i: number) => number): { at: number[]; size: number } {
  const at: number[] = [];
  let size = 0;
  for (let i = 0; i + 1 < bounds.length; i++) {
    at.push(size);
    size += n * rows(i) * cols(i);
  }
  return { at, size };
}

/** Per block i: x's (n, R, T) blocks cut to their first c_i = bounds[i+1] columns, packed (n, R, c_i) block after block. */
function columnPrefixes(be: WasmBackend, x: tf.Tensor3D, bounds: number[]): { t: tf.TensorInfo; at: number[] } {
  const [n, R, T] = x.shape;
  const lay = packedOffsets(bounds, n, () => R, (i) => bounds[i + 1]!);
  const out = be.makeOutput([lay.size], "float32");
  const heap = heapAll(be);
  const xo = be.dataIdMap.get(x.dataId).memoryOffset >>> 2;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const c = bounds[i + 1]!;
    for (let b = 0; b < n; b++)
      for (let r = 0; r < R; r++) {
        const src = xo + (b * R + r) * T;
        heap.copyWithin(oo + lay.at[i]! + (b * R + r) * c, src, src + c);
      }
  }
  return { t: out, at: lay.at };
}

/**
 * From a packed row-block matrix x (block i: n x rb_i x c_i) to the packed transposed column
 * blocks (block j: n x rb_j x (T - r_j)), element [a, t - r_j] = x[t, r_j + a] for t >= r_j.
 */
function packedTranspose(be: WasmBackend, x: tf.TensorInfo, n: number, bounds: number[]): { t: tf.TensorInfo; at: number[] } {
  const T = bounds[bounds.length - 1]!;
  const rb = (i: number) => bounds[i + 1]! - bounds[i]!;
  const src = packedOffsets(bounds, n, rb, (i) => bounds[i + 1]!);
  const dst = packedOffsets(bounds, n, rb, (j) => T - bounds[j]!);
  const out = be.makeOutput([dst.size], "float32");
  const heap = heapAll(be);
  const xo = be.dataIdMap.get(x.dataId).memoryOffset >>> 2;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const ri = bounds[i]!, mi = rb(i), ci = bounds[i + 1]!;
    for (let b = 0; b < n; b++) {
      const blockRow = xo + src.at[i]! + b * mi * ci;
      for (let j = 0; j <= i; j++) {
        const rj = bounds[j]!, w = T - rj;
        // rows ri.. of x, columns rj..rj+rb_j -> rows 0..rb_j of block j, columns ri-rj..
        transposeStrided(heap, blockRow + rj, ci, heap, oo + dst.at[j]! + b * rb(j) * w + (ri - rj), w, mi, rb(j));
      }
    }
  }
  return { t: out, at: dst.at };
}

/**
 * a[ia..] (R, C) with row stride aStride -> o[oa..] (C, R) with row stride oStride. Bands of 64 rows,
 * four columns at a time: one contiguous read of 4 floats and four streams of contiguous writes
 * (1.6-1.9x the speed of one column at a time in V8).
 */
function transposeStrided(a: Float32Array, ia0: number, aStride: number, o: Float32Array, oa: number, oStride: number, R: number, C: number): void {
  const C4 = C - (C % 4);
  for (let r0 = 0; r0 < R; r0 += 64) {
    const r1 = Math.min(R, r0 + 64);
    let c = 0;
    for (; c < C4; c += 4) {
      const o0 = oa + c * oStride;
      const o1 = o0 + oStride;
      const o2 = o1 + oStride;
      const o3 = o2 + oStride;
      for (let r = r0, ia = ia0 + r0 * aStride + c; r < r1; r++, ia += aStride) {
        o[o0 + r] = a[ia]!;
        o[o1 + r] = a[ia + 1]!;
        o[o2 + r] = a[ia + 2]!;
        o[o3 + r] = a[ia + 3]!;
      }
    }
    for (; c < C; c++) for (let r = r0, ia = ia0 + r0 * aStride + c, ob = oa + c * oStride; r < r1; r++, ia += aStride) o[ob + r] = a[ia]!;
  }
}

const offsetOf = (be: WasmBackend, t: tf.TensorInfo) => be.dataIdMap.get(t.dataId).memoryOffset >>> 2;

/**
 * Forward pass of causal attention in row blocks (see causalBlocks) on qkv (B*T, 3D). Returns the
 * output heads o (B*H, T, hs), the scaled queries q (B*H, T, hs) and the packed probabilities p,
 * which the backward pass takes. Null off wasm or when T fits in one block.
 */
export function causalAttentionFast(qkv: tf.Tensor2D, B: number, T: number, H: number, qScale: number): { o: tf.Tensor3D; q: tf.Tensor3D; p: tf.Tensor1D } | null {
  const be = wasmBackend();
  const bounds = causalBlocks(T);
  if (!be || bounds.length <= 2) return null;
  const nb = bounds.length - 1;
  const n = B * H;
  const hs = qkv.shape[1] / 3 / H;
  const rb = (i: number) => bounds[i + 1]! - bounds[i]!;
  const { q, kT, v } = splitQKV(qkv, B, T, H, qScale);
  const kTp = columnPrefixes(be, kT, bounds);
  kT.dispose();
  const lay = packedOffsets(bounds, n, rb, (i) => bounds[i + 1]!);
  const s = be.makeOutput([lay.size], "float32");
  const [qo, kpo, so] = [offsetOf(be, q), offsetOf(be, kTp.t), offsetOf(be, s)];
  for (let i = 0; i < nb; i++) {
    const m = rb(i), c = bounds[i + 1]!;
    viewMatMuls(be, m, hs, c, n, (b) => [qo + (b * T + bounds[i]!) * hs, kpo + kTp.at[i]! + b * hs * c, so + lay.at[i]! + b * m * c]);
  }
  be.disposeData(kTp.t.dataId);
  // the causal mask, on the last block of columns of each row block: row t sees columns <= t
  const heap = heapAll(be);
  for (let i = 0; i < nb; i++) {
    const ri = bounds[i]!, m = rb(i), c = bounds[i + 1]!;
    for (let b = 0; b < n; b++)
      for (let r = 0; r < m; r++) {
        const row = so + lay.at[i]! + (b * m + r) * c;
        for (let u = ri + r + 1; u < c; u++) heap[row + u] = heap[row + u]! + -1e9;
      }
  }
  const p = be.makeOutput([lay.size], "float32");
  const po = offsetOf(be, p);
  for (let i = 0; i < nb; i++) viewSoftmax(be, so + lay.at[i]!, po + lay.at[i]!, n * rb(i), bounds[i + 1]!);
  be.disposeData(s.dataId);
  const o = be.makeOutput([n, T, hs], "float32");
  const [vo, oo] = [offsetOf(be, v), offsetOf(be, o)];
  for (let i = 0; i < nb; i++) {
    const m = rb(i), c = bounds[i + 1]!;
    viewMatMuls(be, m, c, hs, n, (b) => [po + lay.at[i]! + b * m * c, vo + b * T * hs, oo + (b * T + bounds[i]!) * hs]);
  }
  v.dispose();
  const eng = tf.engine();
  return { o: eng.makeTensorFromTensorInfo(o) as tf.Tensor3D, q, p: eng.makeTensorFromTensorInfo(p) as tf.Tensor1D };
}

/**
 * Backward pass of causalAttentionFast: from qkv (B*T, 3D), the output gradient dy (B*T, D) and
 * the forward pass's q, p and o, the gradient of qkv (B*T, 3D).
 */
export function causalAttentionGradFast(qkv: tf.Tensor2D, dy: tf.Tensor2D, q: tf.Tensor3D, p: tf.Tensor1D, o: tf.Tensor3D, B: number, T: number, H: number, qScale: number): tf.Tensor2D {
  const be = wasmBackend();
  const bounds = causalBlocks(T);
  if (!be || bounds.length <= 2) throw new Error("causalAttentionGradFast: needs the wasm backend and more than one row block");
  const nb = bounds.length - 1;
  const n = B * H;
  const hs = q.shape[2];
  const rb = (i: number) => bounds[i + 1]! - bounds[i]!;
  const lay = packedOffsets(bounds, n, rb, (i) => bounds[i + 1]!);
  const { k, vT, dO } = attentionBackwardLayouts(qkv, dy, B, T, H);
  const vTp = columnPrefixes(be, vT, bounds);
  vT.dispose();
  const eng = tf.engine();
  // dV_j = (P^T)_j dO[r_j:]
  const pT = packedTranspose(be, p, n, bounds);
  const dV = be.makeOutput([n, T, hs], "float32");
  {
    const [pto, doo, dvo] = [offsetOf(be, pT.t), offsetOf(be, dO), offsetOf(be, dV)];
    for (let j = 0; j < nb; j++) {
      const m = rb(j), w = T - bounds[j]!;
      viewMatMuls(be, m, w, hs, n, (b) => [pto + pT.at[j]! + b * m * w, doo + (b * T + bounds[j]!) * hs, dvo + (b * T + bounds[j]!) * hs]);
    }
  }
  be.disposeData(pT.t.dataId);
  // dP_i = dO_i V[:c_i]^T, then dS_i = P_i (dP_i - rowsum(dO O)) in place (float32 at every step, as tf.sub and tf.mul)
  const dots = rowDots(dO, o);
  const dS = be.makeOutput([lay.size], "float32");
  {
    const [doo, vpo, dso] = [offsetOf(be, dO), offsetOf(be, vTp.t), offsetOf(be, dS)];
    for (let i = 0; i < nb; i++) {
      const m = rb(i), c = bounds[i + 1]!;
      viewMatMuls(be, m, hs, c, n, (b) => [doo + (b * T + bounds[i]!) * hs, vpo + vTp.at[i]! + b * hs * c, dso + lay.at[i]! + b * m * c]);
    }
    be.disposeData(vTp.t.dataId);
    const heap = heapAll(be);
    const [po, ro] = [offsetOf(be, p), offsetOf(be, dots)];
    for (let i = 0; i < nb; i++) {
      const m = rb(i), c = bounds[i + 1]!;
      for (let b = 0; b < n; b++)
        for (let r = 0; r < m; r++) {
          const row = lay.at[i]! + (b * m + r) * c;
          const rowDot = heap[ro + b * T + bounds[i]! + r]!;
          for (let u = 0; u < c; u++) heap[dso + row + u] = heap[po + row + u]! * Math.fround(heap[dso + row + u]! - rowDot);
        }
    }
  }
  dots.dispose();
  // dQ_i = dS_i K[:c_i]
  const dQ = be.makeOutput([n, T, hs], "float32");
  {
    const [dso, ko, dqo] = [offsetOf(be, dS), offsetOf(be, k), offsetOf(be, dQ)];
    for (let i = 0; i < nb; i++) {
      const m = rb(i), c = bounds[i + 1]!;
      viewMatMuls(be, m, c, hs, n, (b) => [dso + lay.at[i]! + b * m * c, ko + b * T * hs, dqo + (b * T + bounds[i]!) * hs]);
    }
  }
  k.dispose();
  // dK_j = (dS^T)_j Q[r_j:]
  const dST = packedTranspose(be, dS, n, bounds);
  be.disposeData(dS.dataId);
  const dK = be.makeOutput([n, T, hs], "float32");
  {
    const [dsto, qo, dko] = [offsetOf(be, dST.t), offsetOf(be, q), offsetOf(be, dK)];
    for (let j = 0; j < nb; j++) {
      const m = rb(j), w = T - bounds[j]!;
      viewMatMuls(be, m, w, hs, n, (b) => [dsto + dST.at[j]! + b * m * w, qo + (b * T + bounds[j]!) * hs, dko + (b * T + bounds[j]!) * hs]);
    }
  }
  be.disposeData(dST.t.dataId);
  dO.dispose();
  const [dq, dk, dv] = [dQ, dK, dV].map((t) => eng.makeTensorFromTensorInfo(t) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  const grad = mergeQKVGrads(dq, dk, dv, B, T, H, qScale);
  dq.dispose();
  dk.dispose();
  dv.dispose();
  return grad;
}

/**
 * Embedding gradients on wasm in one JavaScript pass over dy (B*T, D): the token rows summed by id
 * into dte (V, D), the positions summed over the batch into dpe (maxLen, D; zero past T). Replaces
 * two matMuls whose right operand (dy) XNNPACK would pack twice. Null off wasm.
 */
export function embedGradFast(dy: tf.Tensor2D, ids: ArrayLike<number>, V: number, T: number, maxLen: number): { dte: tf.Tensor2D; dpe: tf.Tensor2D } | null {
  const be = wasmBackend();
  if (!be) return null;
  const [N, D] = dy.shape;
  const te = be.makeOutput([V, D], "float32");
  const pe = be.makeOutput([maxLen, D], "float32");
  const [G, DTE, DPE] = [heapF32(be, dy, N * D), heapF32(be, te, V * D), heapF32(be, pe, maxLen * D)] as [Float32Array, Float32Array, Float32Array];
  DTE.fill(0);
  DPE.fill(0);
  for (let i = 0; i < N; i++) {
    const src = i * D;
    const to = ids[i]! * D;
    const po = (i % T) * D;
    for (let e = 0; e < D; e++) {
      const g = G[src + e]!;
      DTE[to + e] += g;
      DPE[po + e] += g;
    }
  }
  const eng = tf.engine();
  return { dte: eng.makeTensorFromTensorInfo(te) as tf.Tensor2D, dpe: eng.makeTensorFromTensorInfo(pe) as tf.Tensor2D };
}

/** Row-wise dot products: a, b (n, T, C) -> (n, T, 1). */
export function rowDots(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [n, T, C] = a.shape;
  const be = wasmBackend();
  if (!be) return tf.sum(tf.mul(a, b), 2, true) as tf.Tensor3D;
  return withOutput<tf.Tensor3D>(be, [n, T, 1], [a, b], (o, [x, y]) => {
    const C4 = C - (C % 4);
    for (let r = 0; r < n * T; r++) {
      const off = r * C;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let e = 0;
      for (; e < C4; e += 4) {
        s0 += x![off + e]! * y![off + e]!;
        s1 += x![off + e + 1]! * y![off + e + 1]!;
        s2 += x![off + e + 2]! * y![off + e + 2]!;
        s3 += x![off + e + 3]! * y![off + e + 3]!;
      }
      for (; e < C; e++) s0 += x![off + e]! * y![off + e]!;
      o[r] = s0 + s1 + s2 + s3;
    }
  });
}

/** Gradients dQ (of q times qScale), dK, dV, all (B*H, T, hs) -> the gradient of qkv (B*T, 3D). */
export function mergeQKVGrads(dQ: tf.Tensor3D, dK: tf.Tensor3D, dV: tf.Tensor3D, B: number, T: number, H: number, qScale: number): tf.Tensor2D {
  const hs = dQ.shape[2];
  const D = H * hs;
  const be = wasmBackend();
  if (!be) {
    return tf.tidy(() => {
      const rows = (x: tf.Tensor) => x.reshape([B, H, T, hs]).transpose([0, 2, 1, 3]).reshape([B * T, D]);
      return tf.concat([rows(dQ).mul(qScale), rows(dK), rows(dV)], 1) as tf.Tensor2D;
    });
  }
  const out = be.makeOutput([B * T, 3 * D], "float32");
  const heap = heapAll(be);
  const [qo, ko, vo] = [dQ, dK, dV].map((t) => be.dataIdMap.get(t.dataId).memoryOffset >>> 2) as [number, number, number];
  const oo = be.dataIdMap.get(out.dataId).memoryOffset >>> 2;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const src = ((b * H + h) * T + t) * hs;
        const dst = oo + (b * T + t) * 3 * D + h * hs;
        for (let e = 0; e < hs; e++) heap[dst + e] = heap[qo + src + e]! * qScale;
        heap.copyWithin(dst + D, ko + src, ko + src + hs);
        heap.copyWithin(dst + 2 * D, vo + src, vo + src + hs);
      }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor2D;
}

/**
 * Sizes up to which the JavaScript versions run on wasm (above them wasm's SIMD element-wise ops
 * win). Measured on this machine; benchmarks may change them.
 * - adamwJsMaxParams: AdamW 0.6 vs 23 ms for 34K parameters, 9 vs 14 ms for 0.43M, 55 vs 44 ms for 3.2M.
 * - layerNormJsMaxElements: LayerNorm forward + backward 0.7 vs 1.2 ms at 1024 x 32, a tie at
 *   2048 x 128, slower at 2048 x 256.
 * - attentionBlockRows: the row blocks of causal attention (causalBlocks); 0 computes the full
 *   (T, T) matrices with a mask. Blocks save products but XNNPACK packs each block's right operand
 *   anew (~3 ns a float): attention forward + backward at T = 256, hs = 64 took 154 ms with blocks
 *   of 128 rows, 163 with none, 179 with 64, 216 with 32; at T = 640, hs = 32, 347 ms with 128
 *   against 407 with none.
 */
export const kernelSettings = { adamwJsMaxParams: 1_500_000, layerNormJsMaxElements: 1 << 18, attentionBlockRows: 128 };

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Bias corrections 1 / (1 - beta^t). */
  c1: number;
  c2: number;
  weightDecay: number;
  gradClip: number;
}

/**
 * AdamW with global-norm clipping as one JavaScript pass per parameter over the wasm heap (a dozen
 * tensor ops per parameter otherwise: for small students the optimiser's op overhead rivals the
 * model's). Returns null off wasm or above kernelSettings.adamwJsMaxParams; the caller then uses
 * tensor ops.
 */
export function adamwFast(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  m: tf.Tensor[],
  v: tf.Tensor[],
  decay: boolean[],
  s: AdamWStep,
): { params: tf.Tensor[]; m: tf.Tensor[]; v: tf.Tensor[]; gradNorm: number } | null {
  const be = wasmBackend();
  if (!be || params.reduce((a, p) => a + p.size, 0) > kernelSettings.adamwJsMaxParams) return null;
  let sq = 0;
  for (const g of grads) {
    const a = heapF32(be, g, g.size);
    for (let i = 0; i < a.length; i++) sq += a[i]! * a[i]!;
  }
  const norm = Math.sqrt(sq);
  const scale = s.gradClip > 0 ? Math.min(1, s.gradClip / (norm + 1e-6)) : 1;
  const outP: tf.Tensor[] = [];
  const outM: tf.Tensor[] = [];
  const outV: tf.Tensor[] = [];
  params.forEach((p, k) => {
    const shape = p.shape;
    const pi = be.makeOutput(shape, "float32");
    const mi = be.makeOutput(shape, "float32");
    const vi = be.makeOutput(shape, "float32");
    const n = p.size;
    const [P, G, M, V, P2, M2, V2] = [p, grads[k]!, m[k]!, v[k]!, pi, mi, vi].map((t) => heapF32(be, t, n)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const wd = decay[k] ? s.weightDecay : 0;
    const { beta1, beta2, c1, c2, eps, lr } = s;
    for (let i = 0; i < n; i++) {
      const g = G[i]! * scale;
      const mm = beta1 * M[i]! + (1 - beta1) * g;
      const vv = beta2 * V[i]! + (1 - beta2) * g * g;
      M2[i] = mm;
      V2[i] = vv;
      P2[i] = P[i]! - lr * ((mm * c1) / (Math.sqrt(vv * c2) + eps) + wd * P[i]!);
    }
    outP.push(tf.engine().makeTensorFromTensorInfo(pi));
    outM.push(tf.engine().makeTensorFromTensorInfo(mi));
    outV.push(tf.engine().makeTensorFromTensorInfo(vi));
  });
  return { params: outP, m: outM, v: outV, gradNorm: norm };
}

/**
 * LayerNorm forward on wasm in one JavaScript pass per row (about a dozen tensor ops otherwise):
 * x (N, D) -> y = xhat * g + b, with xhat (N, D) and rstd (N, 1) for the backward pass.
 * Null off wasm or above kernelSettings.layerNormJsMaxElements.
 */
export function layerNormFast(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): { y: tf.Tensor2D; xhat: tf.Tensor2D; rstd: tf.Tensor2D } | null {
  const be = wasmBackend();
  if (!be || x.size > kernelSettings.layerNormJsMaxElements) return null;
  const [N, D] = x.shape;
  const y = be.makeOutput([N, D], "float32");
  const xh = be.makeOutput([N, D], "float32");
  const rs = be.makeOutput([N, 1], "float32");
  const [X, G, Bv, Y, XH, RS] = [heapF32(be, x, N * D), heapF32(be, g, D), heapF32(be, b, D), heapF32(be, y, N * D), heapF32(be, xh, N * D), heapF32(be, rs, N)] as Float32Array[];
  const D4 = D - (D % 4);
  // four accumulators per reduction: a single one is bound by the latency of the additions
  for (let r = 0; r < N; r++) {
    const o = r * D;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let i = 0;
    for (; i < D4; i += 4) {
      s0 += X![o + i]!;
      s1 += X![o + i + 1]!;
      s2 += X![o + i + 2]!;
      s3 += X![o + i + 3]!;
    }
    for (; i < D; i++) s0 += X![o + i]!;
    const mean = (s0 + s1 + s2 + s3) / D;
    let v0 = 0, v1 = 0, v2 = 0, v3 = 0;
    for (i = 0; i < D4; i += 4) {
      const c0 = X![o + i]! - mean;
      const c1 = X![o + i + 1]! - mean;
      const c2 = X![o + i + 2]! - mean;
      const c3 = X![o + i + 3]! - mean;
      v0 += c0 * c0;
      v1 += c1 * c1;
      v2 += c2 * c2;
      v3 += c3 * c3;
    }
    for (; i < D; i++) {
      const c = X![o + i]! - mean;
      v0 += c * c;
    }
    const rstd = 1 / Math.sqrt((v0 + v1 + v2 + v3) / D + eps);
    RS![r] = rstd;
    for (i = 0; i < D; i++) {
      const h = (X![o + i]! - mean) * rstd;
      XH![o + i] = h;
      Y![o + i] = h * G![i]! + Bv![i]!;
    }
  }
  const e = tf.engine();
  return { y: e.makeTensorFromTensorInfo(y) as tf.Tensor2D, xhat: e.makeTensorFromTensorInfo(xh) as tf.Tensor2D, rstd: e.makeTensorFromTensorInfo(rs) as tf.Tensor2D };
}

/** LayerNorm backward on wasm: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dg, db. */
export function layerNormGradFast(dy: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor2D, g: tf.Tensor1D): { dx: tf.Tensor2D; dg: tf.Tensor1D; db: tf.Tensor1D } | null {
  const be = wasmBackend();
  if (!be) return null;
  const [N, D] = dy.shape;
  const dx = be.makeOutput([N, D], "float32");
  const dgT = be.makeOutput([D], "float32");
  const dbT = be.makeOutput([D], "float32");
  const [DY, XH, RS, G, DX, DG, DB] = [heapF32(be, dy, N * D), heapF32(be, xhat, N * D), heapF32(be, rstd, N), heapF32(be, g, D), heapF32(be, dx, N * D), heapF32(be, dgT, D), heapF32(be, dbT, D)] as Float32Array[];
  const dgAcc = new Float64Array(D);
  const dbAcc = new Float64Array(D);
  // two rows at a time: the per-column accumulators are read and written once per pair
  let r = 0;
  for (; r + 1 < N; r += 2) {
    const o = r * D;
    const o2 = o + D;
    let m1a = 0, m1b = 0, m2a = 0, m2b = 0;
    for (let i = 0; i < D; i++) {
      const d0 = DY![o + i]!;
      const d1 = DY![o2 + i]!;
      const h0 = XH![o + i]!;
      const h1 = XH![o2 + i]!;
      const g = G![i]!;
      const dh0 = d0 * g;
      const dh1 = d1 * g;
      m1a += dh0;
      m1b += dh1;
      m2a += dh0 * h0;
      m2b += dh1 * h1;
      dgAcc[i] += d0 * h0 + d1 * h1;
      dbAcc[i] += d0 + d1;
    }
    const rs0 = RS![r]!;
    const rs1 = RS![r + 1]!;
    m1a /= D;
    m1b /= D;
    m2a /= D;
    m2b /= D;
    for (let i = 0; i < D; i++) {
      const g = G![i]!;
      DX![o + i] = rs0 * (DY![o + i]! * g - m1a - XH![o + i]! * m2a);
      DX![o2 + i] = rs1 * (DY![o2 + i]! * g - m1b - XH![o2 + i]! * m2b);
    }
  }
  for (; r < N; r++) {
    const o = r * D;
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i < D; i++) {
      const d = DY![o + i]!;
      const h = XH![o + i]!;
      const dh = d * G![i]!;
      m1 += dh;
      m2 += dh * h;
      dgAcc[i] += d * h;
      dbAcc[i] += d;
    }
    m1 /= D;
    m2 /= D;
    const rstd = RS![r]!;
    for (let i = 0; i < D; i++) DX![o + i] = rstd * (DY![o + i]! * G![i]! - m1 - XH![o + i]! * m2);
  }
  DG!.set(dgAcc);
  DB!.set(dbAcc);
  const e = tf.engine();
  return { dx: e.makeTensorFromTensorInfo(dx) as tf.Tensor2D, dg: e.makeTensorFromTensorInfo(dgT) as tf.Tensor1D, db: e.makeTensorFromTensorInfo(dbT) as tf.Tensor1D };
}
