/**
 * The paper's figures as plots: gap per student ordered by size and coloured by sign (Figure 1),
 * grouped bars per benchmark (Figures 2-3), accuracy against mix weight (Figure 6), and length
 * distributions per source. Each returns a Plot (see bundle.ts).
 */
import type { PlotFigure, SourceComposition } from "../contract/index.js";
import { accuracyReport, formatGapReport, formatParams, type GapEntry, type GapReport, type IntervalOptions } from "../gap/metrics.js";
import { AVERAGE, type ResultSet } from "../gap/results.js";
import type { CorpusRecord } from "../data/record.js";
import { histogramCounts, lengthStats, sharedHistogramEdges } from "../tokenize/stats.js";
import { cachedCount, defaultTokenizer, type Tokenizer } from "../tokenize/token-counter.js";
import { Plot, r4 } from "./bundle.js";

const POSITIVE = "#2ca02c";
const NEGATIVE = "#d62728";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

const studentLabel = (e: GapEntry) => (e.params !== undefined ? `${e.student} (${formatParams(e.params)})` : e.student);

/**
 * One x label per student across several reports, so panels that share the axis line up: a student
 * whose parameter count differs between them (position embeddings sized to each variant's longest
 * example) gets the range, `nano (34.7K-51.8K)`.
 */
function sharedLabels(entries: GapEntry[]): (e: GapEntry) => string {
  const counts = new Map<string, number[]>();
  for (const e of entries) if (e.params !== undefined) counts.set(e.student, [...(counts.get(e.student) ?? []), e.params]);
  const label = new Map<string, string>();
  for (const [student, ps] of counts) {
    const lo = Math.min(...ps);
    const hi = Math.max(...ps);
    label.set(student, lo === hi ? `${student} (${formatParams(lo)})` : `${student} (${formatParams(lo)}-${formatParams(hi)})`);
  }
  return (e) => label.get(e.student) ?? e.student;
}

function errorBars(entries: GapEntry[]): Record<string, unknown> | undefined {
  if (!entries.some((e) => e.interval)) return undefined;
  return {
    type: "data",
    symmetric: false,
    array: entries.map((e) => (e.interval ? r4(e.interval.hi - e.value) : 0)),
    arrayminus: entries.map((e) => (e.interval ? r4(e.value - e.interval.lo) : 0)),
    thickness: 1.2,
    width: 4,
  };
}

/** A budget rule in words: "epochs=2" -> "2 epochs per run (equal epochs)". */
export function budgetWords(b: string): string {
  const m = /^\s*(epochs?|tokens?|steps?)\s*=\s*([\d.,_]+[kKmMbB]?)\s*$/.exec(b);
  if (!m) return b.replace(/[=_]+/g, " ").trim();
  const unit = m[1]!.replace(/s$/, "");
  // Plain counts of 10,000 and more are written as 1.21M, as the panel subtitles and tables write them.
  const n = /^\d{5,}$/.test(m[2]!) ? formatParams(Number(m[2])) : m[2]!;
  const plural = n === "1" ? unit : `${unit}s`;
  return `${n} training ${plural} per run (equal ${unit}s)`;
}

/**
 * The subtitle of stacked panels: one line even when each panel has a token budget of its own
 * (equal tokens per axis): `budget: 1.21M / 1.17M training tokens per run (equal tokens, by panel)`.
 */
function panelsSubtitle(list: GapReport[]): string {
  const distinct = [...new Set(list.map(subtitle))];
  if (distinct.length === 1) return distinct[0]!;
  const tokens = list.map((r) => (r.budgets.length === 1 ? /^\s*tokens?\s*=\s*(\d+)\s*$/.exec(r.budgets[0]!)?.[1] : undefined));
  if (tokens.every((t) => t !== undefined)) {
    const compact = tokens.map((t) => formatParams(Number(t)));
    const method = list.some((r) => r.entries.some((e) => e.interval)) ? `; ${list[0]!.method.split(" (")[0]}` : "";
    return `budget: ${compact.join(" / ")} training tokens per run (equal tokens, by panel)${method}`;
  }
  return distinct.join(" / ");
}

function subtitle(r: GapReport): string {
  const parts = [
    r.budgets.length ? `budget: ${r.budgets.map(budgetWords).join(" vs ")}${r.budgets.length > 1 ? " (not comparable)" : ""}` : "",
    r.entries.some((e) => e.interval) ? r.method.split(" (")[0] : "",
  ].filter(Boolean);
  return parts.join("; ");
}

const signed = (x: number) => `${x > 0 ? "+" : x < 0 ? "\u2212" : ""}${Math.abs(x).toFixed(1)}`;

/** Hover text of one gap bar: the student, each variant's accuracy, the gap and its interval. */
function gapHover(report: GapReport, e: GapEntry): string {
  const lines = [`<b>${studentLabel(e)}</b>`];
  for (const [variant, acc] of Object.entries(e.accuracy)) lines.push(`${variant}: ${acc.toFixed(1)}%`);
  lines.push(`${report.name} (${report.formula}): ${signed(e.value)} points`);
  if (e.interval)
    lines.push(`${Math.round(e.interval.level * 100)}% interval: [${signed(e.interval.lo)}, ${signed(e.interval.hi)}]${e.interval.containsZero ? " n.s. (contains 0)" : ""}`);
  if (e.reported) lines.push(`reported: ${signed(e.reported.value)} (${e.reported.status})`);
  return lines.join("<br>");
}

/** Legend entries for what colour and hatching mean (empty traces, shown in the legend only). */
function meaningTraces(hatched: boolean): Array<Record<string, unknown>> {
  const key = (name: string, marker: Record<string, unknown>) => ({ type: "bar", name, x: [null], y: [null], marker, showlegend: true, hoverinfo: "skip" });
  const out = [key("gap > 0", { color: POSITIVE }), key("gap < 0", { color: NEGATIVE })];
  if (hatched) out.push(key("hatched: n.s. (interval contains 0)", { color: "#999999", opacity: 0.45, pattern: { shape: "/" } }));
  return out;
}

function baseLayout(title: string, sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: { text: sub ? `${title}<br><sup>${sub}</sup>` : title },
    height: 420,
    margin: { t: 70, r: 20, b: 90, l: 60 },
    ...extra,
  };
}

/** The bars (and reported markers) of one report's gaps at one benchmark, on axes `ax` (e.g. "" or "2"). */
function gapTraces(report: GapReport, entries: GapEntry[], ax: string, label: (e: GapEntry) => string = studentLabel): Array<Record<string, unknown>> {
  const ns = entries.map((e) => e.interval?.containsZero ?? false);
  const trace: Record<string, unknown> = {
    type: "bar",
    name: report.name,
    x: entries.map(label),
    y: entries.map((e) => r4(e.value)),
    text: entries.map((e, i) => `${e.value > 0 ? "+" : ""}${e.value.toFixed(1)}${ns[i] ? " (n.s.)" : ""}`),
    textposition: "outside",
    hovertext: entries.map((e) => gapHover(report, e)),
    hovertemplate: "%{hovertext}<extra></extra>",
    marker: {
      color: entries.map((e) => (e.value >= 0 ? POSITIVE : NEGATIVE)),
      opacity: ns.map((x) => (x ? 0.45 : 0.9)),
      pattern: { shape: ns.map((x) => (x ? "/" : "")) },
    },
    showlegend: false,
  };
  const eb = errorBars(entries);
  if (eb) trace.error_y = eb;
  const data: Array<Record<string, unknown>> = [trace];
  if (entries.some((e) => e.reported))
    data.push({
      type: "scatter",
      mode: "markers",
      name: "reported (published value)",
      x: entries.filter((e) => e.reported).map(label),
      y: entries.filter((e) => e.reported).map((e) => e.reported!.value),
      marker: { symbol: "diamond-open", size: 10, color: "#000000" },
      showlegend: ax === "",
    });
  if (ax !== "") for (const t of data) Object.assign(t, { xaxis: `x${ax}`, yaxis: `y${ax}` });
  return data;
}

/**
 * Figure 1: one bar per student (ordered by size), green above zero, red below; error bars are the
 * intervals, and a gap whose interval contains zero is drawn hatched and pale. Several reports
 * (e.g. the Long CoT Gap and the Large Model CoT Gap) give one panel each, stacked.
 */
export function gapPlot(reports: GapReport | GapReport[], opts: { benchmark?: string; title?: string } = {}): Plot {
  const list = Array.isArray(reports) ? reports : [reports];
  if (list.length === 0) throw new Error("gapPlot: expected at least one report");
  const benchmark = opts.benchmark ?? AVERAGE;
  const panels = list.map((report) => {
    const entries = report.entries.filter((e) => e.benchmark === benchmark);
    if (entries.length === 0) throw new Error(`gapPlot: no entries for benchmark ${JSON.stringify(benchmark)} in "${report.name}"`);
    return { report, entries };
  });
  const label = sharedLabels(panels.flatMap((p) => p.entries));
  const on = benchmark !== AVERAGE ? ` on ${benchmark}` : "";
  const title = opts.title ?? (list.length === 1 ? `${list[0].name}${on} (${list[0].formula})` : `${list.map((r) => r.name).join(" and ")}${on}`);
  const data = [
    ...panels.flatMap((p, i) => gapTraces(p.report, p.entries, i === 0 ? "" : String(i + 1), label)),
    ...meaningTraces(panels.some((p) => p.entries.some((e) => e.interval?.containsZero))),
  ];
  const n = panels.length;
  const gapH = 0.1;
  const h = (1 - gapH * (n - 1)) / n;
  const axes: Record<string, unknown> = {};
  panels.forEach((p, i) => {
    const k = i === 0 ? "" : String(i + 1);
    const top = 1 - i * (h + gapH);
    const short = p.report.name.split(",")[0];
    axes[`yaxis${k}`] = { title: { text: n > 1 ? `${short} (points)` : "gap (percentage points)" }, zeroline: true, zerolinewidth: 2, domain: [r4(top - h), r4(top)], automargin: true, ...(i > 0 ? { anchor: `x${k}` } : {}) };
    // Student names only under the bottom panel; the panels share the axis.
    axes[`xaxis${k}`] = { automargin: true, ...(i === n - 1 ? { title: { text: "student (by size)" } } : { showticklabels: false }), ...(i > 0 ? { anchor: `y${k}`, matches: "x" } : {}) };
  });
  const fig: PlotFigure = {
    data,
    layout: baseLayout(title, n === 1 ? subtitle(list[0]) : panelsSubtitle(list), {
      ...axes,
      showlegend: true,
      // Right of the panels, so it never covers the student names.
      legend: { orientation: "v", x: 1.02, xanchor: "left", y: 1, yanchor: "top" },
      height: 380 * n + 60,
    }),
  };
  const text = panels.map((p) => formatGapReport({ ...p.report, entries: p.entries })).join("\n\n");
  return new Plot(fig, text, title);
}

/** Figures 2-3: grouped bars, one group per student (by size), one bar per benchmark (and the Average). */
export function benchmarkGapPlot(report: GapReport, opts: { includeAverage?: boolean; title?: string } = {}): Plot {
  const students = [...new Set(report.entries.map((e) => e.student))];
  const benchmarks = [...new Set(report.entries.map((e) => e.benchmark))].filter((b) => b !== AVERAGE || (opts.includeAverage ?? true));
  if (benchmarks.length === 0) throw new Error(`benchmarkGapPlot: no entries in "${report.name}"`);
  const label = new Map(report.entries.map((e) => [e.student, studentLabel(e)]));
  const data = benchmarks.map((b, i) => {
    const entries = students.map((s) => report.entries.find((e) => e.student === s && e.benchmark === b));
    const present = entries.filter((e): e is GapEntry => e !== undefined);
    const trace: Record<string, unknown> = {
      type: "bar",
      name: b,
      x: present.map((e) => label.get(e.student)),
      y: present.map((e) => r4(e.value)),
      marker: { color: b === AVERAGE ? "#333333" : PALETTE[i % PALETTE.length], pattern: { shape: present.map((e) => (e.interval?.containsZero ? "/" : "")) } },
    };
    const eb = errorBars(present);
    if (eb) trace.error_y = eb;
    return trace;
  });
  const title = opts.title ?? `${report.name} per benchmark (${report.formula})`;
  const fig: PlotFigure = {
    data,
    layout: baseLayout(title, subtitle(report), {
      barmode: "group",
      xaxis: { title: { text: "student (by size)" }, automargin: true },
      yaxis: { title: { text: "gap (percentage points)" }, zeroline: true, zerolinewidth: 2 },
      legend: { orientation: "h", y: -0.3 },
      height: 460,
    }),
  };
  return new Plot(fig, formatGapReport(report), title);
}

export interface MixWeightPoint {
  weight: number;
  accuracy: number;
  lo?: number;
  hi?: number;
}

export interface MixWeightSeries {
  /** "Mix-Long (long weight)", "Mix-Large (large weight)". */
  name: string;
  points: MixWeightPoint[];
}

/**
 * The points of an accuracy-against-mix-weight curve for one student from results: `variants`
 * maps each variant to the weight of the mix's first part (0 = all short, 1 = all long).
 */
export function mixWeightSeries(rs: ResultSet, student: string, name: string, variants: Record<string, number>, opts: IntervalOptions & { benchmark?: string } = {}): MixWeightSeries {
  const benchmark = opts.benchmark ?? AVERAGE;
  const points: MixWeightPoint[] = [];
  for (const [variant, weight] of Object.entries(variants)) {
    if (!(weight >= 0 && weight <= 1)) throw new Error(`mixWeightSeries: weight of ${variant} must be in [0, 1], got ${weight}`);
    const e = accuracyReport(rs, variant, opts).entries.find((x) => x.student === student && x.benchmark === benchmark);
    if (!e) continue;
    const p: MixWeightPoint = { weight, accuracy: e.value };
    if (e.interval) Object.assign(p, { lo: e.interval.lo, hi: e.interval.hi });
    points.push(p);
  }
  if (points.length === 0) throw new Error(`mixWeightSeries: no results of ${student} for ${Object.keys(variants).join(", ")}`);
  return { name, points: points.sort((a, b) => a.weight - b.weight) };
}

/** Figure 6: accuracy against the mix weight of the long (or large) part, one line per mix family. */
export function mixWeightPlot(series: MixWeightSeries[], opts: { title?: string; student?: string; weightLabel?: string } = {}): Plot {
  if (series.length === 0 || series.some((s) => s.points.length === 0)) throw new Error("mixWeightPlot: expected series with at least one point each");
  const data = series.map((s, i) => {
    const pts = [...s.points].sort((a, b) => a.weight - b.weight);
    const trace: Record<string, unknown> = {
      type: "scatter",
      mode: "lines+markers",
      name: s.name,
      x: pts.map((p) => r4(p.weight)),
      y: pts.map((p) => r4(p.accuracy)),
      line: { color: PALETTE[i % PALETTE.length] },
    };
    if (pts.some((p) => p.lo !== undefined))
      trace.error_y = {
        type: "data",
        symmetric: false,
        array: pts.map((p) => (p.hi !== undefined ? r4(p.hi - p.accuracy) : 0)),
        arrayminus: pts.map((p) => (p.lo !== undefined ? r4(p.accuracy - p.lo) : 0)),
        thickness: 1,
        width: 3,
      };
    return trace;
  });
  const title = opts.title ?? `Accuracy against mix weight${opts.student ? ` (${opts.student})` : ""}`;
  const fig: PlotFigure = {
    data,
    layout: baseLayout(title, "", {
      xaxis: { title: { text: opts.weightLabel ?? "weight of the long / large part" }, range: [-0.03, 1.03] },
      yaxis: { title: { text: "accuracy (%)" } },
    }),
  };
  const lines = [title];
  for (const s of series) {
    lines.push(`${s.name}:`);
    for (const p of [...s.points].sort((a, b) => a.weight - b.weight))
      lines.push(`  weight ${p.weight.toFixed(2)}  accuracy ${p.accuracy.toFixed(1)}${p.lo !== undefined ? `  [${p.lo.toFixed(1)}, ${p.hi!.toFixed(1)}]` : ""}`);
  }
  return new Plot(fig, lines.join("\n"), title);
}

/**
 * Length distributions per source (histograms over shared bins). Give raw lengths per source
 * (tokens, as counted by your tokenizer), or the mixer's precomputed compositions.
 */
export function lengthHistogramPlot(sources: Record<string, number[]> | SourceComposition[], opts: { bins?: number; unit?: string; title?: string } = {}): Plot {
  const unit = opts.unit ?? "tokens";
  const traces: Array<Record<string, unknown>> = [];
  const lines: string[] = [];
  if (Array.isArray(sources)) {
    sources.forEach((c, i) => {
      const mids = c.histogram.edges.slice(0, -1).map((e, j) => r4((e + c.histogram.edges[j + 1]) / 2));
      traces.push({ type: "bar", name: c.source, x: mids, y: c.histogram.counts, width: c.histogram.edges.slice(1).map((e, j) => r4(e - c.histogram.edges[j])), opacity: 0.6, marker: { color: PALETTE[i % PALETTE.length] } });
      lines.push(`${c.source.padEnd(12)} ${String(c.questions).padStart(7)} responses  mean ${c.meanTokens.toFixed(1)} ${unit}  total ${c.tokens}`);
    });
  } else {
    const names = Object.keys(sources);
    if (names.length === 0) throw new Error("lengthHistogramPlot: no sources");
    for (const n of names) {
      const xs = sources[n];
      if (!Array.isArray(xs) || xs.length === 0 || !xs.every((x) => Number.isFinite(x) && x >= 0)) throw new Error(`lengthHistogramPlot: ${n}: expected a non-empty array of non-negative lengths`);
    }
    const edges = sharedHistogramEdges(names.map((n) => sources[n]), opts.bins ?? 30);
    const width = edges[1] - edges[0];
    names.forEach((n, i) => {
      const counts = histogramCounts(sources[n], edges);
      traces.push({ type: "bar", name: n, x: edges.slice(0, -1).map((e) => r4(e + width / 2)), y: counts, width: r4(width), opacity: 0.6, marker: { color: PALETTE[i % PALETTE.length] } });
      const s = lengthStats(sources[n]);
      lines.push(`${n.padEnd(12)} ${String(s.count).padStart(7)} responses  mean ${s.mean.toFixed(1)}  median ${s.median}  p90 ${s.p90}  max ${s.max} ${unit}`);
    });
  }
  const title = opts.title ?? `Response length per source (${unit})`;
  const fig: PlotFigure = {
    data: traces,
    layout: baseLayout(title, "", { barmode: "overlay", xaxis: { title: { text: `length (${unit})` } }, yaxis: { title: { text: "responses" } } }),
  };
  return new Plot(fig, [title, ...lines].join("\n"), title);
}

/**
 * Length distributions of a corpus's response sources in tokens of `tokenizer` (default the
 * built-in estimate; pass a real one from loadTokenizer for real-tokenizer counts).
 */
export function corpusLengthPlot(corpus: readonly CorpusRecord[], opts: { tokenizer?: Tokenizer; sources?: string[]; bins?: number; title?: string } = {}): Plot {
  const tok = opts.tokenizer ?? defaultTokenizer;
  const sources = opts.sources ?? [...new Set(corpus.flatMap((r) => Object.keys(r.responses)))].sort();
  const lengths: Record<string, number[]> = {};
  for (const s of sources) {
    const xs: number[] = [];
    for (const r of corpus) {
      const text = r.responses[s];
      if (text !== undefined) xs.push(cachedCount(tok, text));
    }
    if (xs.length === 0) throw new Error(`corpusLengthPlot: no record has a "${s}" response`);
    lengths[s] = xs;
  }
  return lengthHistogramPlot(lengths, { bins: opts.bins, unit: `${tok.name} tokens`, title: opts.title });
}
