import type { CorpusRecord } from "../data/record.js";
import { cachedCount, defaultTokenizer, type Tokenizer } from "./token-counter.js";

export interface LengthStats {
  count: number;
  mean: number;
  median: number;
  /** 90th percentile (nearest rank). */
  p90: number;
  max: number;
  total: number;
}

/** Summary of a list of lengths. Empty lists give zeros. */
export function lengthStats(values: ArrayLike<number>): LengthStats {
  const n = values.length;
  if (n === 0) return { count: 0, mean: 0, median: 0, p90: 0, max: 0, total: 0 };
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  let total = 0;
  for (let i = 0; i < n; i++) total += sorted[i]!;
  const mid = n >> 1;
  const median = n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p90 = sorted[Math.max(0, Math.ceil(0.9 * n) - 1)]!;
  return { count: n, mean: total / n, median, p90, max: sorted[n - 1]!, total };
}

export interface CorpusStats {
  tokenizer: string;
  /** Question (prompt) lengths. */
  questions: LengthStats;
  bySource: Record<string, LengthStats>;
  /** Per source, per level ("none" for records without one). */
  bySourceLevel: Record<string, Record<string, LengthStats>>;
  /**
   * Mean-length ratio of every pair of sources, keyed "longer/shorter" (e.g. "long/short": 9.1):
   * how much more text one teacher style writes than another for the same questions.
   */
  lengthRatios: Record<string, number>;
}

/** Mean-length ratio of every pair of sources, keyed "longer/shorter". */
export function lengthRatios(bySource: Record<string, LengthStats>): Record<string, number> {
  const names = Object.keys(bySource).sort();
  const out: Record<string, number> = {};
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) {
      const [a, b] = [bySource[names[i]!]!, bySource[names[j]!]!];
      const [hi, lo, hn, ln] = a.mean >= b.mean ? [a, b, names[i]!, names[j]!] : [b, a, names[j]!, names[i]!];
      out[`${hn}/${ln}`] = lo.mean > 0 ? Math.round((100 * hi.mean) / lo.mean) / 100 : Infinity;
    }
  return out;
}

/** Token-length statistics of every response source, overall and per level. */
export function corpusStats(corpus: Iterable<CorpusRecord>, opts: { tokenizer?: Tokenizer; sources?: string[] } = {}): CorpusStats {
  const tok = opts.tokenizer ?? defaultTokenizer;
  const acc = new StatsAccumulator(tok.name);
  for (const r of corpus) acc.add(r, (t) => cachedCount(tok, t), opts.sources);
  return acc.result();
}

/** Streaming form of corpusStats: feed records one by one (memory: one number per response). */
export class StatsAccumulator {
  private q: number[] = [];
  private src = new Map<string, number[]>();
  private lvl = new Map<string, Map<string, number[]>>();
  constructor(readonly tokenizerName: string) {}
  add(r: CorpusRecord, count: (text: string) => number, sources?: string[]): void {
    this.q.push(count(r.question));
    const level = r.level === undefined ? "none" : String(r.level);
    for (const [s, text] of Object.entries(r.responses)) {
      if (sources && !sources.includes(s)) continue;
      const n = count(text);
      let list = this.src.get(s);
      if (!list) this.src.set(s, (list = []));
      list.push(n);
      let byL = this.lvl.get(s);
      if (!byL) this.lvl.set(s, (byL = new Map()));
      let l = byL.get(level);
      if (!l) byL.set(level, (l = []));
      l.push(n);
    }
  }
  result(): CorpusStats {
    const bySource: Record<string, LengthStats> = {};
    const bySourceLevel: Record<string, Record<string, LengthStats>> = {};
    for (const s of [...this.src.keys()].sort()) {
      bySource[s] = lengthStats(this.src.get(s)!);
      const byL = this.lvl.get(s)!;
      bySourceLevel[s] = {};
      for (const l of [...byL.keys()].sort()) bySourceLevel[s]![l] = lengthStats(byL.get(l)!);
    }
    return { tokenizer: this.tokenizerName, questions: lengthStats(this.q), bySource, bySourceLevel, lengthRatios: lengthRatios(bySource) };
  }
}

const f1 = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/** A plain-text table of the stats, one row per source and per (source, level). */
export function formatStats(s: CorpusStats): string {
  const head = ["source", "level", "count", "mean", "median", "p90", "max", "total"];
  const rows: string[][] = [head];
  const row = (src: string, lvl: string, st: LengthStats): string[] => [src, lvl, String(st.count), f1(st.mean), f1(st.median), f1(st.p90), String(st.max), String(st.total)];
  for (const [src, st] of Object.entries(s.bySource)) {
    rows.push(row(src, "all", st));
    for (const [l, lst] of Object.entries(s.bySourceLevel[src] ?? {})) rows.push(row(src, l, lst));
  }
  rows.push(row("(question)", "all", s.questions));
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  const ratios = Object.entries(s.lengthRatios ?? {}).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  return `tokens (${s.tokenizer})\n${lines.join("\n")}${ratios.length ? `\nlength ratios (mean tokens): ${ratios.join(", ")}` : ""}`;
}

/** Shared histogram edges for a set of lengths: `bins` equal-width bins from 0 to the max. */
export function histogramEdges(maxValue: number, bins = 20): number[] {
  const width = Math.max(1, Math.ceil((maxValue + 1) / bins));
  return Array.from({ length: bins + 1 }, (_, i) => i * width);
}

/**
 * Edges shared by several sets of lengths (e.g. one per source), so their bars line up: equal-width
 * bins from 0 to the largest value of any set. With histogramCounts, the one histogram builder (the
 * mixer's composition and the length plots use it).
 */
export function sharedHistogramEdges(sets: Iterable<ArrayLike<number>>, bins = 20): number[] {
  let max = 0;
  for (const xs of sets) for (let i = 0; i < xs.length; i++) if (xs[i]! > max) max = xs[i]!;
  return histogramEdges(max, bins);
}

/** Counts of `values` in the bins `edges` (equal width; values past the last edge go in the last bin). */
export function histogramCounts(values: ArrayLike<number>, edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  const width = edges[1]! - edges[0]!;
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(counts.length - 1, Math.floor((values[i]! - edges[0]!) / width));
    counts[Math.max(0, b)]!++;
  }
  return counts;
}
