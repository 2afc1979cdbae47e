import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dedupe, extractBoxed, joinFiles, joinSources, normaliseQuestion, splitTrainTest, synth } from "../../src/data/index.js";

describe("join of paper-form sources", () => {
  it("joins by normalised question, reports questions only one source has", () => {
    const long = [
      { problem: "What is  1+1?", solution: "long 1 \\boxed{2}" },
      { problem: "What is 2+2?", solution: "long 2 \\boxed{4}" },
      { problem: "Only long?", solution: "\\boxed{x}" },
    ];
    const short = [
      { problem: "What is 2+2? ", solution: "short 2 \\boxed{4}" },
      { problem: "What is 1+1?", solution: "short 1 \\boxed{2}" },
      { problem: "What is 2+2?", solution: "duplicate \\boxed{5}" },
      { problem: "Only short?", solution: "\\boxed{y}" },
    ];
    const { corpus, report } = joinSources([{ name: "long", records: long }, { name: "short", records: short }]);
    expect(corpus.map((r) => Object.keys(r.responses).sort().join("+"))).toEqual(["long+short", "long+short", "long", "short"]);
    expect(corpus[0]!.answer).toBe("2");
    expect(corpus[1]!.responses.short).toBe("short 2 \\boxed{4}");
    expect(report.duplicates).toEqual({ long: 0, short: 1 });
    expect(report.complete).toBe(2);
    expect(report.partial).toBe(2);
    expect(report.onlyIn.long).toEqual([corpus[2]!.id]);
    expect(report.onlyIn.short).toEqual([corpus[3]!.id]);
    const all = joinSources([{ name: "long", records: long }, { name: "short", records: short }], { require: "all" });
    expect(all.corpus.length).toBe(2);
    expect(all.report.dropped).toBe(2);
  });

  it("joins by id and reads files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-join-"));
    writeFileSync(join(dir, "a.jsonl"), [{ id: "1", problem: "P one", solution: "A1" }, { id: 2, problem: "P two", solution: "A2" }].map((x) => JSON.stringify(x)).join("\n"));
    writeFileSync(join(dir, "b.jsonl"), [{ id: "2", problem: "P two (reworded)", solution: "B2" }].map((x) => JSON.stringify(x)).join("\n"));
    const { corpus, reads } = await joinFiles([{ name: "a", path: join(dir, "a.jsonl") }, { name: "b", path: join(dir, "b.jsonl") }], { by: "id" });
    expect(corpus.find((r) => r.id === "2")!.responses).toEqual({ a: "A2", b: "B2" });
    expect(reads.a!.records).toBe(2);
  });

  it("normalises whitespace and Unicode compatibility forms only", () => {
    expect(normaliseQuestion(" a\n\tb  ｃ ")).toBe("a b c");
    expect(normaliseQuestion("A")).not.toBe(normaliseQuestion("a"));
  });

  it("extracts the last boxed answer with nested braces", () => {
    expect(extractBoxed("\\boxed{1} then \\boxed{\\frac{1}{2}}")).toBe("\\frac{1}{2}");
    expect(extractBoxed("no answer")).toBeNull();
    expect(extractBoxed("\\boxed{unclosed")).toBeNull();
  });
});

describe("dedupe and split", () => {
  const corpus = synth({ task: "mixed", n: 300, seed: 4 });
  it("dedupes by question, keeping the first", () => {
    const doubled = [...corpus, ...corpus.slice(0, 10).map((r) => ({ ...r, id: r.id + "-copy", question: r.question + "  " }))];
    const { records, removed } = dedupe(doubled);
    expect(removed).toBe(10);
    expect(records).toEqual(corpus);
    expect(dedupe(doubled, { by: "id" }).removed).toBe(0);
  });

  it("splits with an exact test size, deterministically, covering every record once", () => {
    const a = splitTrainTest(corpus, { testFraction: 0.2, seed: 1 });
    const b = splitTrainTest(corpus, { testFraction: 0.2, seed: 1 });
    const c = splitTrainTest(corpus, { testFraction: 0.2, seed: 2 });
    expect(a.test.length).toBe(60);
    expect(a).toEqual(b);
    expect(c.test.map((r) => r.id)).not.toEqual(a.test.map((r) => r.id));
    expect(new Set([...a.train, ...a.test].map((r) => r.id)).size).toBe(300);
    // Corpus order is kept inside each part.
    const pos = new Map(corpus.map((r, i) => [r.id, i]));
    const idx = a.test.map((r) => pos.get(r.id)!);
    expect(idx).toEqual([...idx].sort((x, y) => x - y));
  });

  it("stratifies by level", () => {
    const { test } = splitTrainTest(corpus, { testFraction: 0.1, seed: 3, stratifyByLevel: true });
    for (let l = 1; l <= 5; l++) {
      const n = corpus.filter((r) => r.level === l).length;
      expect(test.filter((r) => r.level === l).length).toBe(Math.round(0.1 * n));
    }
  });
});
