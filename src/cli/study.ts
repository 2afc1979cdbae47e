/**
 * `mixdistill study --preset quick|full [--out DIR] [--workers N] [--parts A,B] [--estimate-only]`:
 * prints a measured wall-time estimate, runs (or resumes) the preset's sweeps on the results store
 * with a progress line per run, then the gap report, and as its last line one JSON object with the
 * per-run accuracies, the gaps with intervals and the wall time.
 */
import { initBackend } from "../backend.js";
import { blasAvailable, resolveMatMulEngine, type MatMulChoice } from "../model/blas.js";
import { formatGapReport } from "../gap/metrics.js";
import { existsSync } from "node:fs";
import { writeFileAtomic } from "../data/atomic.js";
import { studyMarkdown } from "../experiment/study-report.js";
import { estimateStudy, planStudy, plannedRuns, runStudy, studyData, studyPreset, studyResults, STUDY_PRESETS, summarizeStudy, type StudySummary } from "../experiment/study.js";
import { choiceFlag, intFlag, one, parseArgs, UsageError } from "./args.js";
import type { CliIO } from "./index.js";

export const STUDY_HELP = `usage: mixdistill study --preset quick|full [options]

  --preset P         ${Object.values(STUDY_PRESETS).map((p) => `${p.name}: ${p.description}`).join("\n                     ")}
  --out DIR          results store (default results/study-PRESET); a re-run resumes from it
  --workers N        parallel single-threaded workers (default 2)
  --parts A,B        run only these parts of the preset, in its order (default all)
  --replicates N     bootstrap replicates of the intervals (default 2000)
  --estimate-only    print the measured estimate and the plan, run nothing
  --report-only      print the gap report of what the store holds, run nothing (no estimate)
  --markdown FILE    also write the store's report as Markdown (every cell, the gaps, the reading)
  --matmul E         the wasm backend's matMul engine: xnnpack (default: the same numbers on every
                     machine, the committed results' engine), openblas (2-3x faster training where
                     native/openblas is built; rounding depends on the CPU), auto (openblas if built)
The last line of the output is one JSON object: per-run accuracies, the gaps with intervals, wall time.
`;

const fmtDuration = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 90 ? `${(s / 60).toFixed(0)} min` : `${s.toFixed(0)} s`);

export async function cmdStudy(argv: string[], io: CliIO): Promise<number> {
  const p = parseArgs(argv, { values: ["preset", "out", "workers", "parts", "replicates", "markdown", "matmul"], booleans: ["estimate-only", "report-only"] });
  if (p.booleans.has("help")) {
    io.out(STUDY_HELP);
    return 0;
  }
  if (p.positional.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(p.positional[0])}`);
  const presetName = choiceFlag(p, "preset", Object.keys(STUDY_PRESETS) as Array<"quick" | "full">);
  if (!presetName) throw new UsageError("--preset is required (quick or full)");
  const matmulFlag = choiceFlag<MatMulChoice>(p, "matmul", ["xnnpack", "openblas", "auto"]) ?? "xnnpack";
  const matmul = resolveMatMulEngine(matmulFlag);
  if (matmulFlag === "openblas") {
    const a = blasAvailable();
    if (!a.ok) throw new UsageError(`--matmul openblas: ${a.why}`);
  }
  const preset = { ...studyPreset(presetName), ...(matmul === "openblas" ? { matmul } : {}) };
  const workers = intFlag(p, "workers", 2, 1);
  const replicates = intFlag(p, "replicates", 2000, 0);
  const store = one(p, "out") ?? `results/study-${preset.name}`;
  const partsFlag = one(p, "parts");
  const parts = partsFlag?.split(",").map((x) => x.trim()).filter(Boolean);
  for (const x of parts ?? [])
    if (!preset.parts.some((q) => q.name === x)) throw new UsageError(`--parts: preset ${preset.name} has no part ${JSON.stringify(x)} (it has ${preset.parts.map((q) => q.name).join(", ")})`);

  const t0 = Date.now();
  const markdown = one(p, "markdown");
  const data = studyData(preset);
  // The store is read once for the printed report, the JSON line and the Markdown file.
  const report = async (status: StudySummary["status"] | "from-store", estimateSeconds?: number): Promise<void> => {
    const sweeps = studyResults(store, preset, data);
    const { runs, gaps, reports } = summarizeStudy(store, preset, { replicates, data, swept: sweeps });
    for (const { sweep, report } of reports) io.out(`\n[${sweep}]\n${formatGapReport(report)}\n`);
    if (markdown) {
      await writeFileAtomic(markdown, studyMarkdown(store, preset, { replicates, data, sweeps, summary: { runs, gaps } }));
      io.out(`markdown report written to ${markdown}\n`);
    }
    const have: StudySummary["status"] = status === "from-store" ? (runs.length >= plannedRuns(planStudy(preset, data, parts)) ? "complete" : "partial") : status;
    const summary: StudySummary = { preset: preset.name, status: have, wallSeconds: Math.round((Date.now() - t0) / 100) / 10, ...(estimateSeconds !== undefined ? { estimateSeconds } : {}), workers, matmul, runs, gaps };
    io.out(`${JSON.stringify(summary)}\n`);
  };
  if (p.booleans.has("report-only")) {
    if (!existsSync(store)) throw new UsageError(`--report-only: no results store at ${store}`);
    await report("from-store");
    return 0;
  }
  const backend = await initBackend();
  const sweeps = planStudy(preset, data, parts);
  const engine = backend.name === "wasm" ? `${backend.name}, matMul ${matmul}` : backend.name;
  const hint = matmul === "xnnpack" && backend.name === "wasm" && blasAvailable().ok ? " (--matmul openblas trains 2-3x faster here, in cells of its own)" : "";
  io.out(`study ${preset.name}: ${sweeps.length} sweeps on ${engine}${hint}, store ${store}, ${workers} worker(s)\n`);
  for (const s of sweeps) io.out(`  ${s.name}: ${s.students.join(",")} x ${s.variants.map((v) => `${v.name}(cap ${v.maxNewTokens})`).join(",")} x seeds ${s.seeds.join(",")}\n`);
  const est = await estimateStudy(preset, { workers, store, data, parts });
  const cal = Object.entries(est.calibration).map(([s, c]) => `${s} ${Math.round(c.trainTokensPerSecond)} tok/s`).join(", ");
  io.out(`estimate: ${fmtDuration(est.seconds)} wall for ${est.cells} runs (${est.cached} already in the store), from a ${Object.values(est.calibration).reduce((a, c) => a + c.seconds, 0).toFixed(0)} s calibration (training ${cal})\n`);
  if (p.booleans.has("estimate-only")) return 0;

  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let status: StudySummary["status"];
  try {
    status = await runStudy(preset, {
      store,
      workers,
      parts,
      signal: ac.signal,
      onEvent: (s, e) => {
        if (e.type === "cell-done" && !e.cached) io.out(`[${s.name}] ${e.counts.done}/${e.counts.total} ${e.cell.student} ${e.cell.variant} seed ${e.cell.seed}: ${(100 * e.accuracy).toFixed(1)}% (${e.seconds.toFixed(0)} s)\n`);
        else if (e.type === "cell-error") io.out(`[${s.name}] FAILED ${e.cell.student} ${e.cell.variant} seed ${e.cell.seed}: ${e.error.split("\n")[0]}\n`);
        else if (e.type === "start" && e.counts.cached > 0) io.out(`[${s.name}] ${e.counts.cached}/${e.counts.total} runs from the store\n`);
      },
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  await report(status, Math.round(est.seconds));
  return status === "complete" ? 0 : 1;
}
