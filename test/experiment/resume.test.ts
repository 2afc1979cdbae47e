// Kill -9 in the middle of a sweep, then resume: nothing lost, nothing corrupted, nothing re-run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { planSweep, ResultsStore, runSweep, WorkerPool, type SweepEvent } from "../../src/experiment/index.js";
import { toySweep } from "./fixtures/toy.js";
import { bundle, bundleDir, cleanup, fakeRunModule, here, tempDir, workerEntry } from "./helpers.js";

afterAll(cleanup);

let workerModule = "";
let childScript = "";

beforeAll(async () => {
  const out = bundleDir();
  workerModule = await bundle(workerEntry, out, "worker");
  childScript = await bundle(join(here, "fixtures", "sweep-child.ts"), out, "sweep-child");
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Process ids whose parent is `pid` (Linux /proc). */
function readChildren(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("kill -9 and resume", () => {
  it("a sweep process killed mid-run loses and corrupts nothing; the re-run does only the rest", async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [childScript, dir, workerModule, fakeRunModule], {
      env: { ...process.env, FAKE_RUN_MS: "150" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    await waitFor(() => (stdout.match(/^done /gm)?.length ?? 0) >= 5 || child.exitCode !== null, 30_000);
    expect(stderr).toBe("");
    // The two worker processes are the sweep process's children.
    const workers = readChildren(child.pid!);
    expect(workers).toHaveLength(2);
    child.kill("SIGKILL");
    await exited;
    const finishedBefore = new Set(stdout.match(/^done ([0-9a-f]{64})$/gm)!.map((l) => l.slice(5)));
    expect(finishedBefore.size).toBeGreaterThanOrEqual(5);
    expect(finishedBefore.size).toBeLessThan(18);

    const store = new ResultsStore(dir);
    const scan = store.scan();
    expect(scan.damaged).toEqual([]);
    // Every cell reported done is on disk; at most the cells in flight may also have landed.
    const stored = new Set(scan.cells.map((c) => c.key));
    for (const k of finishedBefore) expect(stored.has(k)).toBe(true);
    expect(stored.size).toBeLessThanOrEqual(finishedBefore.size + 2);

    // Orphaned workers notice their parent is gone (IPC disconnect) and exit.
    const calls1 = readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n");
    await waitFor(() => workers.every((p) => !alive(p)), 5000);

    const events: SweepEvent[] = [];
    const pool = new WorkerPool({ size: 2, workerModule, runModule: fakeRunModule });
    const out = await runSweep(toySweep(), { store: dir, concurrency: 2, runner: pool.run, onProgress: (e) => events.push(e) });
    await pool.close();
    expect(out.status).toBe("complete");
    expect(out.counts.cached).toBe(stored.size);
    const ranAgain = events.filter((e) => e.type === "cell-start").map((e) => (e as { cell: { key: string } }).cell.key);
    expect(ranAgain.length).toBe(18 - stored.size);
    for (const k of ranAgain) expect(stored.has(k)).toBe(false);
    expect(calls1.length).toBeGreaterThanOrEqual(finishedBefore.size);
    const final = store.scan();
    expect(final.damaged).toEqual([]);
    expect(final.cells.map((c) => c.key).sort()).toEqual(planSweep(toySweep()).map((c) => c.key).sort());
  }, 60_000);
});

describe("worker processes", () => {
  it("run cells in separate processes with progress, and a dying worker fails only its cell", async () => {
    const dir = tempDir();
    const pool = new WorkerPool({ size: 2, workerModule, runModule: fakeRunModule });
    const progress: number[] = [];
    const t = toySweep({ seeds: [0], students: ["nano", "micro"] });
    // lr 999 makes the fake run exit the worker process mid-cell.
    const crash = { ...t, variants: t.variants.slice(0, 2) };
    const out = await runSweep(crash, {
      store: dir,
      concurrency: 2,
      runner: async (spec, ctx) => pool.run(spec.student === "micro" && spec.train === crash.variants[1].train ? { ...spec, training: { ...spec.training, lr: 999 } } : spec, ctx),
      onProgress: (e) => {
        if (e.type === "cell-progress") progress.push(e.progress.step);
      },
    });
    expect(out.counts).toMatchObject({ done: 3, failed: 1 });
    expect(out.cells.find((c) => c.error)!.error).toMatch(/sweep worker \d+ died \(exit 3\)/);
    expect(progress).toContain(4);
    expect(pool.pids().every((p) => p !== process.pid)).toBe(true);
    await pool.close();
    expect(pool.pids()).toEqual([]);
  }, 30_000);

  it("a worker that cannot start fails its cells with the reason", async () => {
    const pool = new WorkerPool({ size: 1, workerModule, runModule: join(here, "fixtures", "missing-run.mjs") });
    const out = await runSweep(toySweep({ seeds: [0], students: ["nano"], variants: toySweep().variants.slice(0, 1) }), { store: tempDir(), concurrency: 1, runner: pool.run });
    await pool.close();
    expect(out.status).toBe("failed");
    expect(out.cells[0].error).toMatch(/sweep worker exited before it was ready \(1\):[^]*missing-run\.mjs/);
  }, 30_000);

  it("an abort kills a worker that is still starting", async () => {
    const pool = new WorkerPool({ size: 1, workerModule, runModule: join(here, "fixtures", "slow-import-run.mjs") });
    const ac = new AbortController();
    const spec = planSweep(toySweep({ seeds: [0] }))[0].spec;
    const p = pool.run(spec, { key: "k", signal: ac.signal, onProgress: () => {} });
    await waitFor(() => pool.pids().length === 1);
    const [pid] = pool.pids();
    ac.abort();
    await expect(p).rejects.toThrow(/aborted/);
    // Killed, not left to finish loading and idle until the pool closes.
    expect(pool.pids()).toEqual([]);
    await waitFor(() => !alive(pid), 5000);
    await pool.close();
  }, 30_000);

  it("an abort kills the running workers and the sweep resolves as aborted", async () => {
    const dir = tempDir();
    const ac = new AbortController();
    const pool = new WorkerPool({ size: 2, workerModule, runModule: fakeRunModule });
    process.env.FAKE_RUN_MS = "5000";
    let pids: number[] = [];
    try {
      const out = await runSweep(toySweep(), {
        store: dir,
        concurrency: 2,
        runner: pool.run,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.type === "cell-progress" && e.counts.running === 2 && pids.length === 0) {
            pids = pool.pids();
            ac.abort();
          }
        },
      });
      expect(out.status).toBe("aborted");
      expect(out.counts.done).toBe(0);
    } finally {
      delete process.env.FAKE_RUN_MS;
      await pool.close();
    }
    expect(pids).toHaveLength(2);
    await waitFor(() => pids.every((p) => !alive(p)), 5000);
    expect(existsSync(join(dir, "cells"))).toBe(true);
    expect(new ResultsStore(dir).scan().cells).toHaveLength(0);
  }, 30_000);
});
