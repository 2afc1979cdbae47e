import { describe, expect, it } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { ContaminationError, Decontaminator, decontaminate, loadBenchmarkQuestions, loadDecontaminator, normalizeWords } from "../../src/data/decontaminate.js";

const AIME = "Let $x$, $y$ and $z$ be positive real numbers that satisfy the following system of equations, then find the value of xyz.";
const MATH = "What is the smallest positive integer n such that 17n is congruent to 1234 modulo 7?";

function rec(id: string, question: string) {
  return { id, question };
}

describe("decontamination by word 8-grams", () => {
  const bench = [
    { file: "aime.jsonl", line: 1, id: "aime-1", text: AIME },
    { file: "math.txt", line: 4, text: MATH },
    { file: "short.txt", line: 2, text: "Compute 2+2." },
  ];
  const index = new Decontaminator(bench);

  it("normalises case, punctuation, spacing and Unicode forms", () => {
    expect(normalizeWords("  What IS\tthe  value—of x?\n")).toEqual(["what", "is", "the", "value", "of", "x"]);
    expect(normalizeWords("ﬁnd ＡＢＣ")).toEqual(["find", "abc"]);
  });

  it("catches exact copies and re-spaced, re-cased, re-punctuated copies", () => {
    expect(index.match(AIME)?.question.id).toBe("aime-1");
    const messy = AIME.toUpperCase().replace(/ /g, "   ").replace(/,/g, " ;");
    expect(index.match(messy)?.question.id).toBe("aime-1");
    expect(index.match(MATH.replace(/\s+/g, "\n"))?.question.line).toBe(4);
  });

  it("catches reworded questions that keep a run of 8 words", () => {
    const reworded = "Suppose positive real numbers that satisfy the following system of equations are given. Determine xyz.";
    const m = index.match(reworded);
    expect(m?.question.id).toBe("aime-1");
    expect(m?.ngram).toBe("positive real numbers that satisfy the following system");
    // A question embedding the benchmark one inside a longer prompt.
    expect(index.match(`Solve carefully. ${MATH} Show your work.`)?.question.file).toBe("math.txt");
  });

  it("does not catch an unrelated question that shares common words", () => {
    expect(index.match("What is the value of the smallest prime number that is greater than 50?")).toBeUndefined();
    expect(index.match("Find the value of x if x plus the positive integer 3 equals 10.")).toBeUndefined();
    // Seven shared consecutive words are not enough.
    expect(index.match("positive real numbers that satisfy the following rule")).toBeUndefined();
  });

  it("indexes a benchmark question shorter than 8 words whole", () => {
    expect(index.match("Please compute 2 + 2 now")?.question.file).toBe("short.txt");
    expect(index.match("Compute 2 times 3")).toBeUndefined();
  });

  it("applies drop, flag and fail, and reports the ids", () => {
    const recs = [rec("a", AIME), rec("b", "Unrelated question about a triangle with sides 3, 4 and 5."), rec("c", MATH)];
    const dropped = decontaminate(recs, index, { policy: "drop" });
    expect(dropped.kept.map((r) => r.id)).toEqual(["b"]);
    expect(dropped.report.dropped).toEqual(["a", "c"]);
    expect(dropped.report).toMatchObject({ method: "word-8gram-overlap", n: 8, checked: 3 });
    expect(dropped.report.hits[0]).toMatchObject({ id: "a", benchmarkFile: "aime.jsonl", benchmarkLine: 1, benchmarkId: "aime-1" });
    const flagged = decontaminate(recs, index, { policy: "flag" });
    expect(flagged.kept).toHaveLength(3);
    expect(flagged.report.hits.map((h) => h.id)).toEqual(["a", "c"]);
    expect(flagged.report.dropped).toEqual([]);
    expect(() => decontaminate(recs, index, { policy: "fail" })).toThrow(ContaminationError);
    expect(() => decontaminate(recs, index, { policy: "fail" })).toThrow(/record "a".*aime\.jsonl:1/);
  });

  it("reads JSONL and plain-text benchmark files, with sha256 and located errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "decon-"));
    const jl = join(dir, "aime.jsonl");
    const body = `${JSON.stringify({ id: 7, problem: AIME })}\n\n${JSON.stringify({ question: MATH })}\n`;
    await writeFile(jl, body);
    const txt = join(dir, "bench.txt");
    await writeFile(txt, `${MATH}\n\nCompute 2+2.\n`);
    const { questions, file } = await loadBenchmarkQuestions(jl);
    expect(questions.map((q) => [q.line, q.id])).toEqual([[1, "7"], [3, undefined]]);
    expect(file.sha256).toBe(createHash("sha256").update(body).digest("hex"));
    const t = await loadBenchmarkQuestions(txt);
    expect(t.questions.map((q) => q.line)).toEqual([1, 3]);
    const both = await loadDecontaminator([jl, txt]);
    expect(both.benchmarks.map((b) => b.questions)).toEqual([2, 2]);
    expect(both.index.match(AIME)?.question.id).toBe("7");
    const bad = join(dir, "bad.jsonl");
    await writeFile(bad, `${JSON.stringify({ problem: "x" })}\n{"answer": 3}\n`);
    await expect(loadBenchmarkQuestions(bad)).rejects.toThrow(/bad\.jsonl:2: field "question"/);
    await writeFile(bad, `{"problem": "x"}\n{oops\n`);
    await expect(loadBenchmarkQuestions(bad)).rejects.toThrow(/bad\.jsonl:2: not valid JSON/);
  });
});
