/** The mixer sliders' weight arithmetic (extension/src/weights.ts): totals stay exactly 1. */
import { describe, expect, it } from "vitest";
import { formatPercent, formatRatio, rebalance } from "../../extension/src/weights.js";

const sum = (w: number[]): number => Math.round(w.reduce((a, b) => a + b, 0) * 100);

describe("slider weights", () => {
  it("moves the other weight of two to keep the total at 1", () => {
    expect(rebalance([0.2, 0.8], 0, 0.3)).toEqual([0.3, 0.7]);
    expect(rebalance([0.2, 0.8], 1, 0.55)).toEqual([0.45, 0.55]);
    expect(rebalance([0.5, 0.5], 0, 1)).toEqual([1, 0]);
  });

  it("keeps the proportions of the other weights, or splits equally when they were all zero", () => {
    expect(rebalance([0.2, 0.2, 0.6], 0, 0.6)).toEqual([0.6, 0.1, 0.3]);
    expect(rebalance([1, 0, 0], 0, 0.4)).toEqual([0.4, 0.3, 0.3]);
  });

  it("rounds to the slider step with the total exact, and clamps", () => {
    for (const [w, i, v] of [[[0.33, 0.33, 0.34], 1, 0.17], [[0.1, 0.2, 0.3, 0.4], 3, 0.01], [[0.5, 0.5], 0, 1.7], [[0.5, 0.5], 1, -3]] as const) {
      const out = rebalance(w, i, v);
      expect(sum(out)).toBe(100);
      for (const x of out) expect(Math.round(x * 100)).toBeCloseTo(x * 100, 9);
    }
    expect(rebalance([0.5, 0.5], 0, 1.7)).toEqual([1, 0]);
  });

  it("refuses a bad index or fewer than two weights", () => {
    expect(() => rebalance([1], 0, 0.5)).toThrow(/two/);
    expect(() => rebalance([0.5, 0.5], 2, 0.5)).toThrow(/range/);
  });

  it("formats ratios the way the paper writes them", () => {
    expect(formatRatio([0.2, 0.8])).toBe("1:4");
    expect(formatRatio([0.5, 0.5])).toBe("1:1");
    expect(formatRatio([1, 0])).toBe("1:0");
    expect(formatPercent(0.2)).toBe("20%");
  });
});
