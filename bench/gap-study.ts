// A toy learnability-gap study: students x long/short/mix-long x seeds on a synthetic task, run
// as a sweep in worker processes; prints per-cell times, the effective parallelism (sum of cell
// times / wall time) and the gaps with intervals. Resumes from its store on re-run.
//   npm run bench -- gap-study [--students nano,micro] [--seeds 2] [--n 200] [--epochs 1] [--workers 2] [--store DIR]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synth } from "../src/data/index.js";
import { evalExamples, mixLong, runSweep, sourceVariant, SweepMonitor } from "../src/experiment/index.js";
import { formatGapReport, longCotGap, mixGains } from "../src/gap/index.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const students = (args.get("students") ?? "nano,micro").split(",");
const seeds = Array.from({ length: Number(args.get("seeds") ?? 2) }, (_, i) => i);
const n = Number(args.get("n") ?? 200);
const nTest = Number(args.get("test") ?? 60);
const epochs = Number(args.get("epochs") ?? 1);
const workers = Number(args.get("workers") ?? 2);
const store = args.get("store") ?? mkdtempSync(join(tmpdir(), "mixdistill-gap-study-"));

const corpus = synth({ task: "arith", n: n + nTest, seed: 7, levels: [1, 2] });
const train = corpus.slice(0, n);
const test = corpus.slice(n);
const mon = new SweepMonitor();
const cellSeconds: number[] = [];
const t0 = Date.now();
const out = await runSweep(
  {
    name: "gap-study",
    students,
    variants: [sourceVariant(train, "long"), sourceVariant(train, "short"), mixLong(train, 0)],
    seeds,
    training: { budget: { kind: "epochs", epochs }, batchSize: 8, lr: 3e-3, warmupSteps: 5, weightDecay: 0.01, gradClip: 1 },
    test: evalExamples(test),
    maxNewTokens: 160,
  },
  {
    store,
    concurrency: workers,
    onProgress: (e) => {
      mon.update(e);
      if (e.type === "cell-done" && !e.cached) {
        cellSeconds.push(e.seconds);
        console.log(`${e.cell.student.padEnd(6)} ${e.cell.variant.padEnd(9)} seed ${e.cell.seed}: ${(100 * e.accuracy).toFixed(1)}% in ${e.seconds.toFixed(1)} s`);
      }
      if (e.type === "cell-error") console.log(`FAILED ${e.cell.student} ${e.cell.variant} ${e.cell.seed}: ${e.error}`);
    },
  },
);
const wall = (Date.now() - t0) / 1000;
const sum = cellSeconds.reduce((a, b) => a + b, 0);
console.log(`\n${mon.toString().split("\n")[0]}`);
console.log(`store: ${store}`);
console.log(`wall ${wall.toFixed(1)} s, sum of cell times ${sum.toFixed(1)} s, effective parallelism ${(sum / wall).toFixed(2)}x with ${workers} workers`);
const tok = (v: string) => out.cells.filter((c) => c.variant === v && c.result).map((c) => c.result!.trainTokens);
console.log(`train tokens per cell (equal epochs): long ${tok("long")[0]}, short ${tok("short")[0]}, mix-long ${tok("mix-long")[0]}`);
console.log("\n" + formatGapReport(longCotGap(out.results), { benchmarks: "average" }));
for (const r of mixGains(out.results, "mix-long", ["long", "short"])) console.log("\n" + formatGapReport(r, { benchmarks: "average" }));
