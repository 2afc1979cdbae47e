/** Draws for reproducible bootstrap intervals (the generator is data/rng.ts's makeRng: same seed, same interval). */

/** A standard normal draw (Box-Muller). */
import { standardNormal } from "../data/rng.js";
export const normal = standardNormal;

/**
 * Number of successes in n draws with success probability p: exact for n <= 1000,
 * a rounded normal approximation beyond (its error is far below the interval widths there).
 */
export function binomial(n: number, p: number, rand: () => number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  if (n <= 1000) {
    let k = 0;
    for (let i = 0; i < n; i++) if (rand() < p) k++;
    return k;
  }
  const k = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * normal(rand));
  return Math.min(n, Math.max(0, k));
}

/** The q-quantile (0..1) of a sample, linear interpolation between order statistics. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
