/**
 * The result model every source of numbers loads into: the user's sweeps, CSV and
 * lm-evaluation-harness imports, and the paper's reference tables. One row = one accuracy of one
 * student trained on one data variant, on one benchmark (or task), for one seed.
 */

/** Benchmark name of a row that carries an already averaged score (e.g. the paper's Tables 1-2). */
export const AVERAGE = "Average";

export interface ExampleOutcome {
  id: string;
  correct: boolean;
}

export interface ResultRow {
  student: string;
  /** Parameter count; orders students by size in reports and plots. */
  params?: number;
  /** The data the student was trained on: "long", "short", "mix-long", "large", "small", ... */
  variant: string;
  /** Benchmark or task; AVERAGE marks a pre-averaged score. */
  benchmark: string;
  /** Accuracy in percent (0-100), as the paper reports it. */
  accuracy: number;
  /** Number of evaluation examples behind `accuracy`; enables intervals over examples. */
  n?: number;
  /** Training seed; rows of the same cell with different seeds are averaged. */
  seed?: number;
  /** Per-example outcomes; enables paired intervals (same examples on both sides of a gap). */
  examples?: ExampleOutcome[];
  /** The budget rule the run was trained under, e.g. "epochs=2"; stated beside every gap. */
  budget?: string;
  /** Where the row came from: "file.csv:12", "store:<key>", "paper Table 3". */
  source?: string;
}

const isFiniteNumber = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** Checks one row; returns the first problem as "field: message", or undefined. */
export function checkRow(r: ResultRow): string | undefined {
  if (typeof r.student !== "string" || r.student === "") return "student: expected a non-empty string";
  if (typeof r.variant !== "string" || r.variant === "") return "variant: expected a non-empty string";
  if (typeof r.benchmark !== "string" || r.benchmark === "") return "benchmark: expected a non-empty string";
  if (!isFiniteNumber(r.accuracy) || r.accuracy < 0 || r.accuracy > 100)
    return `accuracy: expected a percentage in [0, 100], got ${JSON.stringify(r.accuracy)}`;
  if (r.params !== undefined && (!isFiniteNumber(r.params) || r.params <= 0))
    return `params: expected a positive number, got ${JSON.stringify(r.params)}`;
  if (r.n !== undefined && (!Number.isSafeInteger(r.n) || r.n <= 0))
    return `n: expected a positive integer, got ${JSON.stringify(r.n)}`;
  if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) return `seed: expected an integer, got ${JSON.stringify(r.seed)}`;
  if (r.examples !== undefined) {
    if (!Array.isArray(r.examples) || r.examples.length === 0) return "examples: expected a non-empty array";
    if (r.n !== undefined && r.n !== r.examples.length) return `examples: ${r.examples.length} outcomes but n=${r.n}`;
    const k = r.examples.filter((e) => e.correct).length;
    const acc = (100 * k) / r.examples.length;
    if (Math.abs(acc - r.accuracy) > 1e-6) return `accuracy: ${r.accuracy} disagrees with the examples (${acc})`;
  }
  return undefined;
}

/** A validated, immutable collection of rows with the lookups the metrics need. */
export class ResultSet {
  readonly rows: readonly ResultRow[];

  constructor(rows: Iterable<ResultRow>) {
    const out: ResultRow[] = [];
    let i = 0;
    for (const r of rows) {
      const e = checkRow(r);
      if (e) throw new Error(`result row ${i}${r.source ? ` (${r.source})` : ""}: ${e}`);
      out.push(Object.freeze({ ...r }));
      i++;
    }
    this.rows = Object.freeze(out);
  }

  static merge(...sets: ResultSet[]): ResultSet {
    return new ResultSet(sets.flatMap((s) => s.rows));
  }

  filter(pred: (r: ResultRow) => boolean): ResultSet {
    return new ResultSet(this.rows.filter(pred));
  }

  /** Students ordered by parameter count (unknown sizes last, then by name). */
  students(): string[] {
    const params = new Map<string, number>();
    for (const r of this.rows) if (r.params !== undefined && !params.has(r.student)) params.set(r.student, r.params);
    const names = [...new Set(this.rows.map((r) => r.student))];
    return names.sort((a, b) => {
      const pa = params.get(a) ?? Infinity;
      const pb = params.get(b) ?? Infinity;
      return pa !== pb ? pa - pb : a < b ? -1 : a > b ? 1 : 0;
    });
  }

  params(student: string): number | undefined {
    return this.rows.find((r) => r.student === student && r.params !== undefined)?.params;
  }

  variants(): string[] {
    return [...new Set(this.rows.map((r) => r.variant))];
  }

  /** Benchmarks in first-seen order, AVERAGE excluded. */
  benchmarks(): string[] {
    return [...new Set(this.rows.map((r) => r.benchmark))].filter((b) => b !== AVERAGE);
  }

  /** The distinct budget rules of the rows ("(none)" for rows without one). */
  budgets(): string[] {
    return [...new Set(this.rows.map((r) => r.budget ?? "(none)"))];
  }

  /** One result set per budget rule, so runs trained under different rules are never pooled. */
  byBudget(): Map<string, ResultSet> {
    const out = new Map<string, ResultSet>();
    for (const b of this.budgets()) out.set(b, this.filter((r) => (r.budget ?? "(none)") === b));
    return out;
  }

  /** Rows of one (student, variant, benchmark) cell: one per seed. */
  cell(student: string, variant: string, benchmark: string): ResultRow[] {
    return this.rows.filter((r) => r.student === student && r.variant === variant && r.benchmark === benchmark);
  }

  /** Mean accuracy over seeds of one cell, or undefined when absent. */
  mean(student: string, variant: string, benchmark: string): number | undefined {
    const c = this.cell(student, variant, benchmark);
    return c.length === 0 ? undefined : c.reduce((s, r) => s + r.accuracy, 0) / c.length;
  }

  /** Unweighted mean over the benchmarks (the paper's "Average"); a reported AVERAGE row when no benchmark rows exist. */
  average(student: string, variant: string, benchmarks?: string[]): number | undefined {
    const bs = (benchmarks ?? this.benchmarks()).filter((b) => this.cell(student, variant, b).length > 0);
    if (bs.length === 0) return this.mean(student, variant, AVERAGE);
    return bs.reduce((s, b) => s + (this.mean(student, variant, b) as number), 0) / bs.length;
  }
}
