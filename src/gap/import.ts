/**
 * Imports of real-scale results into the result model: a CSV with one accuracy a line, and the
 * results JSON lm-evaluation-harness writes. Malformed input fails with an error naming the file,
 * the line and the field.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { checkRow, ResultSet, type ExampleOutcome, type ResultRow } from "./results.js";
import { findSamplesFile, readLmEvalSamples, splitMetricKey } from "./lmeval-samples.js";

/** A results file that cannot be imported; the message names the file and the field. */
export class ImportError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string | undefined,
    detail: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ""}: ${field ? `${field}: ` : ""}${detail}`);
    this.name = "ImportError";
  }
}

/** How accuracies are written: percent (45.9), fraction (0.459), or auto (fraction when every value is <= 1). */
export type AccuracyScale = "percent" | "fraction" | "auto";

/** Parses "1.5B", "494M", "31K", "7e9", "3,000,000" into a number of parameters. */
export function parseParams(s: string): number | undefined {
  const m = /^\s*([0-9][0-9,]*(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([kmbt])?\s*$/i.exec(s);
  if (!m) return undefined;
  const x = Number(m[1].replace(/,/g, ""));
  const mult = { k: 1e3, m: 1e6, b: 1e9, t: 1e12 }[(m[2] ?? "").toLowerCase() as "k" | "m" | "b" | "t"] ?? 1;
  const v = x * mult;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

interface CsvRecord {
  line: number;
  cells: string[];
}

/** RFC 4180 CSV: quoted fields with "" escapes and embedded newlines, CRLF or LF. Records keep their first line number. */
export function parseCsv(text: string, file = "<csv>"): CsvRecord[] {
  const out: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < text.length) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      let cell = "";
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new ImportError(file, start, undefined, "unterminated quoted field");
          const ch = text[i];
          if (ch === '"') {
            if (text[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === "\n") line++;
          cell += ch;
          i++;
        }
        if (i < text.length && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r")
          throw new ImportError(file, line, undefined, `unexpected character ${JSON.stringify(text[i])} after a closing quote`);
      } else {
        while (i < text.length && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          if (text[i] === '"') throw new ImportError(file, line, undefined, "a quote inside an unquoted field");
          cell += text[i++];
        }
      }
      cells.push(cell);
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "\r") i++;
      if (text[i] === "\n") {
        i++;
        line++;
      }
      break;
    }
    if (!(cells.length === 1 && cells[0].trim() === "")) out.push({ line: start, cells });
  }
  return out;
}

type Field = "student" | "params" | "variant" | "benchmark" | "accuracy" | "n" | "seed" | "budget";

const ALIASES: Record<Field, string[]> = {
  student: ["student", "model", "studentmodel"],
  params: ["parameters", "params", "nparams", "numparams", "size"],
  variant: ["datavariant", "variant", "data", "trainingdata"],
  benchmark: ["benchmark", "task"],
  accuracy: ["accuracy", "acc", "score", "accuracypct", "accuracypercent"],
  n: ["numberofexamples", "n", "nexamples", "numexamples", "examples", "count"],
  seed: ["seed"],
  budget: ["budget", "budgetrule"],
};
const REQUIRED: Field[] = ["student", "variant", "benchmark", "accuracy"];
const normalise = (h: string) => h.toLowerCase().replace(/[^a-z0-9]/g, "");

export interface CsvImportOptions {
  /** Name used in error messages and row sources; default "<csv>". */
  file?: string;
  accuracyScale?: AccuracyScale;
}

/**
 * Reads results from CSV text. Header (case and punctuation ignored): student, parameters,
 * data variant, benchmark, accuracy, number of examples; optional seed and budget. Parameters
 * accept "1.5B"-style sizes; accuracy accepts "45.9", "45.9%" or fractions (see accuracyScale; a
 * header "accuracy (%)" means percent).
 */
export function resultsFromCsv(text: string, opts: CsvImportOptions = {}): ResultSet {
  const file = opts.file ?? "<csv>";
  const records = parseCsv(text, file);
  if (records.length === 0) throw new ImportError(file, undefined, undefined, "empty file (expected a header line)");
  const header = records[0];
  const col = new Map<Field, number>();
  header.cells.forEach((h, idx) => {
    const k = normalise(h);
    for (const f of Object.keys(ALIASES) as Field[]) {
      if (!ALIASES[f].includes(k)) continue;
      if (col.has(f)) throw new ImportError(file, header.line, h, `duplicate column (already have ${JSON.stringify(header.cells[col.get(f)!])})`);
      col.set(f, idx);
    }
  });
  const missing = REQUIRED.filter((f) => !col.has(f));
  if (missing.length > 0)
    throw new ImportError(file, header.line, missing[0], `missing column; the header needs ${REQUIRED.join(", ")} (got ${header.cells.map((c) => JSON.stringify(c)).join(", ")})`);

  const parsed: Array<{ row: ResultRow; line: number; rawAcc: number; percentSign: boolean }> = [];
  for (const rec of records.slice(1)) {
    if (rec.cells.length !== header.cells.length)
      throw new ImportError(file, rec.line, undefined, `expected ${header.cells.length} fields as in the header, got ${rec.cells.length}`);
    const get = (f: Field) => (col.has(f) ? rec.cells[col.get(f)!].trim() : "");
    const fail = (f: Field, msg: string): never => {
      throw new ImportError(file, rec.line, header.cells[col.get(f)!].trim() || f, msg);
    };
    for (const f of REQUIRED) if (get(f) === "") fail(f, "empty value");
    const accText = get("accuracy");
    const percentSign = accText.endsWith("%");
    const rawAcc = Number(percentSign ? accText.slice(0, -1).trim() : accText);
    if (!Number.isFinite(rawAcc) || rawAcc < 0) fail("accuracy", `expected a non-negative number, got ${JSON.stringify(accText)}`);
    const row: ResultRow = { student: get("student"), variant: get("variant"), benchmark: get("benchmark"), accuracy: rawAcc, source: `${file}:${rec.line}` };
    if (get("params") !== "") {
      const p = parseParams(get("params"));
      if (p === undefined) fail("params", `expected a parameter count such as 1.5B, 494M or 31000, got ${JSON.stringify(get("params"))}`);
      row.params = p;
    }
    if (get("n") !== "") {
      const n = Number(get("n"));
      if (!Number.isSafeInteger(n) || n <= 0) fail("n", `expected a positive integer, got ${JSON.stringify(get("n"))}`);
      row.n = n;
    }
    if (get("seed") !== "") {
      const s = Number(get("seed"));
      if (!Number.isSafeInteger(s)) fail("seed", `expected an integer, got ${JSON.stringify(get("seed"))}`);
      row.seed = s;
    }
    if (get("budget") !== "") row.budget = get("budget");
    parsed.push({ row, line: rec.line, rawAcc, percentSign });
  }
  // A header such as "accuracy (%)" says the values are percentages.
  const headerPercent = /%|pct|percent/i.test(header.cells[col.get("accuracy")!]);
  const scale = opts.accuracyScale ?? (headerPercent ? "percent" : "auto");
  const asFraction = scale === "fraction" || (scale === "auto" && parsed.every((p) => !p.percentSign && p.rawAcc <= 1));
  const rows = parsed.map(({ row, line, rawAcc, percentSign }) => {
    row.accuracy = asFraction && !percentSign ? rawAcc * 100 : rawAcc;
    const e = checkRow(row);
    if (e) {
      const [field, ...rest] = e.split(": ");
      throw new ImportError(file, line, field === "accuracy" ? header.cells[col.get("accuracy")!].trim() : field, rest.join(": ") + (asFraction ? " (accuracy read as a fraction)" : ""));
    }
    return row;
  });
  return new ResultSet(rows);
}

/** Reads a results CSV file (see resultsFromCsv). */
export function importCsv(path: string, opts: Omit<CsvImportOptions, "file"> = {}): ResultSet {
  return resultsFromCsv(readFileSync(path, "utf8"), { ...opts, file: path });
}

/** Metrics tried in order when no metric is named: the generative math tasks' ones first. */
export const LM_EVAL_METRICS = [
  "exact_match,flexible-extract",
  "exact_match,strict-match",
  "exact_match,none",
  "math_verify,none",
  "acc,none",
  "acc_norm,none",
  "exact_match",
  "acc",
];

export interface LmEvalImportOptions {
  /** Student name; default the `pretrained=` of config.model_args, else model_name. */
  student?: string;
  /** The data variant the evaluated model was trained on ("long", "short", ...). Required. */
  variant: string;
  params?: number;
  seed?: number;
  budget?: string;
  /** Metric key ("exact_match,flexible-extract"); default the first of LM_EVAL_METRICS a task has. */
  metric?: string;
  /** Rename tasks to benchmarks, e.g. { gsm8k_cot_zeroshot: "GSM8K", hendrycks_math: "MATH" }. */
  benchmarks?: Record<string, string>;
  /** Only these tasks (names as in the file); default every task that is not a subtask of a group. */
  tasks?: string[];
  file?: string;
  /**
   * Per-example outcomes of a task (its `--log_samples` file), keyed by the document ids; rows that
   * get them carry `examples` and so paired intervals. importLmEval reads the samples files beside
   * the results file unless `samples` is false.
   */
  samplesFor?: (task: string, metricKey: string) => ExampleOutcome[] | undefined;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** Reads lm-evaluation-harness results (the `results_*.json` it writes) into the result model. */
export function resultsFromLmEval(json: unknown, opts: LmEvalImportOptions): ResultSet {
  const file = opts.file ?? "<lm-eval json>";
  const fail = (field: string, msg: string): never => {
    throw new ImportError(file, undefined, field, msg);
  };
  if (typeof opts.variant !== "string" || opts.variant === "") fail("variant", "the import needs the data variant the model was trained on (option `variant`)");
  if (!isObject(json)) fail("(root)", "expected a JSON object");
  const doc = json as Record<string, unknown>;
  if (!isObject(doc.results)) fail("results", "expected an object of per-task metrics (is this an lm-evaluation-harness results file?)");
  const results = doc.results as Record<string, unknown>;
  let student = opts.student;
  if (student === undefined) {
    const cfg = doc.config;
    const args = isObject(cfg) && typeof cfg.model_args === "string" ? cfg.model_args : isObject(cfg) && isObject(cfg.model_args) ? `pretrained=${String(cfg.model_args.pretrained ?? "")}` : "";
    const m = /(?:^|,)\s*pretrained=([^,]+)/.exec(args);
    student = m?.[1] || (typeof doc.model_name === "string" ? doc.model_name : undefined);
    if (!student) fail("config.model_args", "no pretrained= model to name the student; pass option `student`");
  }
  const subtasks = new Set<string>();
  if (isObject(doc.group_subtasks))
    for (const [g, subs] of Object.entries(doc.group_subtasks)) if (Array.isArray(subs)) for (const s of subs) if (typeof s === "string" && s !== g) subtasks.add(s);
  const nSamples = isObject(doc["n-samples"]) ? (doc["n-samples"] as Record<string, unknown>) : {};
  const countOf = (task: string): number | undefined => {
    const e = nSamples[task];
    if (isObject(e)) {
      const v = e.effective ?? e.original;
      if (Number.isSafeInteger(v) && (v as number) > 0) return v as number;
    }
    const subs = isObject(doc.group_subtasks) ? doc.group_subtasks[task] : undefined;
    if (Array.isArray(subs) && subs.length > 0) {
      const ns = subs.map((s) => (typeof s === "string" ? countOf(s) : undefined));
      if (ns.every((x): x is number => x !== undefined)) return ns.reduce((a, b) => a + b, 0);
    }
    return undefined;
  };
  const tasks = opts.tasks ?? Object.keys(results).filter((t) => !subtasks.has(t));
  if (tasks.length === 0) fail("results", "no tasks");
  const rows: ResultRow[] = [];
  for (const task of tasks) {
    const m = results[task];
    if (!isObject(m)) fail(`results.${task}`, opts.tasks ? "task not in the file" : "expected an object of metrics");
    const metrics = m as Record<string, unknown>;
    const metric = opts.metric ?? LM_EVAL_METRICS.find((k) => typeof metrics[k] === "number");
    if (metric === undefined)
      fail(`results.${task}`, `none of the known accuracy metrics (${LM_EVAL_METRICS.join(", ")}); name one with option \`metric\` (keys: ${Object.keys(metrics).join(", ")})`);
    const v = metrics[metric as string];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) fail(`results.${task}.${metric}`, `expected an accuracy in [0, 1], got ${JSON.stringify(v)}`);
    const row: ResultRow = {
      student: student as string,
      variant: opts.variant,
      benchmark: opts.benchmarks?.[task] ?? task,
      accuracy: (v as number) * 100,
      source: `${file}:results.${task}.${metric}`,
    };
    const n = countOf(task);
    if (n !== undefined) row.n = n;
    const examples = opts.samplesFor?.(task, metric as string);
    if (examples) {
      const k = examples.filter((e) => e.correct).length;
      const acc = k / examples.length;
      if (Math.abs(acc - (v as number)) > 1e-6)
        fail(`results.${task}.${metric}`, `${v} disagrees with its samples file (${k}/${examples.length} = ${acc})`);
      row.examples = examples;
      row.n = examples.length;
      row.accuracy = 100 * acc;
    }
    if (opts.params !== undefined) row.params = opts.params;
    if (opts.seed !== undefined) row.seed = opts.seed;
    if (opts.budget !== undefined) row.budget = opts.budget;
    rows.push(row);
  }
  return new ResultSet(rows);
}

/** Reads an lm-evaluation-harness results file (see resultsFromLmEval). */
export function importLmEval(path: string, opts: Omit<LmEvalImportOptions, "file"> & { samples?: boolean }): ResultSet {
  const text = readFileSync(path, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(String(e));
    const line = m ? text.slice(0, Number(m[1])).split("\n").length : undefined;
    throw new ImportError(path, line, undefined, `invalid JSON: ${(e as Error).message}`);
  }
  const samplesFor =
    opts.samplesFor ??
    (opts.samples === false
      ? undefined
      : (task: string, key: string) => {
          const f = findSamplesFile(path, task);
          return f ? readLmEvalSamples(f, splitMetricKey(key)) : undefined;
        });
  return resultsFromLmEval(json, { ...opts, file: path, ...(samplesFor ? { samplesFor } : {}) });
}

const csvCell = (s: string) => (/[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s);

/** Results as CSV in the import format (one line per row; per-example outcomes are not kept). */
export function resultsToCsv(rs: ResultSet): string {
  const lines = ["student,parameters,data variant,benchmark,accuracy (%),number of examples,seed,budget"];
  for (const r of rs.rows)
    lines.push(
      [r.student, r.params === undefined ? "" : String(r.params), r.variant, r.benchmark, String(r.accuracy), r.n === undefined ? "" : String(r.n), r.seed === undefined ? "" : String(r.seed), r.budget ?? ""]
        .map(csvCell)
        .join(","),
    );
  return lines.join("\n") + "\n";
}

/** Writes results as CSV atomically (temp file + rename). */
export function writeResultsCsv(path: string, rs: ResultSet): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, resultsToCsv(rs));
  renameSync(tmp, path);
}
