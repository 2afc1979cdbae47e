/**
 * The per-document logs lm-evaluation-harness writes with `--log_samples`: `samples_<task>_<date>.jsonl`
 * beside `results_<date>.json`, one JSON object a line per (document, filter) with the harness's
 * fields `doc_id`, `doc`, `target`, `arguments`, `resps`, `filtered_resps`, `filter`, `metrics` (the
 * metric names), `doc_hash`, `prompt_hash`, `target_hash`, and each metric's value under its own name
 * (`"exact_match": 1.0`). Read into per-example outcomes keyed by `doc_id`, they let gaps between runs
 * on the same documents get paired bootstrap intervals instead of binomial ones.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ExampleOutcome } from "./results.js";

export class SamplesError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    detail: string,
  ) {
    super(`${file}:${line}: ${field ? `field "${field}": ` : ""}${detail}`);
    this.name = "SamplesError";
  }
}

/** Splits a results key "exact_match,flexible-extract" into metric and filter ("none" when absent). */
export function splitMetricKey(key: string): { metric: string; filter: string } {
  const i = key.indexOf(",");
  return i < 0 ? { metric: key, filter: "none" } : { metric: key.slice(0, i), filter: key.slice(i + 1) };
}

/**
 * Reads one samples file into outcomes: the records of `filter` (records without a `filter` field
 * count for any), `correct` when the metric's value is 1 (or true). Values other than 0/1, missing
 * fields, repeated doc_ids and invalid JSON fail with file and line.
 */
export function readLmEvalSamples(path: string, opts: { metric: string; filter?: string }): ExampleOutcome[] {
  const filter = opts.filter ?? "none";
  const text = readFileSync(path, "utf8");
  const out: ExampleOutcome[] = [];
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    const line = i + 1;
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch (e) {
      throw new SamplesError(path, line, "", `not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== "object" || rec === null || Array.isArray(rec)) throw new SamplesError(path, line, "", "expected a JSON object (one sample a line)");
    const r = rec as Record<string, unknown>;
    if (r.filter !== undefined && r.filter !== filter) continue;
    const docId = r.doc_id;
    if (!(typeof docId === "number" && Number.isSafeInteger(docId)) && typeof docId !== "string") throw new SamplesError(path, line, "doc_id", `expected an integer, got ${JSON.stringify(docId)}`);
    const v = r[opts.metric];
    let correct: boolean;
    if (v === 1 || v === true) correct = true;
    else if (v === 0 || v === false) correct = false;
    else if (v === undefined) throw new SamplesError(path, line, opts.metric, `missing (the sample's metrics: ${Array.isArray(r.metrics) ? r.metrics.join(", ") : "none listed"})`);
    else throw new SamplesError(path, line, opts.metric, `expected a 0/1 outcome, got ${JSON.stringify(v)}`);
    const id = String(docId);
    const prev = seen.get(id);
    if (prev !== undefined) throw new SamplesError(path, line, "doc_id", `doc_id ${id} repeated (first on line ${prev}) for filter "${filter}"`);
    seen.set(id, line);
    out.push({ id, correct });
  }
  if (out.length === 0) throw new SamplesError(path, 0, "filter", `no samples for filter "${filter}"`);
  return out;
}

/**
 * The samples file of `task` beside a results file: `samples_<task>_<date>.jsonl` with the results
 * file's date when there is one, else the newest `samples_<task>_*.jsonl` in the folder.
 */
export function findSamplesFile(resultsPath: string, task: string): string | undefined {
  const dir = dirname(resultsPath);
  const stamp = /^results_(.+)\.json$/.exec(basename(resultsPath))?.[1];
  if (stamp !== undefined) {
    const exact = join(dir, `samples_${task}_${stamp}.jsonl`);
    if (existsSync(exact)) return exact;
  }
  const prefix = `samples_${task}_`;
  const cands = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith(".jsonl") && !f.slice(prefix.length).includes("samples_")).sort();
  return cands.length ? join(dir, cands[cands.length - 1]!) : undefined;
}

/** The newest `results_*.json` in `dir` or in its sub-folders (the harness writes a model-named folder). */
export function findResultsFiles(dir: string, depth = 3): string[] {
  const out: string[] = [];
  const walk = (d: string, left: number) => {
    const entries = readdirSync(d).sort();
    const here = entries.filter((f) => /^results_.*\.json$/.test(f));
    if (here.length) out.push(join(d, here[here.length - 1]!));
    if (left > 0) for (const f of entries) if (!f.startsWith(".") && statSync(join(d, f)).isDirectory()) walk(join(d, f), left - 1);
  };
  walk(dir, depth);
  return out;
}
