/**
 * Folders of evaluation runs into one ResultSet: `DIR/<student>-<variant>/` per run (the variant
 * after the last hyphen, e.g. `qwen2.5-0.5b-long`), optionally `seed<N>/` below it, and below that
 * whatever lm-evaluation-harness wrote for `--output_path` (a model-named folder with
 * `results_<date>.json` and, with `--log_samples`, `samples_<task>_<date>.jsonl`). CSV files in the
 * import format are read as they are.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { importCsv, importLmEval, ImportError, type LmEvalImportOptions } from "./import.js";
import { findResultsFiles } from "./lmeval-samples.js";
import { ResultSet } from "./results.js";
import { gap, largeModelCotGap, longCotGap, mixGains, type GapReport, type IntervalOptions } from "./metrics.js";

/** One run: who was evaluated, trained on what, and where its files are. */
export interface EvalRun {
  student: string;
  variant: string;
  path: string;
  seed?: number;
  params?: number;
}

/** `qwen2.5-0.5b-long` -> student `qwen2.5-0.5b`, variant `long`. */
export function parseRunName(name: string): { student: string; variant: string } {
  const i = name.lastIndexOf("-");
  if (i <= 0 || i === name.length - 1) throw new Error(`run folder "${name}": expected <student>-<variant> (variant after the last hyphen)`);
  return { student: name.slice(0, i), variant: name.slice(i + 1) };
}

/** `STUDENT:VARIANT=PATH` (the `--run` flag). */
export function parseRunFlag(s: string): EvalRun {
  const m = /^([^:=]+):([^:=]+)=(.+)$/.exec(s);
  if (!m) throw new Error(`--run ${JSON.stringify(s)}: expected STUDENT:VARIANT=PATH`);
  return { student: m[1]!, variant: m[2]!, path: m[3]! };
}

/** The runs in a folder laid out as `<student>-<variant>[/seed<N>]/...`; CSV files are returned apart. */
export function runsInDir(dir: string): { runs: EvalRun[]; csv: string[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImportError(dir, undefined, undefined, "not a folder");
  const runs: EvalRun[] = [];
  const csv: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (f.startsWith(".")) continue;
    if (statSync(p).isFile()) {
      if (f.endsWith(".csv")) csv.push(p);
      continue;
    }
    let name: { student: string; variant: string };
    try {
      name = parseRunName(f);
    } catch {
      continue; // not a run folder
    }
    const seeds = readdirSync(p).filter((s) => /^seed\d+$/.test(s) && statSync(join(p, s)).isDirectory()).sort();
    if (seeds.length) for (const s of seeds) runs.push({ ...name, path: join(p, s), seed: Number(s.slice(4)) });
    else runs.push({ ...name, path: p });
  }
  return { runs, csv };
}

/** Imports runs (lm-eval results with their samples files) and CSV files into one ResultSet. */
export function importRuns(runs: readonly EvalRun[], opts: { csv?: readonly string[]; lmEval?: Partial<Omit<LmEvalImportOptions, "student" | "variant">> } = {}): ResultSet {
  const sets: ResultSet[] = [];
  for (const r of runs) {
    const files = r.path.endsWith(".json") ? [r.path] : findResultsFiles(r.path);
    if (files.length === 0) throw new ImportError(r.path, undefined, undefined, `no results_*.json for run ${r.student}:${r.variant}`);
    if (files.length > 1) throw new ImportError(r.path, undefined, undefined, `${files.length} results files (${files.map((f) => basename(f)).join(", ")}); give each run its own folder`);
    sets.push(
      importLmEval(files[0]!, {
        ...opts.lmEval,
        student: r.student,
        variant: r.variant,
        ...(r.seed !== undefined ? { seed: r.seed } : {}),
        ...(r.params !== undefined ? { params: r.params } : {}),
      }),
    );
  }
  for (const c of opts.csv ?? []) sets.push(importCsv(c));
  if (sets.length === 0) throw new Error("no runs to import");
  return ResultSet.merge(...sets);
}

/**
 * The gap reports a set of variants supports: the Long CoT Gap (long, short), the Large Model CoT
 * Gap (large, small), the gains of each `mix-*` variant over its parts; with exactly two other
 * variants, their difference.
 */
export function standardGaps(rs: ResultSet, opts: IntervalOptions = {}): GapReport[] {
  const vs = new Set(rs.variants());
  const out: GapReport[] = [];
  if (vs.has("long") && vs.has("short")) out.push(longCotGap(rs, opts));
  if (vs.has("large") && vs.has("small")) out.push(largeModelCotGap(rs, opts));
  for (const v of vs) {
    if (!v.startsWith("mix")) continue;
    const parts = v.includes("large") ? ["large", "small"] : ["long", "short"];
    const present = parts.filter((p) => vs.has(p));
    if (present.length) out.push(...mixGains(rs, v, present, opts));
  }
  if (out.length === 0) {
    const list = [...vs];
    if (list.length === 2) out.push(gap(rs, list[0]!, list[1]!, opts));
    else throw new Error(`no gap to compute from variants ${list.join(", ")}: expected long/short, large/small, mix-*, or exactly two variants`);
  }
  return out;
}
