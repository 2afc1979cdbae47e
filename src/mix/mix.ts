import type { CorpusRecord } from "../data/record.js";
import type { MixComposition, SourceComposition } from "../contract/index.js";
import { defaultTokenizer, type Tokenizer } from "../tokenize/token-counter.js";
import { histogramCounts, lengthStats, sharedHistogramEdges, type LengthStats } from "../tokenize/stats.js";
import { resolveMixOptions, MixOptionError, type MixOptions, type ResolvedMixOptions } from "./options.js";
import { planMix, type CorpusView, type Plan } from "./plan.js";
import { toolInfo } from "./version.js";

/** One training example of a mix: a question with the response of one source. */
export interface MixedExample {
  id: string;
  question: string;
  answer: string;
  level?: number;
  subject?: string;
  source: string;
  response: string;
}

export interface SourceFileInfo {
  name: string;
  path: string;
  sha256: string;
  bytes: number;
}

export interface MixManifest {
  tool: { name: string; version: string };
  strategy: string;
  /** Weights as given, normalised, by source. */
  ratio: Record<string, number>;
  weightBy: string;
  seed: number;
  draw?: string;
  stopping?: string;
  fractions?: Record<string, number>;
  levelRule?: unknown;
  missing?: string;
  sources: Array<{ name: string; file?: string; sha256?: string; bytes?: number; available: number; missing: number }>;
  counts: {
    questions: number;
    examples: number;
    perSource: Record<string, number>;
    /** Share of examples per source. */
    share: Record<string, number>;
    dropped: number;
    noResponse: number;
    fallbacksFrom: Record<string, number>;
  };
  /** Token statistics of the mixed responses; when `sampleEvery` is set, of every n-th example (total extrapolated). */
  tokens: { tokenizer: string; total: number; share: Record<string, number>; perSource: Record<string, LengthStats>; sampleEvery?: number };
  outputs?: Array<{ path: string; sha256: string; lines: number; bytes: number }>;
}

/** Per-(corpus, tokenizer) token counts of each source's responses, computed once. */
const tokenCache = new WeakMap<readonly CorpusRecord[], Map<Tokenizer, Map<string, Int32Array>>>();
export function responseTokens(corpus: readonly CorpusRecord[], source: string, tok: Tokenizer): Int32Array {
  let byTok = tokenCache.get(corpus);
  if (!byTok) tokenCache.set(corpus, (byTok = new Map()));
  let bySrc = byTok.get(tok);
  if (!bySrc) byTok.set(tok, (bySrc = new Map()));
  let arr = bySrc.get(source);
  // A corpus array that grew or shrank since (notebooks do push) is counted again.
  if (!arr || arr.length !== corpus.length) {
    arr = new Int32Array(corpus.length).fill(-1);
    corpus.forEach((r, i) => {
      const t = r.responses[source];
      if (t !== undefined) arr![i] = tok.count(t);
    });
    bySrc.set(source, arr);
  }
  return arr;
}

export function corpusView(corpus: readonly CorpusRecord[], sources: string[], tok: Tokenizer): CorpusView {
  const lens: Array<Int32Array | undefined> = sources.map(() => undefined);
  return {
    n: corpus.length,
    has: (q, s) => corpus[q]!.responses[sources[s]!] !== undefined,
    tokens: (q, s) => (lens[s] ??= responseTokens(corpus, sources[s]!, tok))[q]!,
    level: (q) => corpus[q]!.level,
  };
}

function checkSourcesPresent(corpus: readonly CorpusRecord[], o: ResolvedMixOptions): void {
  for (const s of o.sources) {
    if (!corpus.some((r) => r.responses[s] !== undefined)) {
      const known = [...new Set(corpus.slice(0, 1000).flatMap((r) => Object.keys(r.responses)))].sort();
      throw new MixOptionError("sources", `no question has a "${s}" response (sources seen: ${known.join(", ") || "none"})`);
    }
  }
}

export interface MixResult {
  examples: MixedExample[];
  manifest: MixManifest;
  plan: Plan;
}

export function toExample(r: CorpusRecord, source: string): MixedExample {
  const e: MixedExample = { id: r.id, question: r.question, answer: r.answer, source, response: r.responses[source]! };
  if (r.level !== undefined) e.level = r.level;
  if (r.subject !== undefined) e.subject = r.subject;
  return e;
}

/**
 * Mixes the responses of several sources into one training set (see MixOptions). Deterministic:
 * the same corpus, options and seed give the same examples in the same order.
 *
 *   mix(corpus, { sources: ["long", "short"], ratio: { long: 1, short: 4 }, strategy: "per-question", seed: 0 })
 */
export function mix(corpus: readonly CorpusRecord[], options: MixOptions, files?: Record<string, SourceFileInfo>): MixResult {
  const o = resolveMixOptions(options);
  checkSourcesPresent(corpus, o);
  const tok = options.tokenizer ?? defaultTokenizer;
  const plan = planMix(corpusView(corpus, o.sources, tok), o);
  const examples: MixedExample[] = new Array(plan.q.length);
  for (let i = 0; i < plan.q.length; i++) examples[i] = toExample(corpus[plan.q[i]!]!, o.sources[plan.s[i]!]!);
  const manifest = buildManifest(o, plan, corpus.length, tok, (i) => responseTokens(corpus, o.sources[plan.s[i]!]!, tok)[plan.q[i]!]!, files);
  return { examples, manifest, plan };
}

/** The manifest of a plan; `tokensOf(i)` gives the token count of output example i. */
export function buildManifest(
  o: ResolvedMixOptions,
  plan: Plan,
  questions: number,
  tok: Tokenizer,
  tokensOf: (i: number) => number,
  files?: Record<string, SourceFileInfo>,
): MixManifest {
  const perSourceTokens: number[][] = o.sources.map(() => []);
  for (let i = 0; i < plan.q.length; i++) perSourceTokens[plan.s[i]!]!.push(tokensOf(i));
  const stats = perSourceTokens.map((l) => lengthStats(l));
  const total = stats.reduce((a, s) => a + s.total, 0);
  const byName = <T>(f: (s: number) => T): Record<string, T> => Object.fromEntries(o.sources.map((n, s) => [n, f(s)]));
  // Counts come from plan.counts: the streaming mix passes a plan whose q/s hold only sampled examples.
  const examples = plan.counts.reduce((a, b) => a + b, 0);
  const m: MixManifest = {
    tool: toolInfo(),
    strategy: o.strategy,
    ratio: byName((s) => o.weights[s]!),
    weightBy: o.weightBy,
    seed: o.seed,
    sources: o.sources.map((name, s) => {
      const f = files?.[name];
      const base = { name, available: questions - plan.missing[s]!, missing: plan.missing[s]! };
      return f ? { name, file: f.path, sha256: f.sha256, bytes: f.bytes, available: base.available, missing: base.missing } : base;
    }),
    counts: {
      questions,
      examples,
      perSource: byName((s) => plan.counts[s]!),
      share: byName((s) => (examples ? plan.counts[s]! / examples : 0)),
      dropped: plan.dropped,
      noResponse: plan.noResponse,
      fallbacksFrom: byName((s) => plan.fallbacksFrom[s]!),
    },
    tokens: { tokenizer: tok.name, total, share: byName((s) => (total ? stats[s]!.total / total : 0)), perSource: byName((s) => stats[s]!) },
  };
  if (o.strategy === "per-question") {
    m.draw = o.draw;
    m.missing = o.missing;
  }
  if (o.strategy === "interleave") m.stopping = o.stopping;
  if (o.strategy === "concat" && o.fractions) m.fractions = byName((s) => o.fractions![s]!);
  if (o.levelRule) m.levelRule = o.levelRule;
  return m;
}

/** Histogram edges shared by all sources of a corpus (cached), so bars stay put as weights move. */
const edgeCache = new WeakMap<readonly CorpusRecord[], Map<string, number[]>>();
function sharedEdges(corpus: readonly CorpusRecord[], sources: string[], tok: Tokenizer, bins: number): number[] {
  let m = edgeCache.get(corpus);
  if (!m) edgeCache.set(corpus, (m = new Map()));
  const key = `${tok.name}\u0000${bins}\u0000${sources.join("\u0000")}`;
  const stamp = `${key}\u0000${corpus.length}`;
  let e = m.get(stamp);
  if (!e) {
    m.set(stamp, (e = sharedHistogramEdges(sources.map((s) => responseTokens(corpus, s, tok)), bins)));
  }
  return e;
}

/**
 * What a mix would contain, without building it: questions and tokens per source and a length
 * histogram. Token counts are cached per corpus and tokenizer, so after the first call this is a
 * pass over integers (the mixer widget calls it on every slider move).
 */
export function mixComposition(corpus: readonly CorpusRecord[], options: MixOptions & { bins?: number }): MixComposition {
  const o = resolveMixOptions(options);
  const tok = options.tokenizer ?? defaultTokenizer;
  const plan = planMix(corpusView(corpus, o.sources, tok), o);
  const edges = sharedEdges(corpus, o.sources, tok, options.bins ?? 20);
  const lens = o.sources.map((s) => responseTokens(corpus, s, tok));
  const per: number[][] = o.sources.map(() => []);
  for (let i = 0; i < plan.q.length; i++) per[plan.s[i]!]!.push(lens[plan.s[i]!]![plan.q[i]!]!);
  let totalTokens = 0;
  const sources: SourceComposition[] = o.sources.map((source, s) => {
    const l = per[s]!;
    let tokens = 0;
    for (const t of l) tokens += t;
    totalTokens += tokens;
    return { source, questions: l.length, tokens, meanTokens: l.length ? tokens / l.length : 0, histogram: { edges, counts: histogramCounts(l, edges) } };
  });
  return { total: { questions: plan.q.length, tokens: totalTokens, questionsUsed: new Set(plan.q).size }, sources, dropped: plan.dropped };
}
