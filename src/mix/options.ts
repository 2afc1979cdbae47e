import { MIX_STRATEGIES, type MixStrategyName } from "../contract/index.js";
import type { Tokenizer } from "../tokenize/token-counter.js";

/**
 * A difficulty-aware rule (none of the peer tools has one):
 * - `{ source, minLevel }`: that source is used only for questions at level >= minLevel; below it the
 *   other sources share its weight. E.g. the long response only for hard questions.
 * - `{ weights: { "1": [...], "5": [...] } }`: a weight vector per level (levels not listed use the
 *   mix's weights).
 */
export type LevelRule = { source: string; minLevel: number } | { weights: Record<string, number[]> };

export interface MixOptions {
  /** Response sources (keys of CorpusRecord.responses), in order. */
  sources: string[];
  /** One weight per source (normalised to sum 1)... */
  weights?: number[];
  /** ...or a ratio by name, e.g. { long: 1, short: 4 } (Mix-Long). */
  ratio?: Record<string, number>;
  strategy: MixStrategyName;
  seed?: number;
  /** Whether weights count examples (default) or tokens. */
  weightBy?: "examples" | "tokens";
  /** interleave: stop when the first source runs out (default) or when all have been used once. */
  stopping?: "first_exhausted" | "all_exhausted";
  /** per-question: exact counts by seeded draw without replacement (default), or an independent draw per question. */
  draw?: "exact" | "independent";
  /** concat: the fraction of each source's examples to keep (seeded subsample), by name. */
  fractions?: Record<string, number>;
  levelRule?: LevelRule;
  /** per-question: a question without the drawn source's response falls back to another source (default) or is dropped. */
  missing?: "fallback" | "drop";
  /** interleave: shuffle each source's examples before interleaving (default false: corpus order, as HF datasets). */
  shuffle?: boolean;
  /** Tokenizer for token weights and the manifest's token statistics (default: the built-in estimate). */
  tokenizer?: Tokenizer;
}

export interface ResolvedMixOptions {
  sources: string[];
  weights: number[];
  strategy: MixStrategyName;
  seed: number;
  weightBy: "examples" | "tokens";
  stopping: "first_exhausted" | "all_exhausted";
  draw: "exact" | "independent";
  fractions: number[] | undefined;
  levelRule: LevelRule | undefined;
  missing: "fallback" | "drop";
  shuffle: boolean;
}

/** A mix option that cannot be used; the message names the option (`mix option "weights": ...`). */
export class MixOptionError extends Error {
  constructor(field: string, reason: string) {
    super(`mix option "${field}": ${reason}`);
    this.name = "MixOptionError";
  }
}

function normalise(w: readonly unknown[], field: string): number[] {
  w.forEach((x, i) => {
    if (!(typeof x === "number" && Number.isFinite(x) && x >= 0)) throw new MixOptionError(`${field}[${i}]`, `expected a non-negative number, got ${typeof x === "number" ? x : JSON.stringify(x) ?? String(x)}`);
  });
  const sum = (w as number[]).reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new MixOptionError(field, "weights sum to 0");
  return (w as number[]).map((x) => x / sum);
}

/**
 * Weights as they enter from code: one finite, non-negative number per source, not all zero;
 * returned normalised to sum 1. The one check of a weight vector (mix options, the mixer widget).
 */
export function resolveWeights(weights: unknown, sources: readonly string[], field = "weights"): number[] {
  if (!Array.isArray(weights) || weights.length !== sources.length)
    throw new MixOptionError(field, `expected ${sources.length} weights (one per source), got ${Array.isArray(weights) ? weights.length : JSON.stringify(weights) ?? String(weights)}`);
  return normalise(weights, field);
}

/** Validates options once, at the boundary; everything after works on ResolvedMixOptions. */
export function resolveMixOptions(o: MixOptions): ResolvedMixOptions {
  if (!Array.isArray(o.sources) || o.sources.length < 1) throw new MixOptionError("sources", "expected at least one source name");
  if (new Set(o.sources).size !== o.sources.length) throw new MixOptionError("sources", `duplicate names in ${o.sources.join(", ")}`);
  if (!MIX_STRATEGIES.includes(o.strategy)) throw new MixOptionError("strategy", `expected ${MIX_STRATEGIES.join(", ")}, got ${JSON.stringify(o.strategy)}`);
  let weights: number[];
  if (o.weights && o.ratio) throw new MixOptionError("weights", "give weights or ratio, not both");
  if (o.weights) {
    weights = resolveWeights(o.weights, o.sources);
  } else if (o.ratio) {
    for (const k of Object.keys(o.ratio)) if (!o.sources.includes(k)) throw new MixOptionError(`ratio.${k}`, `not one of the sources (${o.sources.join(", ")})`);
    weights = normalise(o.sources.map((s) => o.ratio![s] ?? 0), "ratio");
  } else if (o.strategy === "concat") {
    weights = o.sources.map(() => 1 / o.sources.length);
  } else throw new MixOptionError("weights", "give weights or a ratio");
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new MixOptionError("seed", `expected a non-negative integer, got ${seed}`);
  const weightBy = o.weightBy ?? "examples";
  if (weightBy !== "examples" && weightBy !== "tokens") throw new MixOptionError("weightBy", `expected examples or tokens, got ${JSON.stringify(weightBy)}`);
  const stopping = o.stopping ?? "first_exhausted";
  if (stopping !== "first_exhausted" && stopping !== "all_exhausted") throw new MixOptionError("stopping", `expected first_exhausted or all_exhausted, got ${JSON.stringify(stopping)}`);
  const draw = o.draw ?? "exact";
  if (draw !== "exact" && draw !== "independent") throw new MixOptionError("draw", `expected exact or independent, got ${JSON.stringify(draw)}`);
  const missing = o.missing ?? "fallback";
  if (missing !== "fallback" && missing !== "drop") throw new MixOptionError("missing", `expected fallback or drop, got ${JSON.stringify(missing)}`);
  let fractions: number[] | undefined;
  if (o.fractions) {
    for (const k of Object.keys(o.fractions)) if (!o.sources.includes(k)) throw new MixOptionError(`fractions.${k}`, `not one of the sources (${o.sources.join(", ")})`);
    fractions = o.sources.map((s) => o.fractions![s] ?? 1);
    fractions.forEach((f, i) => {
      if (!(f >= 0 && f <= 1)) throw new MixOptionError(`fractions.${o.sources[i]}`, `expected a fraction in [0, 1], got ${f}`);
    });
  }
  const rule = o.levelRule;
  if (rule) {
    if ("source" in rule) {
      if (!o.sources.includes(rule.source)) throw new MixOptionError("levelRule.source", `not one of the sources (${o.sources.join(", ")})`);
      if (!Number.isInteger(rule.minLevel)) throw new MixOptionError("levelRule.minLevel", `expected an integer, got ${rule.minLevel}`);
    } else {
      for (const [l, w] of Object.entries(rule.weights)) {
        resolveWeights(w, o.sources, `levelRule.weights.${l}`);
      }
    }
  }
  return { sources: o.sources.slice(), weights, strategy: o.strategy, seed, weightBy, stopping, draw, fractions, levelRule: rule, missing, shuffle: o.shuffle ?? false };
}
