import { describe, expect, it } from "vitest";
import { synth } from "../../src/data/index.js";
import { evalExamples, mixLarge, mixLong, planSweep, ratioGrid, sourceExamples, sourceVariant, variantWeights } from "../../src/experiment/index.js";

const corpus = synth({ task: "mixed", n: 50, seed: 2, levels: [1, 2] });

describe("study variants from a corpus", () => {
  it("single sources and evaluation examples", () => {
    const long = sourceVariant(corpus, "long");
    expect(long.train).toHaveLength(50);
    expect(long.train[0]).toEqual({ prompt: corpus[0].question, response: corpus[0].responses.long });
    const ev = evalExamples(corpus);
    expect(ev[0]).toEqual({ id: corpus[0].id, prompt: corpus[0].question, answer: corpus[0].answer, task: corpus[0].subject, level: corpus[0].level });
    expect(() => sourceExamples(corpus, "nope")).toThrow(/no record has a "nope" response/);
  });

  it("Mix-Long and Mix-Large: 1:4 per question, each question once, keyed by their manifest", () => {
    const m = mixLong(corpus, 0);
    expect(m.name).toBe("mix-long");
    expect(m.weight).toBeCloseTo(0.2, 9);
    expect(m.train).toHaveLength(50);
    const longSet = new Set(corpus.map((r) => r.responses.long));
    expect(m.train.filter((e) => longSet.has(e.response))).toHaveLength(10);
    expect(new Set(m.train.map((e) => e.prompt)).size).toBe(50);
    expect(mixLong(corpus, 0).manifestHash).toBe(m.manifestHash);
    expect(mixLong(corpus, 1).manifestHash).not.toBe(m.manifestHash);
    const large = mixLarge(corpus, 0);
    const largeSet = new Set(corpus.map((r) => r.responses.large));
    expect(large.train.filter((e) => largeSet.has(e.response))).toHaveLength(10);
  });

  it("a ratio grid: pure sources at the ends share cells with the plain variants", () => {
    const grid = ratioGrid(corpus, "long", "short", [0, 0.2, 0.5, 1]);
    expect(grid.map((v) => v.name)).toEqual(["long@0", "long@0.2", "long@0.5", "long@1"]);
    expect(variantWeights(grid)).toEqual({ "long@0": 0, "long@0.2": 0.2, "long@0.5": 0.5, "long@1": 1 });
    const longSet = new Set(corpus.map((r) => r.responses.long));
    expect(grid[2].train.filter((e) => longSet.has(e.response))).toHaveLength(25);
    expect(() => ratioGrid(corpus, "long", "short", [1.5])).toThrow(/not in \[0, 1\]/);
    const base = { students: ["nano"], seeds: [0], training: { budget: { kind: "epochs" as const, epochs: 1 }, batchSize: 4, lr: 1e-3, warmupSteps: 0, weightDecay: 0, gradClip: 1 }, test: evalExamples(corpus.slice(0, 5)), maxNewTokens: 8 };
    const a = planSweep({ ...base, variants: [grid[0], grid[3]] });
    const b = planSweep({ ...base, variants: [sourceVariant(corpus, "short"), sourceVariant(corpus, "long")] });
    expect(a.map((c) => c.key)).toEqual(b.map((c) => c.key));
  });
});
