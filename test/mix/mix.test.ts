import { describe, expect, it } from "vitest";
import { synth, type CorpusRecord } from "../../src/data/index.js";
import { charTokenizer } from "../../src/tokenize/index.js";
import { parseMixerState } from "../../src/contract/index.js";
import { exactCounts, mix, mixComposition, MixOptionError, resolveWeights, type MixOptions } from "../../src/mix/index.js";

const corpus = synth({ task: "mixed", n: 2000, seed: 11 });
const LS = { sources: ["long", "short"], ratio: { long: 1, short: 4 } };
const ids = (c: Array<{ id: string }>): string[] => c.map((e) => e.id);

/** A corpus where some questions lack a "long" response. */
function withHoles(c: CorpusRecord[], every: number): CorpusRecord[] {
  return c.map((r, i) => (i % every === 0 ? { ...r, responses: { short: r.responses.short! } } : r));
}

describe("per-question", () => {
  it("uses each question once with exact counts (Mix-Long 1:4)", () => {
    const { examples, manifest } = mix(corpus, { ...LS, strategy: "per-question", seed: 0 });
    expect(examples.length).toBe(2000);
    expect(new Set(ids(examples)).size).toBe(2000);
    expect(ids(examples)).toEqual(ids(corpus)); // corpus order
    expect(examples.filter((e) => e.source === "long").length).toBe(400);
    expect(manifest.counts.perSource).toEqual({ long: 400, short: 1600 });
    for (const e of examples) expect(e.response).toBe(corpus.find((r) => r.id === e.id)!.responses[e.source]);
  });

  it("is byte-identical for the same seed and differs for another seed", () => {
    const a = JSON.stringify(mix(corpus, { ...LS, strategy: "per-question", seed: 5 }));
    const b = JSON.stringify(mix(corpus, { ...LS, strategy: "per-question", seed: 5 }));
    const c = mix(corpus, { ...LS, strategy: "per-question", seed: 6 });
    expect(a).toBe(b);
    expect(JSON.stringify(c)).not.toBe(a);
    expect(c.manifest.counts.perSource).toEqual({ long: 400, short: 1600 });
  });

  it("rounds k-way weights exactly (largest remainder)", () => {
    expect(exactCounts([1 / 3, 1 / 3, 1 / 3], 10)).toEqual([4, 3, 3]);
    const { manifest } = mix(corpus, { sources: ["long", "short", "large"], weights: [0.5, 0.3, 0.2], strategy: "per-question", seed: 1 });
    expect(manifest.counts.perSource).toEqual({ long: 1000, short: 600, large: 400 });
  });

  it("independent draws vary in count around the weight", () => {
    const counts = [1, 2, 3, 4, 5].map((seed) => mix(corpus, { ...LS, strategy: "per-question", draw: "independent", seed }).manifest.counts.perSource.long!);
    for (const n of counts) expect(Math.abs(n - 400)).toBeLessThan(80);
    expect(new Set(counts).size).toBeGreaterThan(1);
  });

  it("weights by tokens: the long share of tokens is the weight", () => {
    const { manifest, examples } = mix(corpus, { ...LS, strategy: "per-question", weightBy: "tokens", tokenizer: charTokenizer, seed: 2 });
    expect(examples.length).toBe(2000);
    const longChars = examples.filter((e) => e.source === "long").reduce((a, e) => a + e.response.length, 0);
    const all = examples.reduce((a, e) => a + e.response.length, 0);
    expect(Math.abs(longChars / all - 0.2)).toBeLessThan(0.01);
    expect(manifest.tokens.share.long).toBeCloseTo(longChars / all, 10);
    // With long traces ~10x longer, 20% of tokens is only a few percent of the questions.
    expect(manifest.counts.perSource.long!).toBeLessThan(100);
  });

  it("missing responses fall back (counted, exact counts kept) or are dropped (counted)", () => {
    const holes = withHoles(corpus, 4); // 500 questions without long
    const fb = mix(holes, { ...LS, strategy: "per-question", seed: 3 });
    expect(fb.examples.length).toBe(2000);
    expect(fb.manifest.counts.perSource).toEqual({ long: 400, short: 1600 });
    expect(fb.manifest.counts.fallbacksFrom.long).toBeGreaterThan(50);
    expect(fb.manifest.sources.find((s) => s.name === "long")!.missing).toBe(500);
    for (const e of fb.examples) expect(holes.find((r) => r.id === e.id)!.responses[e.source]).toBeDefined();
    const dr = mix(holes, { ...LS, strategy: "per-question", seed: 3, missing: "drop" });
    expect(dr.manifest.counts.dropped).toBeGreaterThan(50);
    expect(dr.examples.length).toBe(2000 - dr.manifest.counts.dropped);
    expect(dr.manifest.counts.perSource.long).toBe(400 - dr.manifest.counts.dropped);
  });

  it("level rule: the long response only at level >= 4", () => {
    const { examples } = mix(corpus, { ...LS, strategy: "per-question", seed: 4, levelRule: { source: "long", minLevel: 4 } });
    expect(examples.length).toBe(2000);
    for (const e of examples) if (e.source === "long") expect(e.level!).toBeGreaterThanOrEqual(4);
    const hard = corpus.filter((r) => r.level! >= 4);
    const byLevel = (l: number) => examples.filter((e) => e.level === l && e.source === "long").length;
    expect(byLevel(4)).toBe(Math.round(0.2 * hard.filter((r) => r.level === 4).length));
    expect(byLevel(1)).toBe(0);
  });

  it("level rule: a weight vector per level", () => {
    const { examples } = mix(corpus, { ...LS, strategy: "per-question", seed: 4, levelRule: { weights: { "5": [1, 0], "1": [0, 1] } } });
    for (const e of examples) {
      if (e.level === 5) expect(e.source).toBe("long");
      if (e.level === 1) expect(e.source).toBe("short");
    }
    const l3 = corpus.filter((r) => r.level === 3).length;
    expect(examples.filter((e) => e.level === 3 && e.source === "long").length).toBe(Math.round(0.2 * l3));
  });
});

describe("interleave", () => {
  it("first_exhausted stops right after one source emitted its last example", () => {
    const { examples, manifest } = mix(corpus, { sources: ["long", "short"], weights: [0.3, 0.7], strategy: "interleave", seed: 1 });
    const last = examples[examples.length - 1]!;
    const fromLast = examples.filter((e) => e.source === last.source);
    expect(fromLast.length).toBe(2000);
    expect(ids(fromLast)).toEqual(ids(corpus)); // in corpus order, each once
    expect(manifest.counts.perSource.long! + manifest.counts.perSource.short!).toBe(examples.length);
    expect(last.source).toBe("short");
    expect(Math.abs(manifest.counts.share.long! - 0.3)).toBeLessThan(0.03);
  });

  it("all_exhausted oversamples until every source was used in full", () => {
    const { examples, manifest } = mix(corpus, { sources: ["long", "short"], weights: [0.3, 0.7], strategy: "interleave", stopping: "all_exhausted", seed: 1 });
    expect(manifest.counts.perSource.long!).toBeGreaterThanOrEqual(2000);
    expect(manifest.counts.perSource.short!).toBeGreaterThan(2000); // restarted
    expect(examples[examples.length - 1]!.source).toBe("long");
    expect(new Set(examples.filter((e) => e.source === "long").map((e) => e.id)).size).toBe(2000);
  });

  it("is deterministic and can shuffle each source", () => {
    const o: MixOptions = { ...LS, strategy: "interleave", seed: 9, shuffle: true };
    expect(JSON.stringify(mix(corpus, o).examples)).toBe(JSON.stringify(mix(corpus, o).examples));
    const shuffled = mix(corpus, o).examples.filter((e) => e.source === "short");
    expect(ids(shuffled.slice(0, 20))).not.toEqual(ids(corpus.slice(0, 20)));
  });

  it("weights by tokens convert to example probabilities", () => {
    const { manifest } = mix(corpus, { ...LS, strategy: "interleave", weightBy: "tokens", tokenizer: charTokenizer, seed: 3 });
    expect(Math.abs(manifest.tokens.share.long! - 0.2)).toBeLessThan(0.04);
  });
});

describe("concat", () => {
  it("keeps exact per-source fractions, each subsample in corpus order", () => {
    const { examples, manifest } = mix(corpus, { sources: ["long", "short"], fractions: { long: 0.25, short: 0.5 }, strategy: "concat", seed: 1 });
    expect(manifest.counts.perSource).toEqual({ long: 500, short: 1000 });
    expect(examples.slice(0, 500).every((e) => e.source === "long")).toBe(true);
    const pos = new Map(corpus.map((r, i) => [r.id, i]));
    const idx = examples.slice(500).map((e) => pos.get(e.id)!);
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
  });

  it("without fractions takes the largest mix with the ratio", () => {
    const { manifest } = mix(corpus, { ...LS, strategy: "concat", seed: 1 });
    expect(manifest.counts.perSource).toEqual({ long: 500, short: 2000 });
  });

  it("token weights set token shares", () => {
    const { manifest } = mix(corpus, { ...LS, strategy: "concat", weightBy: "tokens", tokenizer: charTokenizer, seed: 1 });
    expect(Math.abs(manifest.tokens.share.long! - 0.2)).toBeLessThan(0.01);
  });
});

describe("options and composition", () => {
  it("validates options at the boundary", () => {
    expect(() => mix(corpus, { sources: ["long", "short"], weights: [1], strategy: "per-question" })).toThrow(MixOptionError);
    expect(() => mix(corpus, { sources: ["long", "nope"], weights: [1, 1], strategy: "per-question" })).toThrow(/no question has a "nope" response/);
    expect(() => mix(corpus, { sources: ["long", "short"], ratio: { lng: 1 }, strategy: "per-question" })).toThrow(/ratio.lng/);
    expect(() => mix(corpus, { sources: ["long", "short"], weights: [0, 0], strategy: "per-question" })).toThrow(/sum to 0/);
    expect(() => mix(corpus, { sources: ["long", "short"], fractions: { long: 2 }, strategy: "concat" })).toThrow(/fractions.long/);
    expect(() => mix(corpus, { sources: ["long", "short"], weights: "1,4" as never, strategy: "per-question" })).toThrow('mix option "weights": expected 2 weights (one per source), got "1,4"');
    expect(() => mix(corpus, { sources: ["long", "short"], strategy: "per-question", weights: [1, 4], levelRule: { weights: { "3": [1] } } })).toThrow('mix option "levelRule.weights.3": expected 2 weights (one per source), got 1');
  });

  it("resolveWeights: one weight per source, finite and non-negative, normalised to sum 1", () => {
    expect(resolveWeights([1, 3], ["a", "b"])).toEqual([0.25, 0.75]);
    expect(resolveWeights([0.2, 0.8], ["a", "b"], "value")).toEqual([0.2, 0.8]);
    expect(() => resolveWeights([1, Number.NaN], ["a", "b"])).toThrow('mix option "weights[1]": expected a non-negative number, got NaN');
    expect(() => resolveWeights([1, "2"], ["a", "b"], "value")).toThrow('mix option "value[1]": expected a non-negative number, got "2"');
    expect(() => resolveWeights(undefined, ["a", "b"])).toThrow('mix option "weights": expected 2 weights (one per source), got undefined');
  });

  it("mixComposition agrees with mix and is a valid mixer state composition", () => {
    for (const strategy of ["per-question", "interleave", "concat"] as const) {
      const o: MixOptions = { ...LS, strategy, seed: 7, tokenizer: charTokenizer };
      const comp = mixComposition(corpus, o);
      const { manifest } = mix(corpus, o);
      expect(comp.total.questions).toBe(manifest.counts.examples);
      expect(comp.total.tokens).toBe(manifest.tokens.total);
      expect(comp.sources.map((s) => s.questions)).toEqual([manifest.counts.perSource.long, manifest.counts.perSource.short]);
      for (const s of comp.sources) expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(s.questions);
      const state = { sources: ["long", "short"], weights: [0.2, 0.8], strategy, seed: 7, weightBy: "examples", composition: comp };
      expect(parseMixerState(state)).toMatchObject({ ok: true });
    }
  });

  it("mixComposition follows a corpus array that grows", () => {
    const c = corpus.slice(0, 100);
    const a = mixComposition(c, { ...LS, strategy: "per-question", seed: 1, tokenizer: charTokenizer });
    c.push(...corpus.slice(100, 200));
    const b = mixComposition(c, { ...LS, strategy: "per-question", seed: 1, tokenizer: charTokenizer });
    expect(a.total.questions).toBe(100);
    expect(b.total.questions).toBe(200);
    expect(Number.isFinite(b.total.tokens)).toBe(true);
    expect(b.total.tokens).toBe(mix(c, { ...LS, strategy: "per-question", seed: 1, tokenizer: charTokenizer }).manifest.tokens.total);
  });

  it("mixComposition keeps histogram edges fixed as the weights move and reports drops", () => {
    const a = mixComposition(corpus, { sources: ["long", "short"], weights: [0.1, 0.9], strategy: "per-question", seed: 1 });
    const b = mixComposition(corpus, { sources: ["long", "short"], weights: [0.9, 0.1], strategy: "per-question", seed: 1 });
    expect(a.sources[0]!.histogram.edges).toEqual(b.sources[0]!.histogram.edges);
    expect(b.sources[0]!.questions).toBe(1800);
    const d = mixComposition(withHoles(corpus, 2), { ...LS, strategy: "per-question", seed: 1, missing: "drop" });
    expect(d.dropped).toBeGreaterThan(0);
    expect(d.total.questions).toBe(2000 - d.dropped);
  });
});
