import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { join } from "node:path";
import { cellKey, formatSweepOutcome, planSweep, ResultsStore, runSweep, storedResults, SweepMonitor, type CellRunner, type SweepEvent } from "../../src/experiment/index.js";
import { longCotGap } from "../../src/gap/index.js";
import { runTrainEval as fakeRun } from "./fixtures/fake-run.mjs";
import { toySweep } from "./fixtures/toy.js";
import { cleanup, tempDir } from "./helpers.js";

afterAll(cleanup);

const inProcess = (calls: string[]): CellRunner => async (spec, ctx) => {
  calls.push(ctx.key);
  return fakeRun(spec, { onProgress: ctx.onProgress });
};

describe("sweep plan and store keys", () => {
  it("starts each replicate with its costliest cells and applies per-student learning rates", () => {
    const cells = planSweep(toySweep({ lrByStudent: { mini: 3e-4 } }));
    // Seed outermost; within a seed, the largest student on the longest traces first, the smallest on the shortest last.
    expect(cells.slice(0, 9).every((c) => c.seed === 0)).toBe(true);
    expect([cells[0]!.student, cells[0]!.variant]).toEqual(["mini", "long"]);
    expect([cells[8]!.student, cells[8]!.variant]).toEqual(["nano", "short"]);
    expect(cells.filter((c) => c.student === "mini").every((c) => c.config.training.lr === 3e-4)).toBe(true);
    expect(cells.filter((c) => c.student !== "mini").every((c) => c.config.training.lr === 1e-3)).toBe(true);
    // A student without an override keeps the key it had before overrides existed.
    const plain = new Map(planSweep(toySweep()).map((c) => [`${c.student}/${c.variant}/${c.seed}`, c.key]));
    for (const c of cells) expect(c.key === plain.get(`${c.student}/${c.variant}/${c.seed}`)).toBe(c.student !== "mini");
    expect(() => planSweep(toySweep({ lrByStudent: { base: 1e-3 } }))).toThrow(/lrByStudent\.base: not one of the sweep's students/);
    expect(() => planSweep(toySweep({ lrByStudent: { mini: -1 } }))).toThrow(/lrByStudent\.mini: expected a positive learning rate/);
  });

  it("keys cells by the full configuration", () => {
    const cells = planSweep(toySweep());
    expect(cells).toHaveLength(18);
    expect(new Set(cells.map((c) => c.key)).size).toBe(18);
    // Same config, same key; any change of data, seed, student, training, test or backend, a new key.
    const again = planSweep(toySweep());
    expect(again.map((c) => c.key)).toEqual(cells.map((c) => c.key));
    const base = cells[0].config;
    const variants = [
      { ...base, data: "x" },
      { ...base, training: { ...base.training, seed: 7 } },
      { ...base, training: { ...base.training, lr: 5e-4 } },
      { ...base, training: { ...base.training, budget: { kind: "tokens" as const, tokens: 1000 } } },
      { ...base, student: "small" },
      { ...base, test: "y" },
      { ...base, backend: "cpu" },
    ];
    for (const v of variants) expect(cellKey(v)).not.toBe(cellKey(base));
    // Key order of the config objects does not matter.
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as typeof base;
    expect(cellKey(reordered)).toBe(cellKey(base));
  });

  it("rejects malformed sweep configs with the field named", () => {
    expect(() => planSweep(toySweep({ students: [] }))).toThrow(/students/);
    expect(() => planSweep(toySweep({ seeds: [1, 1] }))).toThrow(/seeds/);
    const t = toySweep();
    expect(() => planSweep({ ...t, variants: [t.variants[0], { ...t.variants[1], name: "long" }] })).toThrow(/variants\[1\]\.name: duplicate/);
    expect(() => planSweep({ ...t, variants: [{ name: "e", train: [] }] })).toThrow(/variants\[0\]\.train/);
  });
});

describe("runSweep with an injected runner", () => {
  it("runs every cell once, stores it, and skips stored cells on re-run", async () => {
    const dir = tempDir();
    const calls: string[] = [];
    const events: SweepEvent[] = [];
    const out = await runSweep(toySweep(), { store: dir, concurrency: 2, runner: inProcess(calls), onProgress: (e) => events.push(e) });
    expect(out.status).toBe("complete");
    expect(out.budget).toBe("epochs=1");
    expect(calls).toHaveLength(18);
    expect(new ResultsStore(dir).scan().cells).toHaveLength(18);
    // progress: a start, per-run progress, 18 completions, an end; counts rise to the total.
    expect(events[0].type).toBe("start");
    expect(events.filter((e) => e.type === "cell-progress").length).toBeGreaterThanOrEqual(18 * 4);
    expect(events.filter((e) => e.type === "cell-done")).toHaveLength(18);
    // each completion carries its worker's training throughput (trainTokens / trainSeconds)
    for (const e of events) if (e.type === "cell-done") expect(e.trainTokensPerSecond).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ type: "end", status: "complete", counts: { done: 18, total: 18 } });
    // rows: one per (cell, task), with per-example outcomes, the budget and the params.
    expect(out.results.rows).toHaveLength(36);
    expect(out.results.students()).toEqual(["nano", "micro", "mini"]);
    expect(out.results.rows.every((r) => r.budget === "epochs=1" && r.examples?.length === 20 && r.n === 20)).toBe(true);
    // As a cell's last expression: a summary table, not the whole object.
    const summary = (out as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]()["text/plain"];
    expect(summary).toBe(formatSweepOutcome(out));
    expect(summary.split("\n")[0]).toBe("sweep complete: 18/18 cells done (0 from the store), 0 failed; budget epochs=1");
    const nanoLong = out.results.average("nano", "long")!;
    expect(summary).toMatch(new RegExp(`nano\\s+86K\\s+${nanoLong.toFixed(1)} \\(2\\)`));

    const again: string[] = [];
    const out2 = await runSweep(toySweep(), { store: dir, concurrency: 2, runner: inProcess(again) });
    expect(again).toHaveLength(0);
    expect(out2.counts).toMatchObject({ done: 18, cached: 18 });
    expect(out2.results.rows.map((r) => r.accuracy)).toEqual(out.results.rows.map((r) => r.accuracy));
    // Adding a seed runs only the new cells.
    const more: string[] = [];
    await runSweep(toySweep({ seeds: [0, 1, 2] }), { store: dir, concurrency: 2, runner: inProcess(more) });
    expect(more).toHaveLength(9);
    expect(storedResults(dir).rows).toHaveLength(54);
  });

  it("stores cells gzipped and still reads the plain files of earlier stores", async () => {
    const dir = tempDir();
    await runSweep(toySweep({ seeds: [0] }), { store: dir, runner: inProcess([]) });
    const cellsDir = join(dir, "cells");
    const names = readdirSync(cellsDir).filter((f) => !f.startsWith("."));
    expect(names).toHaveLength(9);
    expect(names.every((f) => /^[0-9a-f]{64}\.json\.gz$/.test(f))).toBe(true);
    const [first] = names.sort();
    const text = gunzipSync(readFileSync(join(cellsDir, first!))).toString("utf8");
    expect(readFileSync(join(cellsDir, first!)).length).toBeLessThan(text.length);
    // An earlier store's plain file is read (and validated) as before; the next put replaces it.
    const key = first!.slice(0, 64);
    const { rmSync } = await import("node:fs");
    rmSync(join(cellsDir, first!));
    writeFileSync(join(cellsDir, `${key}.json`), text);
    const store = new ResultsStore(dir);
    expect(store.get(key)?.key).toBe(key);
    expect(store.scan().cells).toHaveLength(9);
    const cell = store.get(key)!;
    store.put(cell.config, cell.meta, cell.result);
    expect(readdirSync(cellsDir).filter((f) => f.startsWith(key))).toEqual([`${key}.json.gz`]);
    // A plain file left beside its compressed cell (a put that ended before removing it) counts once.
    writeFileSync(join(cellsDir, `${key}.json`), text);
    expect(new ResultsStore(dir).scan().cells.filter((c) => c.key === key)).toHaveLength(1);
  });

  it("treats damaged or half-written files as missing and recomputes them", async () => {
    const dir = tempDir();
    const calls: string[] = [];
    const out = await runSweep(toySweep({ seeds: [0] }), { store: dir, runner: inProcess(calls) });
    const cellsDir = join(dir, "cells");
    const [a, b, c] = readdirSync(cellsDir).filter((f) => f.endsWith(".json.gz")).sort();
    const full = readFileSync(join(cellsDir, a));
    writeFileSync(join(cellsDir, a), full.subarray(0, full.length / 2)); // truncated
    const parsed = JSON.parse(gunzipSync(readFileSync(join(cellsDir, b))).toString("utf8"));
    parsed.result.accuracy = 0.99; // edited without the checksum
    writeFileSync(join(cellsDir, b), gzipSync(JSON.stringify(parsed)));
    writeFileSync(join(cellsDir, `.${c.slice(0, 64)}.999999.abcd.tmp`), "{\"partial"); // a dead writer's temp file
    const scan = new ResultsStore(dir).scan();
    expect(scan.damaged.map((d) => d.slice(0, 64)).sort()).toEqual([a, b].map((f) => f.slice(0, 64)).sort());
    expect(scan.damaged.join("\n")).toMatch(/checksum/);
    expect(scan.staleTemp).toHaveLength(1);
    const again: string[] = [];
    const out2 = await runSweep(toySweep({ seeds: [0] }), { store: dir, runner: inProcess(again) });
    expect(again.sort()).toEqual([a, b].map((f) => f.slice(0, 64)).sort());
    expect(out2.results.rows.map((r) => r.accuracy)).toEqual(out.results.rows.map((r) => r.accuracy));
    const after = new ResultsStore(dir).scan();
    expect(after).toMatchObject({ damaged: [], staleTemp: [] });
    expect(after.cells).toHaveLength(9);
  });

  it("records a failing cell, finishes the others, and retries it next time", async () => {
    const dir = tempDir();
    const runner: CellRunner = async (spec, ctx) => {
      if (spec.student === "micro" && spec.training.seed === 1) throw new Error("out of memory");
      return fakeRun(spec, { onProgress: ctx.onProgress });
    };
    const out = await runSweep(toySweep(), { store: dir, concurrency: 2, runner });
    expect(out.status).toBe("failed");
    expect(out.counts).toMatchObject({ done: 15, failed: 3 });
    expect(out.cells.filter((c) => c.error).every((c) => c.student === "micro" && c.seed === 1 && c.error === "out of memory")).toBe(true);
    const calls: string[] = [];
    const out2 = await runSweep(toySweep(), { store: dir, concurrency: 2, runner: inProcess(calls) });
    expect(calls).toHaveLength(3);
    expect(out2.status).toBe("complete");
  });

  it("two sweeps on one store at once compute each cell once (claims)", async () => {
    const dir = tempDir();
    const calls: string[] = [];
    const slow: CellRunner = async (spec, ctx) => {
      calls.push(ctx.key);
      await new Promise((r) => setTimeout(r, 15));
      return fakeRun(spec);
    };
    const [a, b] = await Promise.all([
      runSweep(toySweep(), { store: dir, concurrency: 2, runner: slow }),
      runSweep(toySweep(), { store: dir, concurrency: 2, runner: slow }),
    ]);
    expect(a.status).toBe("complete");
    expect(b.status).toBe("complete");
    expect(calls).toHaveLength(18);
    expect(new Set(calls).size).toBe(18);
    expect(a.counts.done).toBe(18);
    expect(b.counts.done).toBe(18);
    expect(a.counts.cached + b.counts.cached).toBe(18); // each took the other's cells from the store
    expect(a.results.rows.map((r) => r.accuracy)).toEqual(b.results.rows.map((r) => r.accuracy));
    const scan = new ResultsStore(dir).scan();
    expect(scan.cells).toHaveLength(18);
    expect(readdirSync(join(dir, "cells")).filter((f) => f.endsWith(".claim"))).toEqual([]);
  });

  it("takes over the claim of a process that died", async () => {
    const dir = tempDir();
    const [first] = planSweep(toySweep({ seeds: [0] }));
    const store = new ResultsStore(dir);
    writeFileSync(join(dir, "cells", `${first.key}.claim`), JSON.stringify({ pid: 999999, token: "dead" }));
    expect(store.scan().staleClaims).toEqual([`${first.key}.claim`]);
    expect(store.claimedElsewhere(first.key, "me")).toBe(false);
    const calls: string[] = [];
    const out = await runSweep(toySweep({ seeds: [0] }), { store: dir, runner: inProcess(calls) });
    expect(out.status).toBe("complete");
    expect(calls).toContain(first.key);
    // A live holder blocks: this process with another token.
    expect(store.claim(first.key, "a")).toBe(true);
    expect(store.claim(first.key, "b")).toBe(false);
    expect(store.claimedElsewhere(first.key, "b")).toBe(true);
    store.release(first.key, "b"); // not b's claim: stays
    expect(store.claim(first.key, "b")).toBe(false);
    store.release(first.key, "a");
    expect(store.claim(first.key, "b")).toBe(true);
  });

  it("rejects malformed run results at the boundary and stores nothing for them", async () => {
    const dir = tempDir();
    const runner: CellRunner = async (spec, ctx) => {
      const r = await fakeRun(spec, { onProgress: ctx.onProgress });
      if (spec.student === "nano") return { ...r, accuracy: 42 };
      if (spec.student === "micro") return { ...r, examples: r.examples.slice(1) };
      return r;
    };
    const out = await runSweep(toySweep({ seeds: [0] }), { store: dir, runner });
    expect(out.counts).toMatchObject({ done: 3, failed: 6 });
    const errors = out.cells.filter((c) => c.error).map((c) => c.error!);
    expect(errors.filter((e) => e.includes("result.accuracy: expected a fraction in [0, 1], got 42"))).toHaveLength(3);
    expect(errors.filter((e) => e.includes("result.examples: expected 40 outcomes"))).toHaveLength(3);
    expect(new ResultsStore(dir).scan().cells).toHaveLength(3);
  });

  it("stops on abort: no new cells start, finished ones stay stored", async () => {
    const dir = tempDir();
    const ac = new AbortController();
    let started = 0;
    const runner: CellRunner = (spec, ctx) =>
      new Promise((resolve, reject) => {
        started++;
        const t = setTimeout(() => resolve(fakeRun(spec)), 30);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(new Error("killed"));
        });
      });
    const mon = new SweepMonitor();
    const shown: string[] = [];
    const follow = mon.follow((m) => shown.push(m.toString()), 60_000);
    const out = await runSweep(toySweep(), {
      store: dir,
      concurrency: 2,
      runner,
      signal: ac.signal,
      onProgress: (e) => {
        follow(e);
        if (e.type === "cell-done" && e.counts.done === 4) ac.abort();
      },
    });
    // Shown on start, each cell start and end, and the end; per-step progress is throttled.
    expect(shown[0]).toMatch(/^sweep running: 0\/18/);
    expect(shown.at(-1)).toMatch(/^sweep aborted/);
    // Longest first: the largest student's long traces start the sweep.
    expect(shown.some((s) => s.includes("running  mini / long / seed 0"))).toBe(true);
    expect(out.status).toBe("aborted");
    expect(out.counts.done).toBe(4);
    expect(started).toBeLessThanOrEqual(6);
    expect(new ResultsStore(dir).scan().cells).toHaveLength(4);
    expect(out.cells.filter((c) => c.error).length).toBe(14);
    expect(mon.status).toBe("aborted");
    const bundle = mon[Symbol.for("Jupyter.display")]();
    expect(bundle["text/plain"]).toMatch(/^sweep aborted: 4\/18 cells done/);
    expect(bundle["text/html"]).toContain("<progress");
  });

  it("gives gaps with intervals from the stored cells", async () => {
    const dir = tempDir();
    const out = await runSweep(toySweep(), { store: dir, runner: inProcess([]) });
    const rep = longCotGap(out.results, { replicates: 300 });
    expect(rep.budgets).toEqual(["epochs=1"]);
    // 3 students x (2 tasks + Average)
    expect(rep.entries).toHaveLength(9);
    for (const e of rep.entries) {
      expect(e.runs).toEqual({ long: 2, short: 2 });
      expect(e.interval!.lo).toBeLessThanOrEqual(e.value);
      expect(e.interval!.hi).toBeGreaterThanOrEqual(e.value);
    }
    expect(existsSync(join(dir, "cells"))).toBe(true);
  });
});
