/**
 * Data variants of a study from a corpus: single-source variants ("long", "short"), mixes
 * ("mix-long" = long:short 1:4, per question), and ratio grids for the mix-weight ablation. Mixed
 * variants are keyed in the results store by their manifest (sources, ratio, seed, counts, tokens).
 */
import type { CorpusRecord } from "../data/record.js";
import type { EvalExample, TrainExample } from "../train/spec.js";
import { mix, type MixOptions } from "../mix/index.js";
import { hashOf } from "./hash.js";
import type { DataVariant } from "./sweep.js";

/** The training examples of one response source (questions without it are skipped). */
export function sourceExamples(corpus: readonly CorpusRecord[], source: string): TrainExample[] {
  const out: TrainExample[] = [];
  for (const r of corpus) {
    const response = r.responses[source];
    if (response !== undefined) out.push({ prompt: r.question, response });
  }
  if (out.length === 0) throw new Error(`no record has a "${source}" response`);
  return out;
}

/** Evaluation examples from corpus records (task = subject, so each subject is a benchmark). */
export function evalExamples(corpus: readonly CorpusRecord[]): EvalExample[] {
  return corpus.map((r) => {
    const e: EvalExample = { id: r.id, prompt: r.question, answer: r.answer };
    if (r.subject !== undefined) e.task = r.subject;
    if (r.level !== undefined) e.level = r.level;
    return e;
  });
}

/** A variant of one source. */
export function sourceVariant(corpus: readonly CorpusRecord[], source: string, name = source): DataVariant {
  return { name, train: sourceExamples(corpus, source) };
}

/** A mixed variant; `weight` is the share of the first source (for plots against mix weight). */
export function mixVariant(corpus: readonly CorpusRecord[], name: string, options: MixOptions): DataVariant {
  const { examples, manifest } = mix(corpus, options);
  if (examples.length === 0) throw new Error(`mix "${name}" is empty`);
  const { tool: _tool, ...keyed } = manifest;
  return {
    name,
    train: examples.map((e) => ({ prompt: e.question, response: e.response })),
    manifestHash: hashOf(keyed),
    weight: manifest.ratio[options.sources[0]] ?? undefined,
  };
}

/** The paper's Mix-Long: long:short = 1:4, each question once (per-question strategy). */
export function mixLong(corpus: readonly CorpusRecord[], seed = 0, long = "long", short = "short"): DataVariant {
  return mixVariant(corpus, "mix-long", { sources: [long, short], ratio: { [long]: 1, [short]: 4 }, strategy: "per-question", seed });
}

/** The paper's Mix-Large: large:small = 1:4. */
export function mixLarge(corpus: readonly CorpusRecord[], seed = 0, large = "large", small = "small"): DataVariant {
  return mixVariant(corpus, "mix-large", { sources: [large, small], ratio: { [large]: 1, [small]: 4 }, strategy: "per-question", seed });
}

/**
 * A ratio grid for the mix-weight ablation (the paper's Figure 6): one variant per weight of
 * `first` against `second`, named "<first>@<weight>"; weights 0 and 1 are the pure sources.
 */
export function ratioGrid(corpus: readonly CorpusRecord[], first: string, second: string, weights: number[], seed = 0): DataVariant[] {
  return weights.map((w) => {
    if (!(w >= 0 && w <= 1)) throw new Error(`ratioGrid: weight ${w} is not in [0, 1]`);
    const name = `${first}@${w}`;
    if (w === 0) return { ...sourceVariant(corpus, second, name), weight: 0 };
    if (w === 1) return { ...sourceVariant(corpus, first, name), weight: 1 };
    return { ...mixVariant(corpus, name, { sources: [first, second], weights: [w, 1 - w], strategy: "per-question", seed }), weight: w };
  });
}

/** Variant name -> mix weight, for variants that carry one (e.g. a ratioGrid), as mixWeightSeries takes it. */
export function variantWeights(variants: readonly DataVariant[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of variants) if (v.weight !== undefined) out[v.name] = v.weight;
  return out;
}
