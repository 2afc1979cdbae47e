/**
 * The paper's quantities with bootstrap confidence intervals:
 *   Long CoT Gap        dLong  = P_long  - P_short
 *   Large Model CoT Gap dLarge = P_large - P_small
 *   mix gains           P_mix - P_part for each part, and P_mix - max(parts)
 * per student and benchmark, and on the unweighted mean over benchmarks ("Average").
 *
 * Intervals: a hierarchical percentile bootstrap. Each replicate resamples, for every
 * (variant, benchmark) cell, the seeds with replacement and, within every picked run, the
 * evaluation examples with replacement. Runs that share the same evaluation examples (per-example
 * outcomes with the same ids) are resampled with the same example indices, so a gap between two
 * students' variants on one test set is a paired comparison. Rows with only an accuracy and n get
 * a binomial redraw; rows with neither per-example outcomes nor n contribute no example noise.
 */
import { AVERAGE, ResultSet, type ResultRow } from "./results.js";
import { makeRng } from "../data/rng.js";
import { binomial, quantile } from "./random.js";

export interface IntervalOptions {
  /** Bootstrap replicates; default 2000. 0 disables intervals. */
  replicates?: number;
  /** Coverage of the interval; default 0.95. */
  level?: number;
  /** Seed of the resampling; default 0 (same inputs, same interval). */
  seed?: number;
}

export interface Interval {
  lo: number;
  hi: number;
  level: number;
  /** The interval includes 0: the sign of the gap is not established. */
  containsZero: boolean;
}

export interface GapEntry {
  student: string;
  params?: number;
  /** A benchmark name, or AVERAGE for the unweighted mean over `benchmarks`. */
  benchmark: string;
  /** Benchmarks behind an AVERAGE entry (those present for every variant involved). */
  benchmarks?: string[];
  /** Mean accuracy of each variant involved, in percent. */
  accuracy: Record<string, number>;
  /** Seeds (runs) behind each variant's number. */
  runs: Record<string, number>;
  /** The gap in percentage points. */
  value: number;
  /** Absent when nothing can be resampled (no example counts and a single run per side). */
  interval?: Interval;
  /** A published value of the same gap (e.g. the paper's), shown beside the recomputed one. */
  reported?: ReportedGap;
}

export interface ReportedGap {
  value: number;
  /** exact: reproduces the printed value; rounding: within rounding of it; inconsistent: beyond. */
  status: "exact" | "rounding" | "inconsistent";
  source: string;
}

export interface GapReport {
  /** "Long CoT Gap", "Large Model CoT Gap", "Mix-Long gain over short", ... */
  name: string;
  /** What is computed, e.g. "long - short" or "mix-long - max(long, short)". */
  formula: string;
  /** Distinct budget rules of the rows involved; more than one means the runs are not comparable. */
  budgets: string[];
  entries: GapEntry[];
  method: string;
}

type Stat = (m: (variant: string, benchmark: string) => number) => number;

interface Contrast {
  name: string;
  formula: string;
  variants: string[];
  /** The gap at one benchmark from the variant means there. */
  at: (mean: (variant: string) => number) => number;
}

function runsOf(rs: ResultSet, student: string, variant: string, benchmark: string): ResultRow[] {
  return rs.cell(student, variant, benchmark);
}

/** A resampler for one student: draws bootstrap means of every (variant, benchmark) cell. */
class CellResampler {
  private readonly cells = new Map<string, ResultRow[]>();
  /** Per benchmark: the id order shared by runs with per-example outcomes, and each run's outcomes in that order. */
  private readonly shared = new Map<string, { ids: string[]; outcomes: Map<ResultRow, Uint8Array> }>();
  private readonly drawn = new Map<string, Uint32Array>();

  constructor(rs: ResultSet, student: string, variants: string[], benchmarks: string[]) {
    for (const b of benchmarks) {
      const withExamples: ResultRow[] = [];
      for (const v of variants) {
        const runs = runsOf(rs, student, v, b);
        this.cells.set(key(v, b), runs);
        for (const r of runs) if (r.examples) withExamples.push(r);
      }
      if (withExamples.length === 0) continue;
      const ids = withExamples[0].examples!.map((e) => e.id).sort();
      const same = withExamples.every((r) => r.examples!.length === ids.length && r.examples!.map((e) => e.id).sort().every((id, i) => id === ids[i]));
      if (!same) continue; // different test sets: each run resampled on its own
      const outcomes = new Map<ResultRow, Uint8Array>();
      const index = new Map(ids.map((id, i) => [id, i]));
      for (const r of withExamples) {
        const o = new Uint8Array(ids.length);
        for (const e of r.examples!) o[index.get(e.id)!] = e.correct ? 1 : 0;
        outcomes.set(r, o);
      }
      this.shared.set(b, { ids, outcomes });
    }
  }

  /** True when a replicate differs from the point estimate at all. */
  get resamplable(): boolean {
    for (const runs of this.cells.values()) {
      if (runs.length > 1) return true;
      if (runs.some((r) => r.examples !== undefined || r.n !== undefined)) return true;
    }
    return false;
  }

  /** Starts a replicate: fresh shared example indices per benchmark. */
  begin(rand: () => number): void {
    for (const [b, s] of this.shared) {
      let idx = this.drawn.get(b);
      if (!idx) this.drawn.set(b, (idx = new Uint32Array(s.ids.length)));
      for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(rand() * idx.length);
    }
  }

  private runAccuracy(r: ResultRow, benchmark: string, rand: () => number): number {
    const s = this.shared.get(benchmark);
    const o = s?.outcomes.get(r);
    if (o) {
      const idx = this.drawn.get(benchmark)!;
      let k = 0;
      for (let i = 0; i < idx.length; i++) k += o[idx[i]];
      return (100 * k) / idx.length;
    }
    if (r.examples) {
      const n = r.examples.length;
      let k = 0;
      for (let i = 0; i < n; i++) if (r.examples[Math.floor(rand() * n)].correct) k++;
      return (100 * k) / n;
    }
    if (r.n !== undefined) return (100 * binomial(r.n, r.accuracy / 100, rand)) / r.n;
    return r.accuracy;
  }

  /** One bootstrap mean of a cell: seeds resampled, then examples within each picked run. */
  mean(variant: string, benchmark: string, rand: () => number): number {
    const runs = this.cells.get(key(variant, benchmark))!;
    if (runs.length === 1) return this.runAccuracy(runs[0], benchmark, rand);
    let s = 0;
    for (let i = 0; i < runs.length; i++) s += this.runAccuracy(runs[Math.floor(rand() * runs.length)], benchmark, rand);
    return s / runs.length;
  }
}

const key = (variant: string, benchmark: string): string => `${variant}\u0000${benchmark}`;

function interval(samples: Float64Array, level: number): Interval {
  samples.sort();
  const lo = quantile(samples, (1 - level) / 2);
  const hi = quantile(samples, 1 - (1 - level) / 2);
  // A tolerance, so an interval that is zero up to floating-point error counts as containing zero.
  const eps = 1e-9;
  return { lo, hi, level, containsZero: lo <= eps && hi >= -eps };
}

function checkOptions(o: IntervalOptions): Required<IntervalOptions> {
  const replicates = o.replicates ?? 2000;
  const level = o.level ?? 0.95;
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(replicates) || replicates < 0) throw new Error(`replicates: expected a non-negative integer, got ${replicates}`);
  if (!(level > 0 && level < 1)) throw new Error(`level: expected a number in (0, 1), got ${level}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`seed: expected an integer, got ${seed}`);
  return { replicates, level, seed };
}

/** Evaluates a contrast for every student that has all its variants, per benchmark and on average. */
function contrastReport(rs: ResultSet, c: Contrast, opts: IntervalOptions): GapReport {
  const o = checkOptions(opts);
  // Runs of one cell under different budget rules are not seeds of one experiment.
  const seen = new Map<string, string>();
  for (const r of rs.rows) {
    if (!c.variants.includes(r.variant)) continue;
    const k = `${r.student}\u0000${r.variant}\u0000${r.benchmark}`;
    const b = r.budget ?? "(none)";
    const prev = seen.get(k);
    if (prev === undefined) seen.set(k, b);
    else if (prev !== b)
      throw new Error(
        `${c.name}: ${r.student} / ${r.variant} / ${r.benchmark} has runs under different budget rules (${prev}, ${b}); ` +
          `compare within one rule: for (const [budget, set] of results.byBudget()) ...`,
      );
  }
  const entries: GapEntry[] = [];
  const allBenchmarks = rs.benchmarks();
  for (const student of rs.students()) {
    const has = (b: string) => c.variants.every((v) => runsOf(rs, student, v, b).length > 0);
    const benchmarks = allBenchmarks.filter(has);
    // Only pre-averaged rows (e.g. the paper's Tables 1-2): the average is the one benchmark there is.
    const avgOnly = benchmarks.length === 0 && has(AVERAGE);
    const cellsB = avgOnly ? [AVERAGE] : benchmarks;
    if (cellsB.length === 0) continue;
    const params = rs.params(student);
    const pointMean = (v: string, b: string) => rs.mean(student, v, b) as number;
    const atB = (b: string, m: (v: string, b: string) => number) => c.at((v) => m(v, b));
    const stats: Array<{ benchmark: string; benchmarks?: string[]; f: Stat }> = cellsB.map((b) => ({ benchmark: b, f: (m) => atB(b, m) }));
    if (!avgOnly) {
      // The contrast of the averages (for a max over parts this is not the average of per-benchmark contrasts).
      const avg = (m: (v: string, b: string) => number) => (v: string) => benchmarks.reduce((s, b) => s + m(v, b), 0) / benchmarks.length;
      stats.push({ benchmark: AVERAGE, benchmarks, f: (m) => c.at(avg(m)) });
    }
    const sampler = new CellResampler(rs, student, c.variants, cellsB);
    const samples = stats.map(() => new Float64Array(o.replicates));
    const doBoot = o.replicates > 0 && sampler.resamplable;
    if (doBoot) {
      const rand = makeRng(o.seed, "bootstrap").next;
      for (let i = 0; i < o.replicates; i++) {
        sampler.begin(rand);
        const cache = new Map<string, number>();
        const m = (v: string, b: string) => {
          const k = key(v, b);
          let x = cache.get(k);
          if (x === undefined) cache.set(k, (x = sampler.mean(v, b, rand)));
          return x;
        };
        for (let j = 0; j < stats.length; j++) samples[j][i] = stats[j].f(m);
      }
    }
    stats.forEach((s, j) => {
      const bs = s.benchmarks ?? [s.benchmark];
      const accuracy: Record<string, number> = {};
      const runs: Record<string, number> = {};
      for (const v of c.variants) {
        accuracy[v] = bs.reduce((acc, b) => acc + pointMean(v, b), 0) / bs.length;
        runs[v] = Math.min(...bs.map((b) => runsOf(rs, student, v, b).length));
      }
      const e: GapEntry = { student, benchmark: s.benchmark, accuracy, runs, value: s.f(pointMean) };
      if (params !== undefined) e.params = params;
      if (s.benchmarks) e.benchmarks = s.benchmarks;
      if (doBoot) e.interval = interval(samples[j], o.level);
      entries.push(e);
    });
  }
  const budgets = [...new Set(rs.rows.filter((r) => c.variants.includes(r.variant)).map((r) => r.budget).filter((b): b is string => b !== undefined))];
  return displayable({
    name: c.name,
    formula: c.formula,
    budgets,
    entries,
    method: entries.some((e) => e.interval)
      ? `${Math.round(o.level * 100)}% percentile bootstrap, ${o.replicates} replicates (seeds and evaluation examples resampled), seed ${o.seed}`
      : o.replicates > 0
        ? "point estimates only (no example counts and one run per cell: nothing to resample)"
        : "point estimates only",
  });
}

const escHtml = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

/** An HTML table of a report: gaps coloured by sign, pale where the interval contains zero. */
export function gapReportHtml(r: GapReport): string {
  const vars = Object.keys(r.entries[0]?.accuracy ?? {});
  const hasReported = r.entries.some((e) => e.reported);
  const head = ["student", "params", "benchmark", ...vars.map((v) => `P(${v})`), "gap", "interval", ...(hasReported ? ["reported"] : [])];
  const rows = r.entries.map((e) => {
    const colour = e.value > 0 ? "#2ca02c" : e.value < 0 ? "#d62728" : "inherit";
    const ns = e.interval?.containsZero;
    const cells = [
      escHtml(e.student),
      e.params === undefined ? "" : formatParams(e.params),
      escHtml(e.benchmark),
      ...vars.map((v) => fmt(e.accuracy[v])),
      `<span style="color:${colour};${ns ? "opacity:0.55" : "font-weight:bold"}">${e.value > 0 ? "+" : ""}${fmt(e.value)}</span>`,
      e.interval ? `[${fmt(e.interval.lo)}, ${fmt(e.interval.hi)}]${ns ? " n.s." : ""}` : "",
      ...(hasReported ? [e.reported ? `${fmt(e.reported.value)}${e.reported.status === "exact" ? "" : ` (${e.reported.status})`}` : ""] : []),
    ];
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
  });
  const budget = r.budgets.length ? `; budget ${escHtml(r.budgets.join(" | "))}` : "";
  return (
    `<div class="mixdistill-gap-report"><div><b>${escHtml(r.name)}</b> (${escHtml(r.formula)}), percentage points${budget}</div>` +
    `<table><thead><tr>${head.map((h) => `<th>${escHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>` +
    `<div style="font-size:smaller">${escHtml(r.method)}</div></div>`
  );
}

/** Gives a report a (non-enumerable) Jupyter display method: text table and HTML table. */
export function displayable<T extends GapReport>(r: T): T {
  Object.defineProperty(r, Symbol.for("Jupyter.display"), {
    value: () => ({ "text/plain": formatGapReport(r), "text/html": gapReportHtml(r) }),
    enumerable: false,
  });
  return r;
}

/** `P_plus - P_minus` per student and benchmark, and on the unweighted mean over benchmarks. */
export function gap(rs: ResultSet, plus: string, minus: string, opts: IntervalOptions & { name?: string } = {}): GapReport {
  if (plus === minus) throw new Error(`gap: the two variants must differ (both "${plus}")`);
  return contrastReport(
    rs,
    { name: opts.name ?? `${plus} - ${minus}`, formula: `${plus} - ${minus}`, variants: [plus, minus], at: (m) => m(plus) - m(minus) },
    opts,
  );
}

/** The Long CoT Gap: `P_long - P_short` (variant names overridable). */
export function longCotGap(rs: ResultSet, opts: IntervalOptions & { long?: string; short?: string } = {}): GapReport {
  return gap(rs, opts.long ?? "long", opts.short ?? "short", { ...opts, name: "Long CoT Gap" });
}

/** The Large Model CoT Gap: `P_large - P_small` (variant names overridable). */
export function largeModelCotGap(rs: ResultSet, opts: IntervalOptions & { large?: string; small?: string } = {}): GapReport {
  return gap(rs, opts.large ?? "large", opts.small ?? "small", { ...opts, name: "Large Model CoT Gap" });
}

/**
 * The gains of a mix over its parts: one report per part (`P_mix - P_part`) and one over the
 * better part (`P_mix - max(parts)`), in that order.
 */
export function mixGains(rs: ResultSet, mix: string, parts: string[], opts: IntervalOptions = {}): GapReport[] {
  if (parts.length < 1) throw new Error("mixGains: expected at least one part");
  if (parts.includes(mix)) throw new Error(`mixGains: the mix "${mix}" is listed among its parts`);
  const reports = parts.map((p) => gap(rs, mix, p, { ...opts, name: `${mix} gain over ${p}` }));
  reports.push(
    contrastReport(
      rs,
      {
        name: `${mix} gain over the better part`,
        formula: `${mix} - max(${parts.join(", ")})`,
        variants: [mix, ...parts],
        at: (m) => m(mix) - Math.max(...parts.map((p) => m(p))),
      },
      opts,
    ),
  );
  return reports;
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** A plain-text table of a report; gaps whose interval contains zero are marked "n.s.". */
export function formatGapReport(r: GapReport, opts: { benchmarks?: "all" | "average" } = {}): string {
  const rows = opts.benchmarks === "average" ? r.entries.filter((e) => e.benchmark === AVERAGE) : r.entries;
  const lines = [`${r.name} (${r.formula}), percentage points; ${r.method}`];
  if (r.budgets.length > 0) lines.push(`budget: ${r.budgets.join(" | ")}${r.budgets.length > 1 ? "  (WARNING: different budget rules are being compared)" : ""}`);
  const hasReported = rows.some((e) => e.reported);
  const head = ["student", "params", "benchmark", ...Object.keys(rows[0]?.accuracy ?? {}), "gap", "interval", "", ...(hasReported ? ["reported", ""] : [])];
  const table = rows.map((e) => [
    e.student,
    e.params === undefined ? "" : formatParams(e.params),
    e.benchmark,
    ...Object.values(e.accuracy).map((a) => fmt(a)),
    (e.value > 0 ? "+" : "") + fmt(e.value),
    e.interval ? `[${fmt(e.interval.lo)}, ${fmt(e.interval.hi)}]` : "",
    e.interval?.containsZero ? "n.s." : "",
    ...(hasReported ? [e.reported ? fmt(e.reported.value) : "", e.reported && e.reported.status !== "exact" ? e.reported.status : ""] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(line(head), ...table.map(line));
  return lines.join("\n");
}

/** 494_000_000 -> "494M", 1.5e9 -> "1.5B", 31_000 -> "31K". */
export function formatParams(p: number): string {
  const units: Array<[number, string]> = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [u, s] of units) if (p >= u) return `${+(p / u).toPrecision(3)}${s}`;
  return String(p);
}

/** The accuracy of one variant per student and benchmark (and Average), with the same intervals as the gaps. */
export function accuracyReport(rs: ResultSet, variant: string, opts: IntervalOptions = {}): GapReport {
  return contrastReport(rs, { name: `accuracy of ${variant}`, formula: `P_${variant}`, variants: [variant], at: (m) => m(variant) }, opts);
}
