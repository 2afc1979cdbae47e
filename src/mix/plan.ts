/**
 * The mixing strategies, on indices only: which question's response from which source goes where.
 * Building examples, composition previews and streaming mixes all share these planners, so the
 * preview the slider shows is exactly the mix that gets written.
 */
import { makeRng, type Rng } from "../data/rng.js";
import { MixOptionError, type ResolvedMixOptions } from "./options.js";

/** What the planners need to know about a corpus. */
export interface CorpusView {
  /** Number of questions. */
  n: number;
  /** Whether question q has a response from source s (index into the mix's sources). */
  has(q: number, s: number): boolean;
  /** Tokens of that response (only asked when weighting by tokens). */
  tokens(q: number, s: number): number;
  level(q: number): number | undefined;
}

export interface Plan {
  /** Output order: question index and source index of each example. */
  q: Int32Array;
  s: Int32Array;
  /** Examples per source. */
  counts: number[];
  /** Questions dropped: the drawn source was missing under `missing: "drop"`, or no source had a response. */
  dropped: number;
  /** Questions that had none of the mixed sources' responses. */
  noResponse: number;
  /** Fallbacks, per drawn source: how often its response was missing and another source stood in. */
  fallbacksFrom: number[];
  /** Per source: questions with no response from it. */
  missing: number[];
}

/** Largest-remainder rounding of weights * n: integers summing exactly to n. */
export function exactCounts(weights: number[], n: number): number[] {
  const raw = weights.map((w) => w * n);
  const counts = raw.map((x) => Math.floor(x + 1e-9));
  let left = n - counts.reduce((a, b) => a + b, 0);
  const order = raw.map((x, i) => ({ i, frac: x - Math.floor(x + 1e-9) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) counts[order[j]!.i]!++;
  return counts;
}

/**
 * Per-question draw: for each question in corpus order, which source supplies its response.
 * `exact` draws without replacement from a bag holding exactly round(w * n) tickets per source, so the
 * counts are exact and every assignment with those counts is equally likely; it needs n up front and
 * nothing else, so it also runs over a stream. `independent` draws each question on its own.
 */
export class QuestionDrawer {
  private readonly remaining: number[];
  private left: number;
  fallbacksFrom: number[];
  dropped = 0;
  constructor(
    private readonly weights: number[],
    n: number,
    private readonly rng: Rng,
    private readonly draw: "exact" | "independent",
    private readonly missing: "fallback" | "drop",
  ) {
    this.remaining = exactCounts(weights, n);
    this.left = n;
    this.fallbacksFrom = weights.map(() => 0);
  }

  /** The source for the next question, given which sources it has; -1 when it is dropped. */
  pick(available: (s: number) => boolean): number {
    const k = this.weights.length;
    let s = k - 1;
    if (this.draw === "exact" && this.left > 0) {
      let u = Math.floor(this.rng.next() * this.left);
      for (let i = 0; i < k; i++) {
        if (u < this.remaining[i]!) {
          s = i;
          break;
        }
        u -= this.remaining[i]!;
      }
      this.remaining[s]!--;
      this.left--;
    } else {
      const u = this.rng.next();
      let acc = 0;
      for (let i = 0; i < k; i++) {
        acc += this.weights[i]!;
        if (u < acc) {
          s = i;
          break;
        }
      }
    }
    if (available(s)) return s;
    if (this.missing === "drop") {
      this.dropped++;
      return -1;
    }
    // Fall back to the available source with the most tickets left (exact) or the largest weight; it
    // hands a ticket back to the drawn source, so the exact counts still hold wherever data allows.
    let best = -1;
    for (let i = 0; i < k; i++) {
      if (i === s || !available(i)) continue;
      const score = this.draw === "exact" ? this.remaining[i]! : this.weights[i]!;
      const bestScore = best < 0 ? -Infinity : this.draw === "exact" ? this.remaining[best]! : this.weights[best]!;
      if (score > bestScore) best = i;
    }
    if (best < 0) {
      this.dropped++;
      return -1;
    }
    this.fallbacksFrom[s]!++;
    if (this.draw === "exact" && this.remaining[best]! > 0) {
      this.remaining[best]!--;
      this.remaining[s]!++;
    }
    return best;
  }
}

/**
 * The per-question plan built one question at a time, for inputs streamed in lockstep (no corpus in
 * memory): the same drawer as `planMix`, plus the counts a Plan reports. Example weights, no level rule.
 */
export class StreamingPlanner {
  private readonly drawer: QuestionDrawer;
  readonly counts: number[];
  readonly missing: number[];
  noResponse = 0;
  /** Questions seen. */
  questions = 0;
  constructor(o: ResolvedMixOptions, n: number) {
    if (o.weightBy !== "examples" || o.levelRule) throw new MixOptionError("strategy", "streaming per-question mixing supports example weights without a level rule; load the corpus for the others");
    this.drawer = new QuestionDrawer(o.weights, n, makeRng(o.seed, "per-question", "all"), o.draw, o.missing);
    this.counts = o.weights.map(() => 0);
    this.missing = o.weights.map(() => 0);
  }

  /**
   * Draws the source of the next question (-1: dropped). `has(s)`: it has source s's response;
   * `known(s)`: that is known without more work (an unknown source counts as present, not missing).
   * The question counts once `take` is called (a line found malformed after the draw is not taken).
   */
  draw(has: (s: number) => boolean, known?: (s: number) => boolean): number {
    let any = false;
    for (let s = 0; s < this.counts.length; s++) {
      if ((known && !known(s)) || has(s)) any = true;
      else this.missing[s]!++;
    }
    if (!any) this.noResponse++;
    return this.drawer.pick(has);
  }

  /** Counts the question just drawn, with its source (or -1). */
  take(s: number): void {
    this.questions++;
    if (s >= 0) this.counts[s]!++;
  }

  /** Sources with no response at all (their names are for the caller's error). */
  absent(): number {
    return this.questions > 0 ? this.missing.findIndex((m) => m === this.questions) : -1;
  }

  /** The plan, with the examples given as (question, source) samples. */
  plan(q: number[], s: number[]): Plan {
    const d = this.drawer;
    return { q: Int32Array.from(q), s: Int32Array.from(s), counts: this.counts, dropped: d.dropped, noResponse: this.noResponse, fallbacksFrom: d.fallbacksFrom, missing: this.missing };
  }
}

/** Per-question weights for a level, and whether a source may be used at that level. */
function levelPolicy(o: ResolvedMixOptions) {
  const rule = o.levelRule;
  const k = o.sources.length;
  const weightsFor = (level: number | undefined): number[] => {
    if (rule && "weights" in rule && level !== undefined) {
      const w = rule.weights[String(level)];
      if (w) {
        const sum = w.reduce((a, b) => a + b, 0);
        return w.map((x) => x / sum);
      }
    }
    if (rule && "source" in rule && (level === undefined || level < rule.minLevel)) {
      const banned = o.sources.indexOf(rule.source);
      const w = o.weights.map((x, i) => (i === banned ? 0 : x));
      const sum = w.reduce((a, b) => a + b, 0);
      return sum > 0 ? w.map((x) => x / sum) : w;
    }
    return o.weights;
  };
  const allowed = (level: number | undefined, s: number): boolean => {
    if (rule && "source" in rule && o.sources[s] === rule.source) return level !== undefined && level >= rule.minLevel;
    return true;
  };
  const groupOf = (level: number | undefined): string => (rule ? String(level ?? "none") : "all");
  return { k, weightsFor, allowed, groupOf };
}

class PlanBuilder {
  q: number[] = [];
  s: number[] = [];
  constructor(private readonly k: number) {}
  push(q: number, s: number): void {
    this.q.push(q);
    this.s.push(s);
  }
  finish(view: CorpusView, dropped: number, fallbacksFrom: number[], noResponse: number): Plan {
    const counts = new Array<number>(this.k).fill(0);
    for (const s of this.s) counts[s]!++;
    const missing = new Array<number>(this.k).fill(0);
    for (let q = 0; q < view.n; q++) for (let s = 0; s < this.k; s++) if (!view.has(q, s)) missing[s]!++;
    return { q: Int32Array.from(this.q), s: Int32Array.from(this.s), counts, dropped, noResponse, fallbacksFrom, missing };
  }
}

function planPerQuestion(view: CorpusView, o: ResolvedMixOptions): Plan {
  const pol = levelPolicy(o);
  const k = pol.k;
  const out = new PlanBuilder(k);
  const groups = new Map<string, number[]>();
  for (let q = 0; q < view.n; q++) {
    const g = pol.groupOf(view.level(q));
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(q);
  }
  const avail = (q: number) => {
    const level = view.level(q);
    return (s: number) => pol.allowed(level, s) && view.has(q, s);
  };
  let noResponse = 0;
  for (let q = 0; q < view.n; q++) {
    const a = avail(q);
    let any = false;
    for (let s = 0; s < k; s++) if (a(s)) any = true;
    if (!any) noResponse++;
  }
  const assigned = new Int32Array(view.n).fill(-1);
  let dropped = 0;
  const fallbacksFrom = new Array<number>(k).fill(0);
  if (o.weightBy === "examples") {
    const drawers = new Map<string, QuestionDrawer>();
    for (const [g, list] of groups) {
      const level = view.level(list[0]!);
      drawers.set(g, new QuestionDrawer(pol.weightsFor(level), list.length, makeRng(o.seed, "per-question", g), o.draw, o.missing));
    }
    for (let q = 0; q < view.n; q++) assigned[q] = drawers.get(pol.groupOf(view.level(q)))!.pick(avail(q));
    for (const d of drawers.values()) {
      dropped += d.dropped;
      d.fallbacksFrom.forEach((x, i) => (fallbacksFrom[i]! += x));
    }
  } else {
    // Token weights: visit questions in a seeded random order, giving each to the source whose token
    // share is furthest below its weight, so the shares converge on the weights.
    for (const [g, list] of groups) {
      const w = pol.weightsFor(view.level(list[0]!));
      const order = makeRng(o.seed, "per-question-tokens", g).shuffle(list.slice());
      const tok = new Array<number>(k).fill(0);
      let total = 0;
      for (const q of order) {
        const a = avail(q);
        let best = -1;
        let bestDef = -Infinity;
        for (let s = 0; s < k; s++) {
          if (w[s] === 0) continue;
          const def = w[s]! - (total > 0 ? tok[s]! / total : 0);
          if (def > bestDef + 1e-12) {
            bestDef = def;
            best = s;
          }
        }
        if (best >= 0 && !a(best)) {
          if (o.missing === "drop") {
            dropped++;
            continue;
          }
          const drawn = best;
          best = -1;
          bestDef = -Infinity;
          for (let s = 0; s < k; s++) {
            if (!a(s) || w[s] === 0) continue;
            const def = w[s]! - (total > 0 ? tok[s]! / total : 0);
            if (def > bestDef) {
              bestDef = def;
              best = s;
            }
          }
          if (best >= 0) fallbacksFrom[drawn]!++;
        }
        if (best < 0) {
          dropped++;
          continue;
        }
        assigned[q] = best;
        const t = view.tokens(q, best);
        tok[best]! += t;
        total += t;
      }
    }
  }
  for (let q = 0; q < view.n; q++) if (assigned[q]! >= 0) out.push(q, assigned[q]!);
  return out.finish(view, dropped, fallbacksFrom, noResponse);
}

/** The examples of each source (question indices), in corpus order or seeded-shuffled. */
function sourceLists(view: CorpusView, o: ResolvedMixOptions, shuffle: boolean, label: string): number[][] {
  const pol = levelPolicy(o);
  return o.sources.map((_, s) => {
    const list: number[] = [];
    for (let q = 0; q < view.n; q++) if (view.has(q, s) && pol.allowed(view.level(q), s)) list.push(q);
    return shuffle ? makeRng(o.seed, label, s).shuffle(list) : list;
  });
}

function meanTokens(view: CorpusView, list: number[], s: number): number {
  if (list.length === 0) return 1;
  let t = 0;
  for (const q of list) t += view.tokens(q, s);
  return Math.max(1e-9, t / list.length);
}

/**
 * Interleave as HF datasets' interleave_datasets (and LLaMA-Factory's interleave_under / _over):
 * draw a source with the given probabilities, emit its next example. `first_exhausted` stops right
 * after some source has emitted its last example; `all_exhausted` restarts exhausted sources
 * (oversampling) and stops once every source has been emitted in full at least once.
 * Token weights become example probabilities proportional to weight / mean response tokens.
 */
function planInterleave(view: CorpusView, o: ResolvedMixOptions): Plan {
  const k = o.sources.length;
  const lists = sourceLists(view, o, o.shuffle, "interleave-shuffle");
  let probs = o.weights.slice();
  if (o.weightBy === "tokens") {
    probs = probs.map((w, s) => w / meanTokens(view, lists[s]!, s));
    const sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  const out = new PlanBuilder(k);
  const rng = makeRng(o.seed, "interleave");
  const pos = new Array<number>(k).fill(0);
  const exhausted = lists.map((l, s) => l.length === 0 || probs[s] === 0);
  const active = probs.map((p) => p > 0);
  if (o.stopping === "first_exhausted" && lists.some((l, s) => active[s] && l.length === 0)) return out.finish(view, 0, new Array(k).fill(0), 0);
  const done = (): boolean => exhausted.every(Boolean);
  // all_exhausted with a tiny probability on a large source asks for ~n/p examples: refuse absurd sizes.
  const limit = 50_000_000;
  while (active.some(Boolean) && !done()) {
    if (out.q.length >= limit)
      throw new MixOptionError("weights", `interleave with all_exhausted would exceed ${limit} examples at these weights; raise the smallest weight or use first_exhausted`);
    const u = rng.next();
    let s = k - 1;
    let acc = 0;
    for (let i = 0; i < k; i++) {
      acc += probs[i]!;
      if (u < acc) {
        s = i;
        break;
      }
    }
    if (!active[s] || lists[s]!.length === 0) continue;
    const list = lists[s]!;
    out.push(list[pos[s]!]!, s);
    pos[s]!++;
    if (pos[s] === list.length) {
      exhausted[s] = true;
      if (o.stopping === "first_exhausted") break;
      pos[s] = 0;
    }
  }
  return out.finish(view, 0, new Array(k).fill(0), 0);
}

/**
 * Concatenation of per-source subsamples (open-r1's dataset_mixture): `fractions` keeps that share of
 * each source's examples; without fractions, the weights set the proportions and the largest mix with
 * those proportions that the data allows is taken. Each subsample keeps corpus order.
 */
function planConcat(view: CorpusView, o: ResolvedMixOptions): Plan {
  const k = o.sources.length;
  const lists = sourceLists(view, o, false, "concat");
  const out = new PlanBuilder(k);
  const shuffled = lists.map((l, s) => makeRng(o.seed, "concat", s).shuffle(l.slice()));
  const take = (s: number, chosen: number[]): void => {
    chosen.sort((a, b) => a - b);
    for (const q of chosen) out.push(q, s);
  };
  if (o.fractions) {
    o.fractions.forEach((f, s) => take(s, shuffled[s]!.slice(0, Math.round(f * lists[s]!.length))));
  } else if (o.weightBy === "examples") {
    let total = Infinity;
    o.weights.forEach((w, s) => {
      if (w > 0) total = Math.min(total, lists[s]!.length / w);
    });
    o.weights.forEach((w, s) => take(s, shuffled[s]!.slice(0, Math.floor(w * total + 1e-9))));
  } else {
    const tokensOf = lists.map((l, s) => l.reduce((a, q) => a + view.tokens(q, s), 0));
    let total = Infinity;
    o.weights.forEach((w, s) => {
      if (w > 0) total = Math.min(total, tokensOf[s]! / w);
    });
    o.weights.forEach((w, s) => {
      const budget = w * total + 1e-9;
      const chosen: number[] = [];
      let used = 0;
      for (const q of shuffled[s]!) {
        const t = view.tokens(q, s);
        if (used + t > budget) break;
        used += t;
        chosen.push(q);
      }
      take(s, chosen);
    });
  }
  return out.finish(view, 0, new Array(k).fill(0), 0);
}

export function planMix(view: CorpusView, o: ResolvedMixOptions): Plan {
  switch (o.strategy) {
    case "per-question":
      return planPerQuestion(view, o);
    case "interleave":
      return planInterleave(view, o);
    case "concat":
      return planConcat(view, o);
  }
}
