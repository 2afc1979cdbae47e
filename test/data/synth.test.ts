import { describe, expect, it } from "vitest";
import { extractBoxed, synth, STYLES, type CorpusRecord } from "../../src/data/index.js";

const FAMILY_TASKS = ["arith", "word", "lineq", "root"] as const;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Every "a op b = r" written in a text must be true arithmetic. */
function wrongEquations(text: string): string[] {
  const bad: string[] = [];
  for (const m of text.matchAll(/(?<![\d(x]|[-+*/] )(\d+) ([-+*/]) (\d+) = (-?\d+)(?![\d(x]| [-+*/] )/g)) {
    const a = Number(m[1]), b = Number(m[3]), r = Number(m[4]);
    const v = m[2] === "+" ? a + b : m[2] === "-" ? a - b : m[2] === "*" ? a * b : a / b;
    if (v !== r) bad.push(m[0]);
  }
  return bad;
}

describe("synth", () => {
  const corpus = synth({ task: "mixed", n: 400, seed: 7 });

  it("is deterministic by seed, and a larger n extends a smaller one", () => {
    expect(synth({ task: "mixed", n: 400, seed: 7 })).toEqual(corpus);
    expect(synth({ task: "mixed", n: 50, seed: 7 })).toEqual(corpus.slice(0, 50));
    expect(synth({ task: "mixed", n: 50, seed: 8 })).not.toEqual(corpus.slice(0, 50));
  });

  it("has no duplicate questions", () => {
    expect(new Set(corpus.map((r) => r.question)).size).toBe(corpus.length);
  });

  it("has four families, levels 1-5 and every style with the answer boxed last", () => {
    expect(new Set(corpus.map((r) => r.subject))).toEqual(new Set(FAMILY_TASKS));
    expect(new Set(corpus.map((r) => r.level))).toEqual(new Set([1, 2, 3, 4, 5]));
    for (const r of corpus) {
      expect(Object.keys(r.responses).sort()).toEqual([...STYLES].sort());
      for (const s of STYLES) expect(extractBoxed(r.responses[s]!), `${r.id} ${s}`).toBe(r.answer);
    }
  });

  it("restricts levels when asked", () => {
    const c = synth({ task: "arith", n: 50, seed: 1, levels: [2, 4] });
    expect(new Set(c.map((r) => r.level))).toEqual(new Set([2, 4]));
  });

  it("writes only true equations, except the slips of the long style", () => {
    for (const r of corpus) for (const s of ["short", "large", "small", "long_noslip"]) expect(wrongEquations(r.responses[s]!), `${r.id} ${s}`).toEqual([]);
    const slipped = corpus.filter((r) => r.responses.long!.includes("Wait, that's wrong"));
    expect(slipped.length).toBeGreaterThan(40);
    for (const r of slipped) expect(wrongEquations(r.responses.long!).length).toBeGreaterThan(0);
  });

  it("long_noslip is the long trace without its slip passages", () => {
    for (const r of corpus) {
      expect(r.responses.long_noslip).not.toMatch(/wrong|mismatch/);
      const stripped = r.responses.long!.split("\n").filter((l) => !/mismatch!|Wait, that's wrong/.test(l) && !(wrongEquations(l).length > 0));
      // Every line of long_noslip appears in long, or is the step that a slip got wrong (redone in long).
      const longText = r.responses.long!;
      const longLines = new Set(longText.split("\n"));
      for (const l of r.responses.long_noslip!.split("\n")) if (!longLines.has(l)) expect(longText, r.id).toContain(`Redo: ${l}`);
      expect(stripped.length).toBeLessThanOrEqual(r.responses.long_noslip!.split("\n").length);
    }
  });

  it("digit-sum checks all pass in long_noslip and catch every slip in long", () => {
    for (const r of corpus) {
      expect(r.responses.long_noslip).toContain("Check mod 9");
      expect(r.responses.long_noslip).not.toContain("mismatch!");
      const waits = (r.responses.long!.match(/Wait, that's wrong/g) ?? []).length;
      const mismatches = (r.responses.long!.match(/mismatch!/g) ?? []).length;
      expect(mismatches).toBe(waits);
    }
  });

  it("keeps short traces short and long ones several times longer", () => {
    for (const t of FAMILY_TASKS) {
      const c = corpus.filter((r) => r.subject === t);
      const short = mean(c.map((r) => r.responses.short!.length));
      const long = mean(c.map((r) => r.responses.long!.length));
      expect(short, t).toBeLessThan(150);
      expect(long / short, t).toBeGreaterThan(3);
      expect(mean(c.map((r) => r.responses.large!.length))).toBeGreaterThan(mean(c.map((r) => r.responses.small!.length)) * 1.5);
    }
  });

  it("pad is the short trace, answer included, then one line of content-free filler, exactly as long as long", () => {
    for (const r of corpus) {
      const pad = r.responses.pad!;
      expect(pad.length).toBe(r.responses.long!.length);
      // The answer comes before the filler, so the last \boxed{} is the short trace's.
      expect(pad.startsWith(`${r.responses.short}\n`), r.id).toBe(true);
      expect(pad.slice(r.responses.short!.length + 1), r.id).toMatch(/^\.+$/);
      expect(extractBoxed(pad), r.id).toBe(extractBoxed(r.responses.short!));
    }
  });

  it("implicit=0 makes short traces decompose products; implicit=1 writes them in one go", () => {
    const q = { task: "arith", n: 60, seed: 3, levels: [3, 4] } as const;
    const implicit = synth({ ...q, implicit: 1 });
    const explicit = synth({ ...q, implicit: 0 });
    const eqs = (c: CorpusRecord[]) => mean(c.map((r) => (r.responses.short!.match(/=/g) ?? []).length));
    expect(eqs(implicit)).toBe(1);
    expect(eqs(explicit)).toBeGreaterThanOrEqual(2);
    for (const r of explicit) expect(wrongEquations(r.responses.short!)).toEqual([]);
    // The long trace does not depend on the knob.
    expect(explicit.map((r) => r.responses.long_noslip)).toEqual(implicit.map((r) => r.responses.long_noslip));
  });

  it("checks can be copyable (inverse) or absent", () => {
    const inv = synth({ task: "word", n: 30, seed: 2, checks: "inverse" });
    for (const r of inv) expect(r.responses.long_noslip).toMatch(/Check: \d+ [-+*/] \d+ = \d+, which is \d+\. Good\./);
    const none = synth({ task: "word", n: 30, seed: 2, checks: "none", slipRate: 1 });
    for (const r of none) expect(r.responses.long).not.toMatch(/Check|Wait/);
  });

  it("slipRate 0 gives long == long_noslip; slipRate 1 slips at every step", () => {
    for (const r of synth({ task: "lineq", n: 30, seed: 5, slipRate: 0 })) expect(r.responses.long).toBe(r.responses.long_noslip);
    for (const r of synth({ task: "word", n: 30, seed: 5, slipRate: 1 })) expect(r.responses.long).toContain("Wait, that's wrong");
  });

  it("root questions are guess-and-check in the long style and their answer solves the equation", () => {
    for (const r of synth({ task: "root", n: 40, seed: 9 })) {
      const m = /n\^2 \+ (\d+)n = (\d+)/.exec(r.question)!;
      const n = Number(r.answer);
      expect(n * n + Number(m[1]) * n).toBe(Number(m[2]));
      expect(r.responses.long).toContain(`Try n = ${n}: `);
      expect(r.responses.long).toMatch(new RegExp(`Try n = ${n}: .*exactly ${m[2]}\\.`));
    }
  });

  it("rejects bad options", () => {
    expect(() => synth({ task: "nope" as "arith", n: 1, seed: 0 })).toThrow(/unknown task/);
    expect(() => synth({ task: "arith", n: -1, seed: 0 })).toThrow(/n must be/);
    expect(() => synth({ task: "arith", n: 1, seed: 0, levels: [6] })).toThrow(/levels/);
    expect(() => synth({ task: "arith", n: 1, seed: 0, implicit: 2 })).toThrow(/implicit/);
  });
});
