/**
 * The matMul engine of the wasm backend: XNNPACK (the backend's own, 128-bit wasm SIMD) or OpenBLAS
 * (native/openblas, a Node-API addon calling cblas_sgemm on the wasm heap in place: no tensor is
 * copied). OpenBLAS uses the CPU's own vector width and fused multiply-add, which wasm SIMD cannot:
 * on this 2-core EPYC (AVX-512) its GEMM peak is 3.4x XNNPACK's and training runs 2.4-3.1x as fast
 * (bench/train.ts measures both in one run).
 *
 * `MIXDISTILL_MATMUL=xnnpack|openblas|auto` chooses; unset means xnnpack, the engine the committed
 * study results were computed with (an engine changes float rounding, so a re-run reproduces them
 * only on the same engine). `auto` and `openblas` use OpenBLAS when the addon is built and passes its
 * smoke test, else say why and keep XNNPACK. Each process multiplies on one thread (sweeps run one
 * worker process per core); `MIXDISTILL_BLAS_THREADS` changes that.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type MatMulEngine = "xnnpack" | "openblas";
/** What a user may ask for: an engine, or "auto" (OpenBLAS where the addon loads). */
export type MatMulChoice = MatMulEngine | "auto";

interface BlasAddon {
  gemm(heap: ArrayBuffer, M: number, N: number, K: number, aOff: number, bOff: number, cOff: number, transA: boolean, transB: boolean, beta: number): void;
  gemmMany(heap: ArrayBuffer, M: number, N: number, K: number, offsets: Float64Array, transA: boolean, transB: boolean): void;
  setThreads(n: number): void;
  threads(): number;
  config(): string;
}

interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(d: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

export interface MatMulInfo {
  engine: MatMulEngine;
  /** What was asked for (`initMatMul`'s argument, else MIXDISTILL_MATMUL, else "xnnpack"). */
  requested: MatMulChoice;
  /** Why: what was asked for and, when OpenBLAS was asked for and not used, why not. */
  reason: string;
  /** OpenBLAS's build configuration (core and threading), when it is the engine. */
  blasConfig?: string;
}

let addon: BlasAddon | null = null;
let info: MatMulInfo = { engine: "xnnpack", requested: "xnnpack", reason: "MIXDISTILL_MATMUL unset: XNNPACK" };

/**
 * The addon's path: MIXDISTILL_BLAS_ADDON when set (worker pools pass theirs to bundled workers),
 * else native/openblas/build/Release beside src/ (run from source) or dist/ (built).
 */
export function addonPath(): string | null {
  const env = process.env.MIXDISTILL_BLAS_ADDON;
  if (env) return existsSync(env) ? env : null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, "native", "openblas", "build", "Release", "mixdistill_blas.node");
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

function loadAddon(): BlasAddon {
  if (addon) return addon;
  const p = addonPath();
  if (!p) {
    const env = process.env.MIXDISTILL_BLAS_ADDON;
    throw new Error(env ? `MIXDISTILL_BLAS_ADDON=${env}: no such file` : "native/openblas is not built (scripts/setup.sh builds it when libopenblas-dev is installed)");
  }
  const threads = Number(process.env.MIXDISTILL_BLAS_THREADS ?? "1");
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`MIXDISTILL_BLAS_THREADS must be a positive integer (got ${JSON.stringify(process.env.MIXDISTILL_BLAS_THREADS)})`);
  // OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when it loads: give it ours for the
  // load only, so programs this process starts keep the environment they were given.
  const before = process.env.OPENBLAS_NUM_THREADS;
  if (before === undefined) process.env.OPENBLAS_NUM_THREADS = String(threads);
  let a: BlasAddon;
  try {
    a = createRequire(import.meta.url)(p) as BlasAddon;
  } finally {
    if (before === undefined) delete process.env.OPENBLAS_NUM_THREADS;
  }
  a.setThreads(threads);
  addon = a;
  return a;
}

/** Whether the addon is built and loads here (without touching tfjs), and why not. */
export function blasAvailable(): { ok: true; config: string } | { ok: false; why: string } {
  try {
    return { ok: true, config: loadAddon().config() };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message.split("\n")[0]! : String(e) };
  }
}

/** "auto" made definite: openblas when the addon loads here, else xnnpack. */
export function resolveMatMulEngine(v: MatMulChoice): MatMulEngine {
  return v === "auto" ? (blasAvailable().ok ? "openblas" : "xnnpack") : v;
}

export function parseEngine(v: string | undefined): MatMulChoice | undefined {
  if (v === undefined || v === "") return undefined;
  if (v === "xnnpack" || v === "openblas" || v === "auto") return v;
  throw new Error(`MIXDISTILL_MATMUL must be one of xnnpack, openblas, auto (got ${JSON.stringify(v)})`);
}

/** The engine in use and why. */
export function matMulInfo(): MatMulInfo {
  return info;
}

/** True when OpenBLAS multiplies for the wasm backend. */
export function blasActive(): boolean {
  return info.engine === "openblas" && tf.getBackend() === "wasm";
}

/** The addon, when OpenBLAS is the engine (kernels.ts calls it on heap views). */
export function blas(): BlasAddon | null {
  return blasActive() ? addon : null;
}

type KernelFunc = NonNullable<ReturnType<typeof tf.getKernel>>["kernelFunc"];
const originals: Partial<Record<"BatchMatMul" | "_FusedMatMul", KernelFunc>> = {};

/**
 * op(a) op(b) (+ bias) into a new output, batched over leading dimensions that are equal or 1 on
 * one side; null when the call is outside what the addon does (the original kernel runs it).
 */
function blasMatMul(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean, bias?: tf.TensorInfo): tf.TensorInfo | null {
  if (!addon || a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return null;
  const ar = a.shape.length, br = b.shape.length;
  const M = ta ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const K = ta ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const K2 = tb ? b.shape[br - 1]! : b.shape[br - 2]!;
  const N = tb ? b.shape[br - 2]! : b.shape[br - 1]!;
  if (K !== K2) return null; // the original kernel raises tfjs's own error
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  let outer: number[];
  if (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) outer = outerA;
  else if (batchB === 1 && outerB.length <= outerA.length) outer = outerA;
  else if (batchA === 1 && outerA.length <= outerB.length) outer = outerB;
  else return null;
  const batch = Math.max(batchA, batchB);
  if (bias) {
    if (bias.dtype !== "float32") return null;
    const bsize = bias.shape.reduce((x, y) => x * y, 1);
    if (bsize !== N || bias.shape.length > 2 || (bias.shape.length === 2 && bias.shape[0] !== 1)) return null;
  }
  const be = backend as WasmHeapBackend;
  const out = be.makeOutput([...outer, M, N], "float32");
  const heap = be.wasm.HEAPU8.buffer as ArrayBuffer; // after makeOutput: allocation may grow the heap
  const ao = be.dataIdMap.get(a.dataId).memoryOffset;
  const bo = be.dataIdMap.get(b.dataId).memoryOffset;
  const oo = be.dataIdMap.get(out.dataId).memoryOffset;
  let beta = 0;
  if (bias) {
    const f = new Float32Array(heap);
    const bb = be.dataIdMap.get(bias.dataId).memoryOffset >>> 2;
    const row = f.subarray(bb, bb + N);
    for (let r = 0; r < batch * M; r++) f.set(row, (oo >>> 2) + r * N);
    beta = 1;
  }
  if (batch === 1) addon.gemm(heap, M, N, K, ao, bo, oo, ta, tb, beta);
  else {
    const offs = new Float64Array(3 * batch);
    for (let i = 0; i < batch; i++) {
      offs[3 * i] = ao + (batchA === 1 ? 0 : i * M * K * 4);
      offs[3 * i + 1] = bo + (batchB === 1 ? 0 : i * K * N * 4);
      offs[3 * i + 2] = oo + i * M * N * 4;
    }
    if (beta === 0) addon.gemmMany(heap, M, N, K, offs, ta, tb);
    else for (let i = 0; i < batch; i++) addon.gemm(heap, M, N, K, offs[3 * i]!, offs[3 * i + 1]!, offs[3 * i + 2]!, ta, tb, 1);
  }
  return out;
}

function installKernels(): void {
  for (const name of ["BatchMatMul", "_FusedMatMul"] as const) {
    if (originals[name]) continue;
    const k = tf.getKernel(name, "wasm");
    if (!k) throw new Error(`the wasm backend has no ${name} kernel to replace`);
    originals[name] = k.kernelFunc;
  }
  const orig = originals as Required<typeof originals>;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      return (info.engine === "openblas" && blasMatMul(args.backend, a, b, !!transposeA, !!transposeB)) || orig.BatchMatMul(args);
    },
  });
  tf.unregisterKernel("_FusedMatMul", "wasm");
  tf.registerKernel({
    kernelName: "_FusedMatMul",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const { transposeA, transposeB, activation } = args.attrs as { transposeA?: boolean; transposeB?: boolean; activation?: string };
      const linear = (activation === undefined || activation === "linear") && !preluActivationWeights;
      return (info.engine === "openblas" && linear && blasMatMul(args.backend, a!, b!, !!transposeA, !!transposeB, bias)) || orig._FusedMatMul(args);
    },
  });
}

/** The product the smoke test checks, against a plain JavaScript reference, on shapes with every transpose. */
function smokeTest(): void {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const M = 5, K = 7, N = 3;
    const av = Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) - 5);
    const bv = Array.from({ length: K * N }, (_, i) => ((i * 5) % 13) - 6);
    const got = tf.tidy(() => tf.matMul(tf.tensor2d(av, ta ? [K, M] : [M, K]), tf.tensor2d(bv, tb ? [N, K] : [K, N]), ta, tb).dataSync());
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[ta ? k * M + i : i * K + k]! * bv[tb ? j * K + k : k * N + j]!;
        if (got[i * N + j] !== s) throw new Error(`OpenBLAS smoke test (transposeA=${ta}, transposeB=${tb}) gave ${got[i * N + j]} at (${i}, ${j}), expected ${s}`);
      }
  }
}

/**
 * Chooses the matMul engine for the wasm backend (call after the backend is set; other backends
 * keep their own). `prefer` overrides MIXDISTILL_MATMUL.
 */
export function initMatMul(prefer?: MatMulChoice): MatMulInfo {
  const want = prefer ?? parseEngine(process.env.MIXDISTILL_MATMUL) ?? "xnnpack";
  const asked = prefer ? `asked for ${want}` : process.env.MIXDISTILL_MATMUL ? `MIXDISTILL_MATMUL=${want}` : "MIXDISTILL_MATMUL unset";
  if (want === "xnnpack" || tf.getBackend() !== "wasm") {
    info = { engine: "xnnpack", requested: want, reason: tf.getBackend() === "wasm" ? `${asked}: XNNPACK` : `${asked}: the ${tf.getBackend()} backend multiplies itself` };
    return info;
  }
  try {
    const a = loadAddon();
    installKernels();
    // Engaged before the smoke test, which must run through it.
    info = { engine: "openblas", requested: want, reason: `${asked}: OpenBLAS (${a.threads()} thread${a.threads() === 1 ? "" : "s"})`, blasConfig: a.config() };
    smokeTest();
  } catch (e) {
    info = { engine: "xnnpack", requested: want, reason: `${asked}: OpenBLAS not usable (${e instanceof Error ? e.message.split("\n")[0] : String(e)}); XNNPACK` };
  }
  return info;
}
