// End to end: 3 students x long/short/mix-long x 2 seeds on a synthetic task, trained and evaluated
// by the real runTrainEval in two worker processes; gaps and intervals from the stored results.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synth } from "../../src/data/index.js";
import { evalExamples, mixLong, runSweep, sourceVariant, storedResults, SweepMonitor, type SweepConfig } from "../../src/experiment/index.js";
import { AVERAGE, formatGapReport, longCotGap, mixGains } from "../../src/gap/index.js";
import { gapPlot } from "../../src/viz/index.js";
import { bundle, bundleDir, cleanup, tempDir, workerEntry } from "./helpers.js";

afterAll(cleanup);

let workerModule = "";
beforeAll(async () => {
  workerModule = await bundle(workerEntry, bundleDir(), "worker");
});

function study(): SweepConfig {
  const corpus = synth({ task: "mixed", n: 40, seed: 3, levels: [1] });
  const train = corpus.slice(0, 28);
  const test = corpus.slice(28);
  return {
    name: "e2e",
    // Tiny students so the whole grid trains in about a minute on two cores.
    students: [
      { name: "d16", dModel: 16, nLayers: 1, nHeads: 2, maxLen: 384 },
      { name: "d32", dModel: 32, nLayers: 1, nHeads: 2, maxLen: 384 },
      { name: "d48", dModel: 48, nLayers: 2, nHeads: 4, maxLen: 384 },
    ],
    variants: [sourceVariant(train, "long"), sourceVariant(train, "short"), mixLong(train, 0)],
    seeds: [0, 1],
    training: { budget: { kind: "epochs", epochs: 1 }, batchSize: 4, lr: 3e-3, warmupSteps: 1, weightDecay: 0, gradClip: 1 },
    test: evalExamples(test),
    maxNewTokens: 24,
    backend: "wasm",
  };
}

describe("end-to-end sweep with the real trainer", () => {
  it("trains the grid in worker processes, stores it, and yields gaps with intervals", async () => {
    const dir = tempDir();
    const mon = new SweepMonitor();
    const out = await runSweep(study(), { store: dir, concurrency: 2, pool: { workerModule }, onProgress: mon.update });
    expect(out.cells.filter((c) => c.error).map((c) => c.error)).toEqual([]);
    expect(out.status).toBe("complete");
    expect(out.counts).toMatchObject({ total: 18, done: 18, cached: 0 });
    expect(mon.toString()).toMatch(/^sweep complete: 18\/18 cells done/);
    const cells = out.cells.map((c) => c.result!);
    expect(cells.every((r) => r.backend === "wasm" && r.examples.length === 12)).toBe(true);
    // Equal epochs over 28 questions in every variant: the same number of steps everywhere.
    expect(new Set(cells.map((r) => r.steps)).size).toBe(1);
    expect(cells[0].steps).toBeGreaterThan(0);
    // Equal epochs: the long variant trains on more tokens than the short one.
    const tokens = (v: string) => out.cells.filter((c) => c.variant === v).map((c) => c.result!.trainTokens);
    expect(Math.min(...tokens("long"))).toBeGreaterThan(Math.max(...tokens("short")));
    // Students ordered by size; params from the runs.
    expect(out.results.students()).toEqual(["d16", "d32", "d48"]);
    expect(out.results.params("d16")!).toBeLessThan(out.results.params("d48")!);

    const gapRep = longCotGap(out.results, { replicates: 500 });
    expect(gapRep.budgets).toEqual(["epochs=1"]);
    const avg = gapRep.entries.filter((e) => e.benchmark === AVERAGE);
    expect(avg).toHaveLength(3);
    for (const e of avg) {
      expect(e.runs).toEqual({ long: 2, short: 2 });
      expect(e.value).toBeCloseTo(e.accuracy.long - e.accuracy.short, 9);
      expect(e.interval!.lo).toBeLessThanOrEqual(e.value + 1e-9);
      expect(e.interval!.hi).toBeGreaterThanOrEqual(e.value - 1e-9);
    }
    const gains = mixGains(out.results, "mix-long", ["long", "short"], { replicates: 200 });
    expect(gains).toHaveLength(3);
    expect(gains[2].entries.filter((e) => e.benchmark === AVERAGE)).toHaveLength(3);
    expect(gapPlot(gapRep).text).toContain("Long CoT Gap");
    console.log(formatGapReport(gapRep, { benchmarks: "average" }));

    // A re-run trains nothing and gives the same numbers.
    const again = await runSweep(study(), { store: dir, concurrency: 2, pool: { workerModule } });
    expect(again.counts).toMatchObject({ done: 18, cached: 18 });
    expect(longCotGap(again.results, { replicates: 500 }).entries).toEqual(gapRep.entries);
    expect(storedResults(dir).rows).toHaveLength(out.results.rows.length);
  }, 240_000);

  it("runs cells on either matMul engine in worker processes, each in cells of its own", async () => {
    const dir = tempDir();
    const one = (matmul: "xnnpack" | "openblas"): SweepConfig => ({ ...study(), name: matmul, students: [study().students[1]!], variants: [study().variants[1]!], seeds: [0], matmul });
    const [x, b] = [await runSweep(one("xnnpack"), { store: dir, concurrency: 1, pool: { workerModule } }), await runSweep(one("openblas"), { store: dir, concurrency: 1, pool: { workerModule } })];
    expect([x.status, b.status]).toEqual(["complete", "complete"]);
    expect(x.cells[0]!.result!.matmul).toBe("xnnpack");
    expect(b.cells[0]!.result!.matmul).toBe("openblas");
    expect(b.cells[0]!.key).not.toBe(x.cells[0]!.key);
    expect(b.counts.cached).toBe(0); // the XNNPACK cell is not taken for the OpenBLAS one
    // The same training on either engine: the losses agree to float rounding.
    expect(Math.abs(b.cells[0]!.result!.finalLoss! - x.cells[0]!.result!.finalLoss!)).toBeLessThan(1e-3);
    expect(readdirSync(join(dir, "cells")).filter((f) => f.endsWith(".json.gz"))).toHaveLength(2);
  }, 120_000);
});
