/**
 * Tensor backend selection (DESIGN.md): @tensorflow/tfjs-node-gpu when it is installed and works,
 * else @tensorflow/tfjs-backend-wasm, else the cpu backend. The choice and the reason are always
 * visible through `backendInfo()`.
 *
 * `MIXDISTILL_BACKEND=tensorflow|wasm|cpu` forces one (falling back, with the reason, if it fails).
 */
import * as tf from "@tensorflow/tfjs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { initMatMul, matMulInfo, type MatMulEngine } from "./model/blas.js";

export type BackendName = "tensorflow" | "wasm" | "cpu";

export interface BackendInfo {
  /** tfjs backend name: "tensorflow" (tfjs-node-gpu), "wasm" or "cpu". */
  name: BackendName;
  /** Why this one: what was tried before it and how it failed. */
  reason: string;
  /** Whether a GPU device was seen by the tensorflow backend (false for wasm/cpu). */
  gpu: boolean;
  /** The wasm backend's matMul engine in use now (src/model/blas.ts); null on the other backends. */
  matmul: MatMulEngine | null;
}

let info: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

function message(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split("\n")[0]!.slice(0, 200);
}

/** A small computation checked against its known result: a backend that loads but computes wrong is not used. */
function smokeTest(): void {
  const r = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync());
  const want = [19, 22, 43, 50];
  for (let i = 0; i < 4; i++) {
    if (r[i] !== want[i]) throw new Error(`smoke test gave [${Array.from(r).join(", ")}], expected [${want.join(", ")}]`);
  }
}

/**
 * Lets TensorFlow allocate GPU memory as it needs it (TF_FORCE_GPU_ALLOW_GROWTH=true) instead of
 * taking the whole device at start, so several sweep workers can share a GPU. Must run before
 * tfjs-node-gpu loads its binding; a value the user set is kept.
 */
export function enableGpuMemoryGrowth(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TF_FORCE_GPU_ALLOW_GROWTH === undefined) env.TF_FORCE_GPU_ALLOW_GROWTH = "true";
}

/**
 * GPUs the tensorflow backend would use, as CUDA device ids: CUDA_VISIBLE_DEVICES when set (""
 * or -1 hides every GPU), else `nvidia-smi -L`; none when tfjs-node-gpu is not installed, when
 * MIXDISTILL_BACKEND names another backend, or when nvidia-smi is missing.
 */
export function visibleGpus(
  env: NodeJS.ProcessEnv = process.env,
  listDevices: () => string = () => execFileSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"] }),
  installed: boolean = tfjsNodeGpuInstalled(),
): string[] {
  if (env.MIXDISTILL_BACKEND !== undefined && env.MIXDISTILL_BACKEND !== "" && env.MIXDISTILL_BACKEND !== "tensorflow") return [];
  if (!installed) return [];
  const cvd = env.CUDA_VISIBLE_DEVICES;
  if (cvd !== undefined) {
    const ids = cvd.split(",").map((x) => x.trim()).filter((x) => x !== "");
    const stop = ids.findIndex((x) => x.startsWith("-")); // CUDA ignores ids from the first invalid one on
    return stop < 0 ? ids : ids.slice(0, stop);
  }
  try {
    return listDevices().split("\n").flatMap((l) => { const m = /^GPU (\d+):/.exec(l.trim()); return m ? [m[1]!] : []; });
  } catch {
    return [];
  }
}

function tfjsNodeGpuInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve("@tensorflow/tfjs-node-gpu");
    return true;
  } catch {
    return false;
  }
}

/** Default number of sweep workers: one per visible GPU when there is one, else one per core. */
export function defaultWorkers(gpus: readonly string[] = visibleGpus()): number {
  return gpus.length > 0 ? gpus.length : availableParallelism();
}

async function tryTensorflow(): Promise<{ ok: true; gpu: boolean } | { ok: false; why: string }> {
  try {
    // Optional dependency: its install downloads libtensorflow and fails on machines without network.
    const modName = "@tensorflow/tfjs-node-gpu";
    enableGpuMemoryGrowth();
    await import(/* @vite-ignore */ modName);
  } catch (e) {
    return { ok: false, why: `@tensorflow/tfjs-node-gpu not usable (${message(e)})` };
  }
  try {
    if (!(await tf.setBackend("tensorflow"))) return { ok: false, why: "tfjs-node-gpu loaded but its backend did not initialise" };
    await tf.ready();
    smokeTest();
    // tfjs-node-gpu runs on the CPU when CUDA is missing; say so rather than pretend.
    let gpu = false;
    try {
      const be = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
      gpu = be.binding?.isUsingGpuDevice?.() ?? false;
    } catch {
      gpu = false;
    }
    return { ok: true, gpu };
  } catch (e) {
    return { ok: false, why: `tfjs-node-gpu failed its smoke test (${message(e)})` };
  }
}

/** Sets a bundled backend (after `load` registers it) and checks that it computes. */
async function tryBundled(name: "wasm" | "cpu", load?: () => Promise<unknown>): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await load?.();
    if (!(await tf.setBackend(name))) return { ok: false, why: `${name} backend did not initialise` };
    await tf.ready();
    smokeTest();
    return { ok: true };
  } catch (e) {
    return { ok: false, why: `${name} backend failed (${message(e)})` };
  }
}

async function choose(preferred: BackendName | undefined): Promise<BackendInfo> {
  const order: BackendName[] = ["tensorflow", "wasm", "cpu"];
  const start = preferred ? order.indexOf(preferred) : 0;
  const notes: string[] = [];
  if (preferred) notes.push(`MIXDISTILL_BACKEND=${preferred}`);
  for (const name of order.slice(start)) {
    if (name === "tensorflow") {
      const r = await tryTensorflow();
      if (r.ok) return { name, gpu: r.gpu, matmul: null, reason: [...notes, r.gpu ? "tfjs-node-gpu with a GPU" : "tfjs-node-gpu (no GPU device visible: TensorFlow runs on the CPU)"].join("; ") };
      notes.push(r.why);
    } else if (name === "wasm") {
      const r = await tryBundled("wasm", () => import("@tensorflow/tfjs-backend-wasm"));
      if (r.ok) {
        const m = initMatMul();
        // The engine as it is now: initMatMul(engine) may switch it after the backend is chosen.
        return { name, gpu: false, get matmul() { return matMulInfo().engine; }, reason: [...notes, `wasm (single-threaded in Node; matMul: ${m.reason})`].join("; ") };
      }
      notes.push(r.why);
    } else {
      const r = await tryBundled("cpu");
      if (r.ok) return { name, gpu: false, matmul: null, reason: [...notes, "plain JavaScript cpu backend"].join("; ") };
      notes.push(r.why);
    }
  }
  throw new Error(`no tensor backend works: ${notes.join("; ")}`);
}

function parsePreferred(v: string | undefined): BackendName | undefined {
  if (v === undefined || v === "") return undefined;
  if (v === "tensorflow" || v === "wasm" || v === "cpu") return v;
  throw new Error(`MIXDISTILL_BACKEND must be one of tensorflow, wasm, cpu (got ${JSON.stringify(v)})`);
}

/**
 * Chooses and initialises the backend once per process (later calls return the same answer).
 * `prefer` (or MIXDISTILL_BACKEND) starts the search at that backend.
 */
export async function initBackend(prefer?: BackendName): Promise<BackendInfo> {
  if (info && (prefer === undefined || prefer === info.name)) return info;
  if (pending && prefer === undefined) return pending;
  const p = choose(prefer ?? parsePreferred(process.env.MIXDISTILL_BACKEND)).then((r) => {
    info = r;
    return r;
  });
  pending = p;
  try {
    return await p;
  } finally {
    pending = null;
  }
}

/** The chosen backend and why; throws if `initBackend()` has not run. */
export function backendInfo(): BackendInfo {
  if (!info) throw new Error("backend not initialised: call `await initBackend()` first");
  return info;
}
