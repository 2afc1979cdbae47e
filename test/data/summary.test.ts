// A corpus shown as a cell's value: counts per source and level and a few examples with long texts
// elided, not every response in full.
import { describe, expect, it } from "vitest";
import { synth } from "../../src/data/index.js";
import { corpusCounts, corpusSummary, elide, isCorpus } from "../../src/data/summary.js";
import { toMimeBundle } from "../../kernel/execute/display.js";

describe("corpus summary", () => {
  const corpus = synth({ task: "mixed", n: 500, seed: 3 });

  it("counts responses per source and level, and questions per level", () => {
    const c = corpusCounts(corpus);
    expect(c.questions).toBe(500);
    expect(c.sources).toEqual(Object.keys(corpus[0]!.responses).sort());
    for (const s of c.sources) {
      for (const l of c.levels) {
        const expected = corpus.filter((r) => String(r.level) === l && typeof r.responses[s] === "string").length;
        expect(c.counts[s]![l], `${s} L${l}`).toBe(expected);
      }
    }
    expect(Object.values(c.perLevel).reduce((a, b) => a + b, 0)).toBe(500);
    // Records without a level are counted under "none".
    expect(corpusCounts([{ id: "a", question: "q", answer: "1", responses: { long: "x" } }]).levels).toEqual(["none"]);
  });

  it("the kernel shows a corpus value as the summary, a small fraction of the full text", () => {
    const bundle = toMimeBundle(corpus, { raw: false });
    const text = bundle["text/plain"] as string;
    const full = corpus.reduce((n, r) => n + Object.values(r.responses).join("").length, 0);
    expect(text.length).toBeLessThan(full / 20);
    expect(text.split("\n")[0]).toBe(`Corpus: 500 questions, ${corpusCounts(corpus).sources.length} sources (${corpusCounts(corpus).sources.join(", ")})`);
    expect(text).toContain("responses per source and level:");
    expect(text).toContain("examples (3 of 500):");
    expect(text).toContain(corpus[0]!.id);
    expect(text).not.toContain(corpus[3]!.id);
    const longest = Math.max(...Object.values(corpus[0]!.responses).map((r) => r.length));
    if (longest > 240) expect(text).toMatch(/… \[[\d,]+ characters elided\] …/);
    expect(bundle["text/html"]).toContain("<table>");
    expect(bundle["text/html"]).toContain("mixdistill-corpus");
  });

  it("elides the middle of long texts and says how much", () => {
    const s = "a".repeat(100) + "b".repeat(1000) + "c".repeat(100);
    const e = elide(s, 240);
    expect(e.startsWith("a".repeat(100))).toBe(true);
    expect(e.endsWith("c".repeat(95))).toBe(true);
    expect(e).toContain("[961 characters elided]");
    expect(elide("short", 240)).toBe("short");
  });

  it("escapes HTML in questions and responses", () => {
    const h = corpusSummary([{ id: "x", question: "<script>alert(1)</script>", answer: "1", level: 1, responses: { long: "a < b" } }])["text/html"];
    expect(h).not.toContain("<script>");
    expect(h).toContain("&lt;script&gt;");
  });

  it("other arrays are not corpora and print as before", () => {
    expect(isCorpus([])).toBe(false);
    expect(isCorpus([{ id: "a", question: "q" }])).toBe(false);
    expect(isCorpus([1, 2])).toBe(false);
    expect(toMimeBundle([{ id: "a", question: "q" }])).toEqual({ "text/plain": "[ { id: 'a', question: 'q' } ]" });
  });
});
