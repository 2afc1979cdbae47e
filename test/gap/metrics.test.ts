import { describe, expect, it } from "vitest";
import { AVERAGE, formatGapReport, gap, longCotGap, mixGains, ResultSet, type ResultRow } from "../../src/gap/index.js";
import { makeRng } from "../../src/data/rng.js";

const row = (student: string, variant: string, benchmark: string, accuracy: number, extra: Partial<ResultRow> = {}): ResultRow => ({ student, variant, benchmark, accuracy, ...extra });

const handSet = () =>
  new ResultSet([
    row("A", "long", "b1", 40, { params: 1e6, seed: 0 }),
    row("A", "long", "b1", 44, { params: 1e6, seed: 1 }),
    row("A", "long", "b2", 20, { params: 1e6 }),
    row("A", "short", "b1", 50, { params: 1e6 }),
    row("A", "short", "b2", 30, { params: 1e6 }),
    row("B", "long", "b1", 60, { params: 1e5 }),
    row("B", "long", "b2", 40, { params: 1e5 }),
    row("B", "short", "b1", 50, { params: 1e5 }),
    row("B", "short", "b2", 35, { params: 1e5 }),
    row("B", "mix-long", "b1", 55, { params: 1e5 }),
    row("B", "mix-long", "b2", 33, { params: 1e5 }),
  ]);

const pick = (entries: { student: string; benchmark: string; value: number }[], s: string, b: string) => entries.find((e) => e.student === s && e.benchmark === b)!.value;

describe("gap metrics against hand-computed values", () => {
  it("Long CoT Gap per benchmark, seeds averaged, and the unweighted Average", () => {
    const r = longCotGap(handSet(), { replicates: 0 });
    expect(r.entries.map((e) => e.student)).toEqual(["B", "B", "B", "A", "A", "A"]); // ordered by size
    expect(pick(r.entries, "A", "b1")).toBeCloseTo(42 - 50, 12);
    expect(pick(r.entries, "A", "b2")).toBeCloseTo(-10, 12);
    expect(pick(r.entries, "A", AVERAGE)).toBeCloseTo((-8 - 10) / 2, 12);
    expect(pick(r.entries, "B", "b1")).toBeCloseTo(10, 12);
    expect(pick(r.entries, "B", AVERAGE)).toBeCloseTo(7.5, 12);
    const a = r.entries.find((e) => e.student === "A" && e.benchmark === AVERAGE)!;
    expect(a.accuracy).toEqual({ long: 31, short: 40 });
    expect(a.runs).toEqual({ long: 1, short: 1 });
    expect(a.benchmarks).toEqual(["b1", "b2"]);
    expect(r.entries.find((e) => e.student === "A" && e.benchmark === "b1")!.runs).toEqual({ long: 2, short: 1 });
  });

  it("mix gains over each part and over the better part", () => {
    const [overLong, overShort, overBest] = mixGains(handSet(), "mix-long", ["long", "short"], { replicates: 0 });
    expect(overLong.entries.map((e) => e.student)).toEqual(["B", "B", "B"]); // A has no mix
    expect(pick(overLong.entries, "B", "b1")).toBeCloseTo(-5, 12);
    expect(pick(overLong.entries, "B", AVERAGE)).toBeCloseTo(-6, 12);
    expect(pick(overShort.entries, "B", "b2")).toBeCloseTo(-2, 12);
    expect(pick(overShort.entries, "B", AVERAGE)).toBeCloseTo(1.5, 12);
    expect(overBest.formula).toBe("mix-long - max(long, short)");
    expect(pick(overBest.entries, "B", "b1")).toBeCloseTo(-5, 12);
    expect(pick(overBest.entries, "B", "b2")).toBeCloseTo(-7, 12);
    expect(pick(overBest.entries, "B", AVERAGE)).toBeCloseTo(44 - 50, 12);
  });

  it("no interval where nothing can be resampled; a run-to-run spread gives one", () => {
    const rs = new ResultSet([row("A", "long", "b", 30), row("A", "short", "b", 40)]);
    const r = gap(rs, "long", "short");
    expect(r.entries[0].interval).toBeUndefined();
    expect(r.method).toMatch(/point estimates only/);
    const r2 = longCotGap(handSet());
    expect(r2.entries.find((e) => e.student === "A" && e.benchmark === "b1")!.interval).toBeDefined();
  });

  it("pairs runs on the same evaluation examples, which narrows the interval", () => {
    const n = 100;
    const ex = (k: number, prefix = "q") => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, correct: i < k }));
    const paired = new ResultSet([
      row("S", "long", "t", 60, { examples: ex(60) }),
      row("S", "short", "t", 50, { examples: ex(50) }),
    ]);
    const unpaired = new ResultSet([
      row("S", "long", "t", 60, { examples: ex(60, "a") }),
      row("S", "short", "t", 50, { examples: ex(50, "b") }),
    ]);
    const p = gap(paired, "long", "short").entries[0];
    const u = gap(unpaired, "long", "short").entries[0];
    expect(p.value).toBeCloseTo(10, 12);
    expect(u.value).toBeCloseTo(10, 12);
    // Paired: only the 10 examples where they differ vary: sd = 100 * sqrt(0.1 * 0.9 / 100) = 3 points.
    expect(p.interval!.containsZero).toBe(false);
    expect(p.interval!.hi - p.interval!.lo).toBeGreaterThan(2 * 1.96 * 3 * 0.8);
    expect(p.interval!.hi - p.interval!.lo).toBeLessThan(2 * 1.96 * 3 * 1.25);
    // Unpaired: sd = 100 * sqrt(.6*.4/100 + .5*.5/100) = 7 points: contains zero.
    expect(u.interval!.containsZero).toBe(true);
    expect(u.interval!.hi - u.interval!.lo).toBeGreaterThan(2 * 1.96 * 7 * 0.8);
    // Identical outcomes: the paired gap is exactly 0 in every replicate.
    const same = gap(new ResultSet([row("S", "long", "t", 60, { examples: ex(60) }), row("S", "short", "t", 60, { examples: ex(60) })]), "long", "short").entries[0];
    expect(same.interval).toMatchObject({ lo: 0, hi: 0, containsZero: true });
  });

  it("is reproducible for a seed and formats n.s. for intervals containing zero", () => {
    const rs = new ResultSet([row("S", "long", "t", 52, { n: 200 }), row("S", "short", "t", 50, { n: 200 })]);
    const a = gap(rs, "long", "short", { seed: 3 });
    const b = gap(rs, "long", "short", { seed: 3 });
    expect(a.entries[0].interval).toEqual(b.entries[0].interval);
    expect(formatGapReport(a)).toMatch(/S\s+t\s+52\.0\s+50\.0\s+\+2\.0\s+\[-?\d+\.\d, \d+\.\d\]\s+n\.s\./);
  });

  it("never pools runs of one cell trained under different budget rules", () => {
    const rs = new ResultSet([
      row("S", "long", "t", 10, { budget: "epochs=1" }),
      row("S", "long", "t", 30, { budget: "tokens=1000" }),
      row("S", "short", "t", 20, { budget: "epochs=1" }),
      row("S", "short", "t", 20, { budget: "tokens=1000" }),
    ]);
    expect(() => longCotGap(rs)).toThrow(/S \/ long \/ t has runs under different budget rules \(epochs=1, tokens=1000\)/);
    const per = [...rs.byBudget()].map(([b, set]) => [b, longCotGap(set, { replicates: 0 }).entries[0].value]);
    expect(per).toEqual([["epochs=1", -10], ["tokens=1000", 10]]); // the conclusion flips with the rule
    const mixed = new ResultSet([row("S", "long", "t", 10, { budget: "tokens=1000" }), row("S", "short", "t", 20, { budget: "epochs=1" })]);
    const r = longCotGap(mixed);
    expect(r.budgets).toEqual(["tokens=1000", "epochs=1"]);
    expect(formatGapReport(r)).toContain("WARNING: different budget rules are being compared");
  });

  it("rejects bad rows and options with the field named", () => {
    expect(() => new ResultSet([row("S", "long", "t", 120)])).toThrow(/accuracy: expected a percentage/);
    expect(() => new ResultSet([row("S", "long", "t", 50, { n: 0 })])).toThrow(/n: expected a positive integer/);
    expect(() => new ResultSet([row("S", "long", "t", 50, { examples: [{ id: "a", correct: false }] })])).toThrow(/disagrees with the examples/);
    expect(() => gap(handSet(), "long", "long")).toThrow(/must differ/);
    expect(() => gap(handSet(), "long", "short", { level: 95 })).toThrow(/level/);
  });
});

/** Simulates accuracies of two variants; returns the coverage of the true Average gap. */
function coverage(opts: { sims: number; level: number; n: number; seeds: number; seedSd: number; seed: number }): number {
  const rand = makeRng(opts.seed).next;
  const truth: Record<string, Record<string, number>> = { long: { b1: 0.55, b2: 0.3 }, short: { b1: 0.45, b2: 0.32 } };
  const trueGap = 100 * ((0.55 - 0.45 + (0.3 - 0.32)) / 2);
  let covered = 0;
  for (let s = 0; s < opts.sims; s++) {
    const rows: ResultRow[] = [];
    for (const v of ["long", "short"])
      for (const b of ["b1", "b2"])
        for (let k = 0; k < opts.seeds; k++) {
          // Seed effect: Gaussian shift of the run's true accuracy (Box-Muller).
          const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
          const p = Math.min(0.99, Math.max(0.01, truth[v][b] + opts.seedSd * z));
          const examples = Array.from({ length: opts.n }, (_, i) => ({ id: `${b}-${i}`, correct: rand() < p }));
          const acc = (100 * examples.filter((e) => e.correct).length) / opts.n;
          rows.push(row("S", v, b, acc, { seed: k, examples }));
        }
    const e = gap(new ResultSet(rows), "long", "short", { replicates: 400, level: opts.level, seed: s }).entries.find((x) => x.benchmark === AVERAGE)!;
    if (e.interval!.lo <= trueGap && trueGap <= e.interval!.hi) covered++;
  }
  return covered / opts.sims;
}

describe("bootstrap coverage on simulated data", () => {
  it("95% intervals over evaluation examples cover the true gap about 95% of the time", () => {
    const c = coverage({ sims: 200, level: 0.95, n: 200, seeds: 1, seedSd: 0, seed: 11 });
    expect(c).toBeGreaterThanOrEqual(0.9);
    expect(c).toBeLessThanOrEqual(0.99);
  });

  it("80% intervals cover about 80% of the time", () => {
    const c = coverage({ sims: 200, level: 0.8, n: 200, seeds: 1, seedSd: 0, seed: 12 });
    expect(c).toBeGreaterThanOrEqual(0.72);
    expect(c).toBeLessThanOrEqual(0.88);
  });

  it("with seed-to-seed variation, resampling seeds and examples covers at least the stated rate (conservatively)", () => {
    // Examples are resampled inside runs whose spread already contains example noise: the interval
    // errs wide (simulated: 0.98-0.997 for 95%), never narrow.
    const c = coverage({ sims: 150, level: 0.95, n: 100, seeds: 4, seedSd: 0.05, seed: 13 });
    expect(c).toBeGreaterThanOrEqual(0.93);
  });
});
