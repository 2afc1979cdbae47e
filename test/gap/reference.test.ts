import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AVERAGE, largeModelCotGap, longCotGap, mixGains, paperResults, paperTables, referenceChecks, formatReferenceChecks } from "../../src/gap/index.js";

const { TABLE1, TABLE2, TABLE3, BENCHMARKS } = paperTables;
// The research notes the tables were derived from (outside the repository; the check is skipped without them).
const notes = [process.env.MIXDISTILL_PAPER_TABLES, join(__dirname, "..", "..", "..", "shared", "reference", "paper_tables.json")].find((p) => p && existsSync(p));

describe.skipIf(!notes)("derivation of src/gap/reference/tables.ts", () => {
  const src = notes ? JSON.parse(readFileSync(notes, "utf8")) : {};
  it("Tables 1-2: every accuracy, gap and verdict as in paper_tables.json", () => {
    for (const [t, key, plus, minus, delta] of [
      [TABLE1, "table1_long_vs_short_cot_average", "P_Long", "P_Short", "Delta_Long"],
      [TABLE2, "table2_large_vs_small_teacher_average", "P_Large", "P_Small", "Delta_Large"],
    ] as const) {
      const rows = src[key].rows;
      expect(t.rows.map((r) => r.student)).toEqual(rows.map((r: { student: string }) => r.student));
      t.rows.forEach((r, i) => {
        expect([r.plus, r.minus, r.reportedGap, r.better]).toEqual([rows[i][plus], rows[i][minus], rows[i][delta], rows[i].Better]);
      });
      expect(t.source).toBe(src[key].source);
    }
  });
  it("Table 3: every cell and reported average as in paper_tables.json", () => {
    const rows = src.table3_mix_distillation.rows;
    expect(TABLE3.rows).toHaveLength(rows.length);
    TABLE3.rows.forEach((r, i) => {
      expect([r.student, r.method, r.reportedAverage]).toEqual([rows[i].student, rows[i].method, rows[i].Average_reported]);
      for (const b of BENCHMARKS) expect(r.scores[b]).toBe(rows[i][b]);
    });
  });
});

describe("the paper's tables recomputed", () => {
  const checks = referenceChecks();

  it("reproduces every reported gap of Tables 1-2 within rounding, and lists the rounding differences", () => {
    const gaps = checks.filter((c) => c.quantity.startsWith("Delta"));
    expect(gaps).toHaveLength(20);
    expect(gaps.every((c) => c.status === "exact" || c.status === "rounding")).toBe(true);
    expect(gaps.every((c) => Math.abs(c.difference!) <= 0.1 + 1e-9)).toBe(true);
    const rounding = gaps.filter((c) => c.status === "rounding").map((c) => `${c.table} ${c.student} ${c.reported} ${c.recomputed}`);
    expect(rounding).toEqual([
      "Table 1 Qwen2.5-1.5B-Instruct -7.1 -7.2",
      "Table 1 Llama-3.3-70B-Instruct 3.8 3.9",
      "Table 2 Llama-3.2-1B-Instruct -1.9 -2",
    ]);
  });

  it("flags the known Table 3 typo and the mislabelled Table 2 rows instead of hiding them", () => {
    const bad = checks.filter((c) => c.status === "inconsistent");
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ table: "Table 3", student: "Llama-3.2-3B-Instruct", quantity: "Average of small", reported: 31.2, recomputed: 31.84 });
    expect(bad[0].note).toMatch(/known typo/);
    const labels = checks.filter((c) => c.status === "label").map((c) => c.reported);
    expect(labels).toEqual(["Llama-3.2-8B [sic]", "Llama-3.2-70B [sic]"]);
    // Table 3 and Tables 1-2 agree wherever they report the same average.
    expect(checks.filter((c) => c.table.includes("vs Table 3")).every((c) => c.status === "exact")).toBe(true);
    expect(formatReferenceChecks(checks).split("\n")[0]).toBe("Paper Tables 1-3 recomputed: 37 exact, 4 within rounding, 1 inconsistent, 2 mislabelled");
  });

  it("loads through the same result API as the user's results", () => {
    const t1 = longCotGap(paperResults({ tables: [1] }));
    expect(t1.entries).toHaveLength(10);
    for (const r of TABLE1.rows) {
      const e = t1.entries.find((x) => x.student === r.student)!;
      expect(e.benchmark).toBe(AVERAGE);
      expect(Math.abs(e.value - r.reportedGap)).toBeLessThanOrEqual(0.1 + 1e-9);
      expect(e.interval).toBeUndefined(); // reported averages only: nothing to resample
    }
    // ordered by size: Qwen 0.5B first, Llama 70B last
    expect(t1.entries[0].student).toBe("Qwen2.5-0.5B-Instruct");
    expect(t1.entries.at(-1)!.student).toBe("Llama-3.3-70B-Instruct");

    // Table 3 per benchmark: the 3B students' gaps follow from the benchmark rows.
    const t3 = paperResults({ tables: [3] });
    const large = largeModelCotGap(t3, { replicates: 0 });
    const llama = large.entries.find((e) => e.student === "Llama-3.2-3B-Instruct" && e.benchmark === AVERAGE)!;
    expect(llama.value).toBeCloseTo(32.76 - 31.84, 9); // as printed: disagrees with Table 2's 1.6
    const fixed = largeModelCotGap(paperResults({ tables: [3], fixKnownTypo: true }), { replicates: 0 });
    expect(fixed.entries.find((e) => e.student === "Llama-3.2-3B-Instruct" && e.benchmark === AVERAGE)!.value).toBeCloseTo(32.76 - (31.84 - 3.3 / 5), 9); // 1.58: Table 2 prints 1.6;
    const [, overShort] = mixGains(t3, "mix-long", ["long", "short"], { replicates: 0 });
    expect(overShort.entries.find((e) => e.student === "Qwen2.5-3B-Instruct" && e.benchmark === AVERAGE)!.value).toBeCloseTo(45.94 - 43.38, 9);
  });

  it("gives intervals over evaluation examples when the benchmark sizes are attached", () => {
    const r = longCotGap(paperResults({ tables: [3], withExampleCounts: true }), { replicates: 500 });
    const aime = r.entries.find((e) => e.student === "Qwen2.5-3B-Instruct" && e.benchmark === "AIME")!;
    expect(aime.value).toBeCloseTo(-6.7, 9);
    expect(aime.interval!.containsZero).toBe(true); // 2 of 30 problems
    const avg = r.entries.find((e) => e.student === "Qwen2.5-3B-Instruct" && e.benchmark === AVERAGE)!;
    expect(avg.value).toBeCloseTo(-3.1, 9);
  });
});

describe("recomputed gaps beside the reported ones", () => {
  it("Table 1 and 2 reports carry the printed gap and flag rounding differences", async () => {
    const { paperGaps, formatGapReport } = await import("../../src/gap/index.js");
    const t1 = paperGaps(1);
    const q15 = t1.entries.find((e) => e.student === "Qwen2.5-1.5B-Instruct")!;
    expect(q15.value).toBeCloseTo(-7.2, 9);
    expect(q15.reported).toMatchObject({ value: -7.1, status: "rounding", source: "paper Table 1" });
    expect(t1.entries.filter((e) => e.reported!.status === "rounding").map((e) => e.student)).toEqual(["Qwen2.5-1.5B-Instruct", "Llama-3.3-70B-Instruct"]);
    expect(t1.entries.every((e) => e.reported!.status !== "inconsistent")).toBe(true);
    const text = formatGapReport(t1);
    expect(text).toMatch(/Qwen2\.5-1\.5B-Instruct\s+1\.5B\s+Average\s+27\.0\s+34\.2\s+-7\.2\s+-7\.1\s+rounding/);
    const t2 = paperGaps(2);
    expect(t2.entries.find((e) => e.student === "Llama-3.1-8B-Instruct")!.reported!.source).toBe("paper Table 2 (printed as Llama-3.2-8B [sic])");
    // displayable in a notebook: text and an HTML table
    const bundle = (t2 as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]();
    expect(bundle["text/plain"]).toBe(formatGapReport(t2));
    expect(bundle["text/html"]).toContain("<table>");
    expect(bundle["text/html"]).toContain("(rounding)");
    expect(Object.keys(t2)).not.toContain(Symbol.for("Jupyter.display").toString());
  });
});
