/**
 * Runs sweep cells in single-threaded child processes, one per core (two such processes gave
 * about twice the throughput of one process on both cores). The kernel's main thread only
 * passes messages; an abort kills the child running the cell.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultWorkers, enableGpuMemoryGrowth, visibleGpus } from "../backend.js";
import { addonPath } from "../model/blas.js";
import type { RunProgress, RunResult, RunSpec } from "../train/spec.js";
import type { ParentMessage, WorkerMessage } from "./worker.js";

/** What the sweep needs to run one cell; inject your own for tests or other executors. */
export interface CellContext {
  key: string;
  signal: AbortSignal;
  onProgress: (p: RunProgress) => void;
}
export type CellRunner = (spec: RunSpec, ctx: CellContext) => Promise<RunResult>;

/** Raised when a sweep or a cell is interrupted (its AbortSignal fired). */
export class AbortError extends Error {
  constructor(message = "aborted") {
    super(message);
    this.name = "AbortError";
  }
}

/** The compiled worker: beside this module when running from dist/, else the package's dist/. */
export function resolveWorkerModule(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, "worker.js");
  if (existsSync(beside)) return beside;
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "mixdistill") {
          const built = join(dir, "dist", "src", "experiment", "worker.js");
          if (existsSync(built)) return built;
          throw new Error(`sweep worker not built: ${built} is missing (run \`npm run build\`)`);
        }
      } catch (e) {
        if ((e as Error).message.startsWith("sweep worker")) throw e;
      }
    }
    dir = dirname(dir);
  }
  throw new Error("sweep worker: cannot find dist/src/experiment/worker.js (run `npm run build`)");
}

export interface WorkerPoolOptions {
  /** Worker processes; default the number of cores. */
  size?: number;
  /** Path of the worker script; default resolveWorkerModule(). */
  workerModule?: string;
  /** Module exporting runTrainEval, for the workers (MIXDISTILL_RUN_MODULE). */
  runModule?: string;
  /** Tensor backend for the workers: "auto" (default), "wasm", "cpu", "tensorflow". */
  backend?: string;
  /** The wasm backend's matMul engine for the workers (MIXDISTILL_MATMUL); default the parent's environment. */
  matmul?: "xnnpack" | "openblas";
  /**
   * CUDA device ids to spread the workers over (each worker sees one, via CUDA_VISIBLE_DEVICES,
   * the least used at its start); default the visible GPUs (none without tfjs-node-gpu).
   */
  gpus?: readonly string[];
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  stderr: string;
  /** The CUDA device this worker sees, when the pool spreads workers over GPUs. */
  gpu?: string;
  job?: { id: number; resolve: (r: RunResult) => void; reject: (e: Error) => void; onProgress: (p: RunProgress) => void };
}

export class WorkerPool {
  readonly size: number;
  private readonly workers: Worker[] = [];
  private readonly waiting: Array<() => void> = [];
  private nextId = 1;
  private closed = false;

  private readonly gpus: readonly string[];

  constructor(private readonly opts: WorkerPoolOptions = {}) {
    this.gpus = opts.gpus ?? (opts.backend === undefined || opts.backend === "auto" || opts.backend === "tensorflow" ? visibleGpus() : []);
    this.size = Math.max(1, opts.size ?? defaultWorkers(this.gpus));
  }

  /** The device for a new worker: the visible GPU with the fewest live workers. */
  private nextGpu(): string | undefined {
    if (this.gpus.length === 0) return undefined;
    const use = (g: string) => this.workers.filter((w) => w.gpu === g).length;
    return this.gpus.reduce((best, g) => (use(g) < use(best) ? g : best), this.gpus[0]!);
  }

  /** Process ids of the live workers. */
  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  private spawn(): Worker {
    const env: NodeJS.ProcessEnv = { ...process.env };
    const backend = this.opts.backend ?? "auto";
    if (backend !== "auto") env.MIXDISTILL_BACKEND = backend;
    if (this.opts.matmul) env.MIXDISTILL_MATMUL = this.opts.matmul;
    const addon = this.opts.matmul === "openblas" ? addonPath() : null;
    if (addon) env.MIXDISTILL_BLAS_ADDON = addon;
    if (this.opts.runModule) env.MIXDISTILL_RUN_MODULE = this.opts.runModule;
    const gpu = this.nextGpu();
    if (gpu !== undefined) env.CUDA_VISIBLE_DEVICES = gpu;
    enableGpuMemoryGrowth(env);
    const child = fork(this.opts.workerModule ?? resolveWorkerModule(), [], {
      env,
      execArgv: ["--enable-source-maps"],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
    });
    const w: Worker = { child, busy: false, stderr: "", ready: Promise.resolve(), ...(gpu !== undefined ? { gpu } : {}) };
    const keep = (s: Buffer) => {
      w.stderr = (w.stderr + s.toString()).slice(-4000);
    };
    child.stdout?.on("data", () => {});
    child.stderr?.on("data", keep);
    w.ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: WorkerMessage) => {
        if (m?.type === "ready") {
          child.off("message", onMsg);
          resolve();
        }
      };
      child.on("message", onMsg);
      child.once("exit", (code, sig) => reject(new Error(`sweep worker exited before it was ready (${sig ?? code}): ${w.stderr.trim().slice(-1000)}`)));
    });
    w.ready.catch(() => {});
    child.on("message", (m: WorkerMessage) => {
      const job = w.job;
      if (!job || m?.type === "ready" || m.id !== job.id) return;
      if (m.type === "progress") job.onProgress(m.progress);
      else if (m.type === "result") this.finish(w, () => job.resolve(m.result));
      else if (m.type === "error") this.finish(w, () => job.reject(new Error(m.message)));
    });
    child.on("exit", (code, sig) => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      const job = w.job;
      w.job = undefined;
      if (job) job.reject(new Error(`sweep worker ${child.pid} died (${sig ?? `exit ${code}`}) while running a cell${w.stderr ? `: ${w.stderr.trim().slice(-1000)}` : ""}`));
      this.wake();
    });
    this.workers.push(w);
    return w;
  }

  private finish(w: Worker, settle: () => void): void {
    w.job = undefined;
    w.busy = false;
    settle();
    this.wake();
  }

  private wake(): void {
    this.waiting.shift()?.();
  }

  private async acquire(signal: AbortSignal): Promise<Worker> {
    for (;;) {
      if (signal.aborted) throw new AbortError();
      if (this.closed) throw new Error("worker pool is closed");
      const idle = this.workers.find((w) => !w.busy && w.child.exitCode === null && w.child.signalCode === null);
      const w = idle ?? (this.workers.length < this.size ? this.spawn() : undefined);
      if (w) {
        w.busy = true; // claimed before any await, so no other cell takes it
        return w;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Runs one cell in a worker; an abort kills that worker. */
  readonly run: CellRunner = async (spec, ctx) => {
    const w = await this.acquire(ctx.signal);
    // A worker still starting (loading the tensor library can take seconds) is killed by an abort too.
    const killStarting = () => w.child.kill("SIGKILL");
    ctx.signal.addEventListener("abort", killStarting, { once: true });
    try {
      await w.ready;
    } catch (e) {
      w.busy = false;
      this.wake();
      throw ctx.signal.aborted ? new AbortError() : e;
    } finally {
      ctx.signal.removeEventListener("abort", killStarting);
    }
    if (ctx.signal.aborted) {
      w.busy = false;
      this.wake();
      throw new AbortError();
    }
    const id = this.nextId++;
    return new Promise<RunResult>((resolve, reject) => {
      const onAbort = () => {
        const job = w.job;
        w.job = undefined;
        w.child.kill("SIGKILL");
        job?.reject(new AbortError());
      };
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      const done = <T>(f: (x: T) => void) => (x: T) => {
        ctx.signal.removeEventListener("abort", onAbort);
        f(x);
      };
      w.job = { id, resolve: done(resolve), reject: done(reject), onProgress: ctx.onProgress };
      w.child.send({ type: "run", id, spec } satisfies ParentMessage);
    });
  };

  /** Stops every worker (idle ones exit on disconnect; busy ones are killed). */
  async close(): Promise<void> {
    this.closed = true;
    const exits = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
          w.child.once("exit", () => resolve());
          if (w.busy) w.child.kill("SIGKILL");
          else if (w.child.connected) w.child.disconnect();
          else w.child.kill("SIGKILL");
          setTimeout(() => w.child.kill("SIGKILL"), 2000).unref();
        }),
    );
    await Promise.all(exits);
    for (const f of this.waiting.splice(0)) f();
  }
}
