/**
 * The one seeded PRNG of the project (sfc32 seeded through splitmix32): corpora, mixes, bootstrap
 * intervals, weight initialisation, epoch order and sampling. Same seed, same stream on every
 * platform; labels give independent streams per purpose (task, question index, "init", ...).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(xs: T[]): T[];
  chance(p: number): boolean;
  /** A standard normal draw (Box-Muller). */
  normal(): number;
}

/** A standard normal draw (Box-Muller) from uniform draws in [0, 1). */
export function standardNormal(rand: () => number): number {
  let u = rand();
  while (u <= 1e-12) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over the seed and labels: a 32-bit seed for a derived stream. */
export function deriveSeed(seed: number, ...labels: Array<string | number>): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  const hi = Math.floor(seed / 2 ** 32);
  h = Math.imul(h ^ (hi >>> 0), 0x01000193);
  for (const l of labels) {
    const s = String(l);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
  }
  return h >>> 0;
}

export function makeRng(seed: number, ...labels: Array<string | number>): Rng {
  const sm = splitmix32(labels.length ? deriveSeed(seed, ...labels) : seed >>> 0 ^ Math.floor(seed / 2 ** 32));
  let a = sm(), b = sm(), c = sm(), d = sm();
  const u32 = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = (): number => u32() / 4294967296;
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    range: (lo, hi) => lo + int(hi - lo + 1),
    pick: (xs) => {
      if (xs.length === 0) throw new Error("pick from an empty list");
      return xs[int(xs.length)]!;
    },
    shuffle: (xs) => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = int(i + 1);
        const t = xs[i]!;
        xs[i] = xs[j]!;
        xs[j] = t;
      }
      return xs;
    },
    chance: (p) => next() < p,
    normal: () => standardNormal(next),
  };
}
