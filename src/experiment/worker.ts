/**
 * A sweep worker: a single-threaded child process (forked by WorkerPool) that trains and
 * evaluates one cell at a time and reports progress and the result over IPC.
 *
 * The run function comes from MIXDISTILL_RUN_MODULE (a module exporting `runTrainEval`), by default
 * this package's src/train/run.js; MIXDISTILL_BACKEND picks the tensor backend (src/backend.ts).
 */
import type { RunOptions, RunResult, RunSpec } from "../train/spec.js";

export type ParentMessage = { type: "run"; id: number; spec: RunSpec };
export type WorkerMessage =
  | { type: "ready"; pid: number }
  | { type: "progress"; id: number; progress: NonNullable<Parameters<NonNullable<RunOptions["onProgress"]>>[0]> }
  | { type: "result"; id: number; result: RunResult }
  | { type: "error"; id: number; message: string };

type RunTrainEval = (spec: RunSpec, opts?: RunOptions) => Promise<RunResult>;

async function loadRun(): Promise<RunTrainEval> {
  const custom = process.env.MIXDISTILL_RUN_MODULE;
  // A literal specifier for the default, so bundlers include it.
  const mod = (custom ? await import(custom) : await import("../train/run.js")) as { runTrainEval?: unknown };
  if (typeof mod.runTrainEval !== "function") throw new Error(`${custom ?? "../train/run.js"} does not export runTrainEval`);
  return mod.runTrainEval as RunTrainEval;
}

function send(m: WorkerMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  if (!process.send) {
    console.error("mixdistill sweep worker: start me with child_process.fork (no IPC channel)");
    process.exit(2);
  }
  const run = await loadRun();
  let queue = Promise.resolve();
  process.on("message", (m: ParentMessage) => {
    if (m?.type !== "run") return;
    queue = queue.then(async () => {
      try {
        const result = await run(m.spec, { onProgress: (progress) => send({ type: "progress", id: m.id, progress }) });
        send({ type: "result", id: m.id, result });
      } catch (e) {
        send({ type: "error", id: m.id, message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      }
    });
  });
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready", pid: process.pid });
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
