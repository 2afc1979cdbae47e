/**
 * Weight arithmetic for the mixer's sliders: one slider per source, weights always summing to 1.
 * Pure functions, shared by the widget and its tests.
 */

/** Decimal places kept for a weight; the slider's step is 10^-WEIGHT_DECIMALS. */
export const WEIGHT_DECIMALS = 2;
const SCALE = 10 ** WEIGHT_DECIMALS;

/**
 * Sets weight `index` to `value` and rescales the others so that the total stays 1, keeping the
 * others' proportions (split equally when they were all zero). Results are multiples of the slider step.
 */
export function rebalance(weights: readonly number[], index: number, value: number): number[] {
  const n = weights.length;
  if (n < 2) throw new Error(`rebalance: expected at least two weights, got ${n}`);
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new Error(`rebalance: index ${index} out of range`);
  // Work in integer steps so the sum is exactly SCALE.
  const v = Math.round(Math.min(1, Math.max(0, value)) * SCALE);
  const rest = SCALE - v;
  const others = weights.map((w, i) => (i === index ? 0 : Math.max(0, w)));
  const otherSum = others.reduce((a, b) => a + b, 0);
  const share = others.map((w, i) => (i === index ? 0 : otherSum > 0 ? (w / otherSum) * rest : rest / (n - 1)));
  // Largest-remainder rounding keeps the total exact.
  const floors = share.map(Math.floor);
  let missing = rest - floors.reduce((a, b) => a + b, 0);
  const order = share
    .map((s, i) => ({ i, frac: s - Math.floor(s) }))
    .filter(({ i }) => i !== index)
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (missing <= 0) break;
    floors[i] += 1;
    missing -= 1;
  }
  floors[index] = v;
  return floors.map((s) => s / SCALE);
}

/** Formats a weight as a percentage for labels ("20%"). */
export function formatPercent(w: number): string {
  return `${Math.round(w * 1000) / 10}%`;
}

/** Formats a ratio the way the paper writes it (weights 0.2/0.8 -> "1:4"); falls back to percentages. */
export function formatRatio(weights: readonly number[]): string {
  const ints = weights.map((w) => Math.round(w * SCALE));
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = ints.reduce((a, b) => gcd(a, b), 0);
  if (g === 0) return weights.map(formatPercent).join(" : ");
  return ints.map((x) => x / g).join(":");
}
