import { describe, expect, it } from "vitest";
import { hasReasoning, joinReasoning, splitReasoning } from "../../src/data/reasoning.js";

describe("<think> reasoning traces", () => {
  it("splits Qwen3/QwQ style and R1 style (no opening tag) responses", () => {
    expect(splitReasoning("<think>\nLet me add 2 and 2.\n</think>\n\nThe answer is \\boxed{4}.")).toEqual({ reasoning: "Let me add 2 and 2.", answer: "The answer is \\boxed{4}." });
    expect(splitReasoning("Okay, so 2+2... wait, 4.\n</think>\n\\boxed{4}")).toEqual({ reasoning: "Okay, so 2+2... wait, 4.", answer: "\\boxed{4}" });
    expect(splitReasoning("  plain answer \\boxed{4} ")).toEqual({ answer: "plain answer \\boxed{4}" });
    expect(splitReasoning("<think></think>\\boxed{4}")).toEqual({ reasoning: "", answer: "\\boxed{4}" });
    expect(hasReasoning("<think>a</think>b")).toBe(true);
    expect(hasReasoning("no block")).toBe(false);
  });

  it("rejects malformed blocks with a reason", () => {
    expect(() => splitReasoning("<think>never closed")).toThrow(/never closed/);
    expect(() => splitReasoning("<think>a</think>b<think>c</think>d")).toThrow(/more than one/);
    expect(() => splitReasoning("intro <think>a</think>b")).toThrow(/text before <think>/);
    expect(() => splitReasoning("a</think>b</think>")).toThrow(/more than one/);
  });

  it("joins into the canonical form and round-trips", () => {
    const s = joinReasoning({ reasoning: "R", answer: "A" });
    expect(s).toBe("<think>\nR\n</think>\n\nA");
    expect(splitReasoning(s)).toEqual({ reasoning: "R", answer: "A" });
    expect(joinReasoning({ answer: "A" })).toBe("A");
  });
});
