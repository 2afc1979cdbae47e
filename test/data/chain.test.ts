import { describe, expect, it } from "vitest";
import { corpusStats } from "../../src/tokenize/stats.js";
import { extractBoxed, synth, STYLES } from "../../src/data/index.js";
import { placeValueStep } from "../../src/data/synth/chain.js";
import { op } from "../../src/data/synth/steps.js";

/** Every "a op b = r" (and "a op b = c op d = ...") written in a text must be true arithmetic. */
function falseEquations(text: string): string[] {
  const bad: string[] = [];
  for (const line of text.split("\n")) {
    for (const chain of line.matchAll(/-?\d[\d +-]*(?: = -?\d[\d +-]*)+/g)) {
      const sides = chain[0].split(" = ").map((e) => Function(`return (${e.replace(/[^\d]+$/, "")})`)() as number);
      if (sides.some((v) => v !== sides[0])) bad.push(chain[0]);
    }
  }
  return bad;
}

describe("chain task", () => {
  const corpus = synth({ task: "chain", n: 300, seed: 3, levels: [1, 2, 3] });
  const one = synth({ task: "chain", n: 300, seed: 3, levels: [1, 2, 3], operandDigits: 1 });

  it("boxes the running total last in every style, and levels are the number of operations", () => {
    for (const r of [...corpus, ...one]) {
      const ops = r.question.match(/ [+-] /g)!.length;
      expect(ops).toBe(r.level);
      const value = Function(`return (${r.question.slice(8, -1)})`)() as number;
      expect(r.answer).toBe(String(value));
      for (const s of STYLES) expect(extractBoxed(r.responses[s]!), `${r.id} ${s}`).toBe(r.answer);
    }
  });

  it("writes only true equations except the long style's slips, which its checks catch", () => {
    for (const r of [...corpus, ...one])
      for (const s of ["short", "large", "small", "long_noslip"]) expect(falseEquations(r.responses[s]!), `${r.id} ${s}`).toEqual([]);
    const slipped = corpus.filter((r) => r.responses.long!.includes("Wait, that's wrong"));
    expect(slipped.length).toBeGreaterThan(20);
    for (const r of slipped) expect(r.responses.long).toContain("mismatch!");
  });

  it("writes steps out by place value or through the next ten", () => {
    expect(placeValueStep(op("+", 47, 18))).toBe("47 + 18 = 47 + 10 + 8 = 57 + 8 = 65.");
    expect(placeValueStep(op("-", 65, 23))).toBe("65 - 23 = 65 - 20 - 3 = 45 - 3 = 42.");
    expect(placeValueStep(op("+", 8, 5))).toBe("8 + 5 = 8 + 2 + 3 = 10 + 3 = 13.");
    expect(placeValueStep(op("-", 13, 5))).toBe("13 - 5 = 13 - 3 - 2 = 10 - 2 = 8.");
    expect(placeValueStep(op("+", 4, 5))).toBe("4 + 5 = 9.");
    expect(placeValueStep(op("+", 47, 20))).toBe("47 + 20 = 67.");
  });

  it("granularity: implicit=1 writes each short step in one line, implicit=0 writes them out", () => {
    const fine = synth({ task: "chain", n: 100, seed: 3, levels: [2, 3], implicit: 0 });
    for (const r of corpus) for (const l of r.responses.short!.split("\n").slice(0, -1)) expect(l).toMatch(/^\d+ [+-] \d+ = \d+\.$/);
    const written = fine.filter((r) => r.responses.short!.split("\n").some((l) => (l.match(/=/g) ?? []).length === 3));
    expect(written.length).toBeGreaterThan(90);
  });

  it("verbosity knobs: reflection, checks, slips and recap are each switched alone", () => {
    const base = { task: "chain" as const, n: 100, seed: 3, levels: [2, 3] };
    const noRefl = synth({ ...base, reflection: false });
    const noRecap = synth({ ...base, recap: false });
    const noChecks = synth({ ...base, checks: "none" });
    const noSlip = synth({ ...base, slipRate: 0 });
    const ref = synth(base);
    expect(ref.every((r) => r.responses.long!.startsWith("Let me think") && r.responses.long!.includes("Recap:"))).toBe(true);
    expect(noRefl.some((r) => /Let me think|Wait/.test(r.responses.long!))).toBe(false);
    expect(noRecap.some((r) => r.responses.long!.includes("Recap:"))).toBe(false);
    expect(noChecks.some((r) => r.responses.long!.includes("Check"))).toBe(false);
    expect(noSlip.every((r) => r.responses.long === r.responses.long_noslip)).toBe(true);
    // The other styles do not depend on the long trace's knobs.
    for (const v of [noRefl, noRecap, noChecks, noSlip]) expect(v.map((r) => [r.responses.short, r.responses.large, r.responses.small])).toEqual(ref.map((r) => [r.responses.short, r.responses.large, r.responses.small]));
  });

  it("large nets the changes in dense steps, small writes one plain operation a line; corpusStats shows every ratio", () => {
    const r = corpus.find((x) => x.level === 3)!;
    expect(r.responses.large).toMatch(/^Net change: /);
    expect(r.responses.large!.split("\n")).toHaveLength(3);
    expect(r.responses.small!.split("\n")).toHaveLength(5);
    expect(r.responses.large).not.toMatch(/Wait|Check|Let me/);
    const st = corpusStats(corpus, { sources: ["long", "short", "large", "small"] });
    const pairs = Object.keys(st.lengthRatios).map((k) => k.split("/").sort().join("/"));
    expect(pairs.sort()).toEqual(["large/long", "large/short", "large/small", "long/short", "long/small", "short/small"]);
    for (const [k, v] of Object.entries(st.lengthRatios)) {
      const [a, b] = k.split("/") as [string, string];
      expect(v).toBeCloseTo(st.bySource[a]!.mean / st.bySource[b]!.mean, 2);
      expect(v).toBeGreaterThanOrEqual(1);
    }
    expect(st.lengthRatios["long/short"]).toBeGreaterThan(5);
    expect(st.lengthRatios["small/large"]).toBeGreaterThan(1.5);
  });

  it("rejects a bad operandDigits", () => {
    expect(() => synth({ task: "chain", n: 3, seed: 1, operandDigits: 3 as 1 })).toThrow(/operandDigits/);
  });
});
