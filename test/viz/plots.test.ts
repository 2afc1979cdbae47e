import { beforeEach, describe, expect, it } from "vitest";
import { parsePlotBundle, PLOT_MIME, PLOTLY_MIME } from "../../src/contract/index.js";
import { largeModelCotGap, longCotGap, mixGains, paperGaps, paperResults, ResultSet, type ResultRow } from "../../src/gap/index.js";
import { budgetWords } from "../../src/viz/plots.js";
import { benchmarkGapPlot, configurePlots, gapPlot, lengthHistogramPlot, mixWeightPlot, mixWeightSeries, plotlyInit, resetPlotlyInclusion, type Plot } from "../../src/viz/index.js";

const display = (p: { [k: symbol]: unknown }) => (p[Symbol.for("Jupyter.display")] as () => Record<string, unknown>)();
const PLOTLY_MARK = "window.Plotly = Plotly";

function checkBundle(b: Record<string, unknown>) {
  expect(Object.keys(b).sort()).toEqual([PLOT_MIME, PLOTLY_MIME, "text/html", "text/plain"].sort());
  expect(parsePlotBundle(b[PLOT_MIME]).ok).toBe(true);
  expect(parsePlotBundle(b[PLOTLY_MIME]).ok).toBe(true);
  // plain JSON: survives a notebook round trip unchanged
  expect(JSON.parse(JSON.stringify(b[PLOTLY_MIME]))).toEqual(b[PLOTLY_MIME]);
  return b as { "text/html": string; "text/plain": string; [PLOTLY_MIME]: { data: Array<Record<string, unknown>>; layout: Record<string, unknown> } };
}

beforeEach(() => {
  resetPlotlyInclusion();
  configurePlots({ plotlyJs: "once" });
});

describe("plot bundles", () => {
  it("Figure 1: gap per student ordered by size, coloured by sign, intervals and n.s. marked", () => {
    const rs = paperResults({ tables: [3], withExampleCounts: true });
    const rep = longCotGap(paperResults({ tables: [1] }));
    const b = checkBundle(display(gapPlot(rep)));
    const tr = b[PLOTLY_MIME].data[0] as { x: string[]; y: number[]; marker: { color: string[] } };
    expect(tr.x[0]).toBe("Qwen2.5-0.5B-Instruct (500M)");
    expect(tr.x.at(-1)).toBe("Llama-3.3-70B-Instruct (70B)");
    expect(tr.y[0]).toBeCloseTo(-4.7, 9);
    expect(tr.marker.color[0]).toBe("#d62728"); // negative: red
    expect(tr.marker.color.at(-1)).toBe("#2ca02c"); // positive: green
    // text/plain has the numbers
    expect(b["text/plain"]).toMatch(/Qwen2\.5-32B-Instruct\s+32B\s+Average\s+73\.0\s+59\.3\s+\+13\.7/);
    // the paper's printed gaps as markers beside the recomputed bars
    const withReported = checkBundle(display(gapPlot(paperGaps(1))));
    expect(withReported[PLOTLY_MIME].data[1]).toMatchObject({ type: "scatter", name: "reported (published value)" });
    expect((withReported[PLOTLY_MIME].data[1] as { y: number[] }).y[2]).toBe(-7.1);
    // with intervals: error bars and n.s. hatching
    const withCi = checkBundle(display(gapPlot(longCotGap(rs, { replicates: 300 }))));
    const t2 = withCi[PLOTLY_MIME].data[0] as { error_y: { array: number[] }; marker: { pattern: { shape: string[] } }; text: string[] };
    expect(t2.error_y.array).toHaveLength(2);
    expect(t2.marker.pattern.shape).toEqual(["/", "/"]);
    expect(t2.text.every((t) => t.endsWith("(n.s.)"))).toBe(true);
    expect(withCi["text/plain"]).toContain("n.s.");
  });

  it("Figure 1 with two panels: one x label per student although its parameter count differs between them, one subtitle line", () => {
    const row = (student: string, params: number, variant: string, accuracy: number, budget: string): ResultRow => ({ student, params, variant, benchmark: "chain", accuracy, seed: 0, budget });
    const longAxis = new ResultSet([row("nano", 51770, "long", 1, "tokens=1207408"), row("nano", 51770, "short", 50, "tokens=1207408"), row("micro", 202618, "long", 0, "tokens=1207408"), row("micro", 202618, "short", 50, "tokens=1207408")]);
    const largeAxis = new ResultSet([row("nano", 34671, "large", 8, "tokens=1173488"), row("nano", 34671, "small", 6, "tokens=1173488"), row("micro", 168431, "large", 26, "tokens=1173488"), row("micro", 168431, "small", 10, "tokens=1173488")]);
    const b = checkBundle(display(gapPlot([longCotGap(longAxis), largeModelCotGap(largeAxis)], { benchmark: "chain" })));
    const bars = b[PLOTLY_MIME].data.filter((t) => (t as { type: string; x: unknown[] }).type === "bar" && (t as { x: unknown[] }).x[0] !== null) as Array<{ x: string[] }>;
    expect(bars).toHaveLength(2);
    expect(bars[0]!.x).toEqual(["nano (34.7K-51.8K)", "micro (168K-203K)"]);
    expect(bars[1]!.x).toEqual(bars[0]!.x);
    const title = (b[PLOTLY_MIME].layout as { title: { text: string } }).title.text;
    expect(title).toContain("budget: 1.21M / 1.17M training tokens per run (equal tokens, by panel)");
    expect(title).not.toContain(" / budget");
  });

  it("Figure 1: hover names the student, both accuracies, the gap and its interval; the legend explains colour, hatching and markers; the budget in words", () => {
    const rs = paperResults({ tables: [3], withExampleCounts: true });
    const b = checkBundle(display(gapPlot(longCotGap(rs, { replicates: 300 }))));
    const bars = b[PLOTLY_MIME].data[0] as { hovertext: string[]; hovertemplate: string };
    expect(bars.hovertemplate).toBe("%{hovertext}<extra></extra>");
    const h = bars.hovertext[0]!;
    expect(h).toMatch(/<b>[^<]+3B[^<]*<\/b>/);
    expect(h).toMatch(/long: \d+\.\d%/);
    expect(h).toMatch(/short: \d+\.\d%/);
    expect(h).toMatch(/Long CoT Gap \(long - short\): [+\u2212]?\d+\.\d points/);
    expect(h).toMatch(/95% interval: \[[+\u2212]?\d+\.\d, [+\u2212]?\d+\.\d\] n\.s\./);
    const legend = b[PLOTLY_MIME].data.filter((t) => t.showlegend !== false).map((t) => t.name);
    expect(legend).toEqual(expect.arrayContaining(["gap > 0", "gap < 0", "hatched: n.s. (interval contains 0)"]));
    const withReported = checkBundle(display(gapPlot(paperGaps(1))));
    expect(withReported[PLOTLY_MIME].data.filter((t) => t.showlegend !== false).map((t) => t.name)).toContain("reported (published value)");
    expect(withReported[PLOTLY_MIME].layout.showlegend).toBe(true);
    const title = (withReported[PLOTLY_MIME].layout.title as { text: string }).text;
    expect(title).toContain("budget: 2 training epochs per run (equal epochs)");
    expect(title).not.toContain("epochs=2");
    expect(budgetWords("tokens=5M")).toBe("5M training tokens per run (equal tokens)");
    expect(budgetWords("tokens=1207408")).toBe("1.21M training tokens per run (equal tokens)");
    expect(budgetWords("steps=1000")).toBe("1000 training steps per run (equal steps)");
    expect(budgetWords("custom_rule")).toBe("custom rule");
  });

  it("Figure 1 with both gaps: one panel per report, sharing the student axis", () => {
    const both = gapPlot([paperGaps(1), paperGaps(2)]);
    const b = checkBundle(display(both));
    const axes = b[PLOTLY_MIME].data.filter((t) => t.hoverinfo !== "skip").map((t) => t.yaxis ?? "y");
    expect(axes).toEqual(["y", "y", "y2", "y2"]); // bars + reported markers per panel
    expect(b[PLOTLY_MIME].layout.yaxis2).toMatchObject({ anchor: "x2" });
    expect(b[PLOTLY_MIME].layout.xaxis2).toMatchObject({ anchor: "y2", matches: "x" });
    expect(b["text/plain"]).toContain("Long CoT Gap, paper Table 1");
    expect(b["text/plain"]).toContain("Large Model CoT Gap, paper Table 2");
    expect(() => gapPlot([])).toThrow(/at least one report/);
  });

  it("Figures 2-3: grouped bars, one trace per benchmark plus the Average", () => {
    const rep = longCotGap(paperResults({ tables: [3] }), { replicates: 0 });
    const b = checkBundle(display(benchmarkGapPlot(rep)));
    const names = b[PLOTLY_MIME].data.map((t) => t.name);
    expect(names).toEqual(["MATH", "AMC", "GSM8K", "OlympiadBench", "AIME", "Average"]);
    expect(b[PLOTLY_MIME].layout.barmode).toBe("group");
    const aime = b[PLOTLY_MIME].data[4] as { x: string[]; y: number[] };
    expect(aime.y[aime.x.indexOf("Qwen2.5-3B-Instruct (3B)")]).toBeCloseTo(-6.7, 9);
    expect(b["text/plain"]).toMatch(/Qwen2\.5-3B-Instruct\s+3B\s+AIME\s+3\.3\s+10\.0\s+-6\.7/);
  });

  it("Figure 6: accuracy against mix weight from results", () => {
    const rows: ResultRow[] = [];
    const acc: Record<string, number> = { short: 43.4, "mix-0.2": 45.9, "mix-0.5": 44, long: 40.3 };
    for (const [v, a] of Object.entries(acc)) rows.push({ student: "S", variant: v, benchmark: "Average", accuracy: a });
    const s = mixWeightSeries(new ResultSet(rows), "S", "Mix-Long", { short: 0, "mix-0.2": 0.2, "mix-0.5": 0.5, long: 1 });
    expect(s.points.map((p) => [p.weight, p.accuracy])).toEqual([[0, 43.4], [0.2, 45.9], [0.5, 44], [1, 40.3]]);
    const b = checkBundle(display(mixWeightPlot([s], { student: "S" })));
    expect(b[PLOTLY_MIME].data[0]).toMatchObject({ type: "scatter", x: [0, 0.2, 0.5, 1], y: [43.4, 45.9, 44, 40.3] });
    expect(b["text/plain"]).toContain("weight 0.20  accuracy 45.9");
    expect(() => mixWeightSeries(new ResultSet(rows), "T", "x", { short: 0 })).toThrow(/no results of T/);
  });

  it("length distributions: shared bins per source, summary numbers, small JSON", () => {
    const lengths = { long: Array.from({ length: 500 }, (_, i) => 300 + (i % 97) * 7), short: Array.from({ length: 500 }, (_, i) => 40 + (i % 31)) };
    const b = checkBundle(display(lengthHistogramPlot(lengths, { bins: 25 })));
    const [l, s] = b[PLOTLY_MIME].data as Array<{ x: number[]; y: number[] }>;
    expect(l.x).toEqual(s.x);
    expect(l.y.reduce((a, c) => a + c, 0)).toBe(500);
    expect(s.y.reduce((a, c) => a + c, 0)).toBe(500);
    expect(b["text/plain"]).toMatch(/short\s+500 responses\s+mean 54\.9/);
    expect(JSON.stringify(b[PLOTLY_MIME]).length).toBeLessThan(3000);
    expect(() => lengthHistogramPlot({ a: [] })).toThrow(/a: expected a non-empty array/);
  });

  it("carries plotly.js once per process; later plots only reference it; plotlyInit() re-ships it", () => {
    const rep = longCotGap(paperResults({ tables: [1] }));
    const first = display(gapPlot(rep))["text/html"] as string;
    const second = display(gapPlot(rep))["text/html"] as string;
    expect(first).toContain(PLOTLY_MARK);
    expect(first).toContain("if (!window.Plotly)");
    expect(first.length).toBeGreaterThan(1_000_000);
    expect(second).not.toContain(PLOTLY_MARK);
    expect(second.length).toBeLessThan(10_000);
    expect(second).toContain("window.Plotly.newPlot");
    expect(second).toContain("plotlyInit()"); // the message shown where plotly.js is missing
    expect(second).not.toMatch(/<\/script>[^]*<\/script>[^]*<\/script>/); // one script element
    const init = display(plotlyInit());
    expect(init["text/html"]).toContain(PLOTLY_MARK);
    expect(init["text/plain"]).toMatch(/^plotly\.js \d+\.\d+\.\d+ loaded/);
    configurePlots({ plotlyJs: "none" });
    resetPlotlyInclusion();
    expect(display(gapPlot(rep))["text/html"]).not.toContain(PLOTLY_MARK);
    expect(() => configurePlots({ plotlyJs: "sometimes" as "once" })).toThrow(/plotlyJs/);
  });

  it("escapes text so labels cannot break out of the HTML", () => {
    const rs = new ResultSet([
      { student: "<script>x</script>", variant: "long", benchmark: "b", accuracy: 10 },
      { student: "<script>x</script>", variant: "short", benchmark: "b", accuracy: 20 },
    ]);
    configurePlots({ plotlyJs: "none" });
    const html = display(gapPlot(longCotGap(rs)) as Plot)["text/html"] as string;
    expect(html).not.toContain("<script>x");
    expect(html).toContain("&lt;script&gt;x");
    expect(html).toContain("\\u003cscript>x");
  });
});

describe("corpus length plot", () => {
  it("counts every response of each source in tokenizer tokens", async () => {
    const { synth } = await import("../../src/data/index.js");
    const { corpusLengthPlot } = await import("../../src/viz/index.js");
    const { charTokenizer } = await import("../../src/tokenize/index.js");
    const corpus = synth({ task: "arith", n: 40, seed: 1, levels: [1] });
    const p = corpusLengthPlot(corpus, { tokenizer: charTokenizer, sources: ["long", "short"] });
    const fig = p[Symbol.for("Jupyter.display")]()[PLOTLY_MIME] as { data: Array<{ name: string; y: number[] }> };
    expect(fig.data.map((t) => t.name)).toEqual(["long", "short"]);
    expect(fig.data.every((t) => t.y.reduce((a, b) => a + b, 0) === 40)).toBe(true);
    const meanShort = corpus.reduce((a, r) => a + r.responses.short.length, 0) / 40;
    expect(p.text).toContain(`mean ${meanShort.toFixed(1)}`);
    expect(p.text).toContain(`(${charTokenizer.name} tokens)`);
  });
});
