import { describe, expect, it } from "vitest";
import { answerNumber, answersMatch, lastBoxed, normalizeAnswer } from "../../src/eval/extract.js";

describe("lastBoxed", () => {
  it.each([
    ["so \\boxed{3} then \\boxed{42}.", "42"],
    ["\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"],
    ["nested \\boxed{x^{2}+1} end", "x^{2}+1"],
    ["\\boxed {7}", "7"],
    ["\\fbox{9}", "9"],
    ["\\boxed 5.", "5"],
    ["unfinished \\boxed{12", null],
    ["\\boxed{4} and unfinished \\boxed{12", "4"],
    ["no answer", null],
  ])("%s -> %s", (text, want) => expect(lastBoxed(text)).toBe(want));
});

describe("normalizeAnswer", () => {
  it.each([
    [" 12 ", "12"],
    ["\\dfrac{1}{2}", "\\frac{1}{2}"],
    ["\\tfrac12", "\\frac{1}{2}"],
    ["5.0", "5"],
    ["2.50", "2.5"],
    ["1,000", "1000"],
    ["12 \\text{ cm}", "12"],
    ["12\\,\\text{cm}^2", "12"],
    ["30^\\circ", "30"],
    ["50\\%", "50"],
    ["\\$5", "5"],
    ["x = 3", "3"],
    ["\\left( 1, 2 \\right)", "(1,2)"],
    ["7 dollars", "7"],
    ["$-4$", "-4"],
    ["\\text{yes}", "yes"],
  ])("%s -> %s", (raw, want) => expect(normalizeAnswer(raw)).toBe(want));
});

describe("answersMatch", () => {
  it("compares numerically when both sides are numbers", () => {
    expect(answersMatch("0.5", "\\frac{1}{2}")).toBe(true);
    expect(answersMatch("1/2", "\\dfrac12")).toBe(true);
    expect(answersMatch("-\\frac{3}{4}", "-0.75")).toBe(true);
    expect(answersMatch("10.0", "10")).toBe(true);
    expect(answersMatch("10.1", "10")).toBe(false);
    expect(answersMatch("1,000", "1000")).toBe(true);
  });
  it("falls back to normalised strings", () => {
    expect(answersMatch("(1, 2)", "(1,2)")).toBe(true);
    expect(answersMatch("\\sqrt2", "\\sqrt{2}")).toBe(true);
    expect(answersMatch("x^2", "x^3")).toBe(false);
    expect(answersMatch(null, "1")).toBe(false);
  });
  it("parses numbers only when the whole answer is one", () => {
    expect(answerNumber("3.25")).toBe(3.25);
    expect(answerNumber("\\frac{1}{0}")).toBeNull();
    expect(answerNumber("3x")).toBeNull();
  });
});
