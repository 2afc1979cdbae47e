import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importCsv, importLmEval, ImportError, longCotGap, parseCsv, parseParams, ResultSet, resultsFromCsv, resultsFromLmEval } from "../../src/gap/index.js";

const CSV = `student,parameters,data variant,benchmark,accuracy,number of examples
Qwen2.5-0.5B-Instruct,0.5B,long,MATH,30.2,500
Qwen2.5-0.5B-Instruct,0.5B,short,MATH,38.6,500
"Qwen2.5-3B-Instruct",3B,long,MATH,56.2,500
Qwen2.5-3B-Instruct,3B,short,MATH,61.0,500
`;

describe("CSV import", () => {
  it("reads rows into the result model, ordered by size, with sources", () => {
    const rs = resultsFromCsv(CSV, { file: "runs.csv" });
    expect(rs.rows).toHaveLength(4);
    expect(rs.rows[0]).toMatchObject({ student: "Qwen2.5-0.5B-Instruct", params: 5e8, variant: "long", benchmark: "MATH", accuracy: 30.2, n: 500, source: "runs.csv:2" });
    const g = longCotGap(rs, { replicates: 200 });
    expect(g.entries.find((e) => e.student === "Qwen2.5-3B-Instruct" && e.benchmark === "MATH")!.value).toBeCloseTo(-4.8, 9);
    expect(g.entries[0].interval).toBeDefined(); // n given: binomial intervals
  });

  it("accepts fractions, percent signs, CRLF, quotes with commas and newlines, and optional seed/budget", () => {
    const text = 'Model,Params,Variant,Task,Acc,N,Seed,Budget\r\n"a, the ""small"" one",31K,long,"multi\nline",0.25,40,1,epochs=6\r\nb,2.4M,short,t,0.5,40,2,epochs=6\r\n';
    const rs = resultsFromCsv(text);
    expect(rs.rows[0]).toMatchObject({ student: 'a, the "small" one', params: 31000, benchmark: "multi\nline", accuracy: 25, n: 40, seed: 1, budget: "epochs=6" });
    expect(rs.rows[1]).toMatchObject({ params: 2.4e6, accuracy: 50, source: "<csv>:4" }); // the quoted newline moves it down a line
    expect(resultsFromCsv("student,variant,benchmark,accuracy\ns,long,t,45.5%\n").rows[0].accuracy).toBe(45.5);
    expect(resultsFromCsv("student,variant,benchmark,accuracy\ns,long,t,0.5\n", { accuracyScale: "percent" }).rows[0].accuracy).toBe(0.5);
    expect(parseParams("1,500,000")).toBe(1.5e6);
    expect(parseParams("7e9")).toBe(7e9);
    expect(parseParams("big")).toBeUndefined();
  });

  const bad: Array<[string, string, RegExp]> = [
    ["empty", "", /bad\.csv: empty file/],
    ["missing column", "student,variant,accuracy\ns,long,40\n", /bad\.csv:1: benchmark: missing column/],
    ["non-numeric accuracy", "student,variant,benchmark,accuracy\ns,long,t,40\ns,short,t,forty\n", /bad\.csv:3: accuracy: expected a non-negative number, got "forty"/],
    ["accuracy over 100", "student,variant,benchmark,accuracy\ns,long,t,140\n", /bad\.csv:2: accuracy: expected a percentage in \[0, 100\]/],
    ["field count", "student,variant,benchmark,accuracy\ns,long,t\n", /bad\.csv:2: expected 4 fields as in the header, got 3/],
    ["unterminated quote", 'student,variant,benchmark,accuracy\n"s,long,t,40\n', /bad\.csv:2: unterminated quoted field/],
    ["bad examples count", "student,variant,benchmark,accuracy,n\ns,long,t,40,12.5\n", /bad\.csv:2: n: expected a positive integer, got "12\.5"/],
    ["bad params", "student,params,variant,benchmark,accuracy\ns,huge,long,t,40\n", /bad\.csv:2: params: expected a parameter count/],
    ["empty required", "student,variant,benchmark,accuracy\n,long,t,40\n", /bad\.csv:2: student: empty value/],
    ["duplicate column", "student,model,variant,benchmark,accuracy\n", /bad\.csv:1: model: duplicate column/],
    ["stray quote", 'student,variant,benchmark,accuracy\ns"x,long,t,40\n', /bad\.csv:2: a quote inside an unquoted field/],
  ];
  for (const [name, text, re] of bad)
    it(`rejects a malformed file (${name}) naming file, line and field`, () => {
      let err: unknown;
      try {
        resultsFromCsv(text, { file: "bad.csv" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImportError);
      expect((err as Error).message).toMatch(re);
    });

  it("reads files from disk and names the path in errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-import-"));
    writeFileSync(join(dir, "ok.csv"), CSV);
    expect(importCsv(join(dir, "ok.csv")).rows[3].source).toBe(`${join(dir, "ok.csv")}:5`);
    writeFileSync(join(dir, "bad.csv"), "student,variant,benchmark,accuracy\ns,long,t,x\n");
    expect(() => importCsv(join(dir, "bad.csv"))).toThrow(`${join(dir, "bad.csv")}:2: accuracy`);
    expect(parseCsv("a,b\n\n1,2\n").map((r) => r.line)).toEqual([1, 3]);
  });
});

const LM_EVAL = {
  results: {
    gsm8k_cot_zeroshot: { alias: "gsm8k_cot_zeroshot", "exact_match,strict-match": 0.61, "exact_match_stderr,strict-match": 0.013, "exact_match,flexible-extract": 0.8, "exact_match_stderr,flexible-extract": 0.011 },
    hendrycks_math: { alias: "hendrycks_math", "exact_match,none": 0.5, "exact_match_stderr,none": 0.007 },
    hendrycks_math_algebra: { alias: " - hendrycks_math_algebra", "exact_match,none": 0.7 },
    hendrycks_math_geometry: { alias: " - hendrycks_math_geometry", "exact_match,none": 0.3 },
  },
  group_subtasks: { hendrycks_math: ["hendrycks_math_algebra", "hendrycks_math_geometry"], gsm8k_cot_zeroshot: [] },
  "n-samples": { gsm8k_cot_zeroshot: { original: 1319, effective: 1319 }, hendrycks_math_algebra: { original: 1187, effective: 1187 }, hendrycks_math_geometry: { original: 479, effective: 479 } },
  config: { model: "vllm", model_args: "pretrained=UWNSL/Qwen2.5-3B-Instruct_Long_CoT,tensor_parallel_size=1,dtype=bfloat16" },
};

describe("lm-evaluation-harness import", () => {
  it("reads top-level tasks with the preferred metric, counts, and the model as student", () => {
    const rs = resultsFromLmEval(LM_EVAL, { variant: "long", benchmarks: { gsm8k_cot_zeroshot: "GSM8K", hendrycks_math: "MATH" }, params: 3e9 });
    expect(rs.rows).toHaveLength(2);
    expect(rs.rows[0]).toMatchObject({ student: "UWNSL/Qwen2.5-3B-Instruct_Long_CoT", variant: "long", benchmark: "GSM8K", accuracy: 80, n: 1319, params: 3e9 });
    expect(rs.rows[0].source).toMatch(/results\.gsm8k_cot_zeroshot\.exact_match,flexible-extract$/);
    expect(rs.rows[1]).toMatchObject({ benchmark: "MATH", accuracy: 50, n: 1187 + 479 });
    const strict = resultsFromLmEval(LM_EVAL, { variant: "long", student: "S", metric: "exact_match,strict-match", tasks: ["gsm8k_cot_zeroshot"] });
    expect(strict.rows[0]).toMatchObject({ student: "S", accuracy: 61 });
  });

  it("combines with another run of the same student into a gap", () => {
    const short = structuredClone(LM_EVAL);
    short.results.gsm8k_cot_zeroshot["exact_match,flexible-extract"] = 0.82;
    short.config.model_args = "pretrained=UWNSL/Qwen2.5-3B-Instruct_Short_CoT";
    const a = resultsFromLmEval(LM_EVAL, { variant: "long", student: "Qwen2.5-3B" });
    const b = resultsFromLmEval(short, { variant: "short", student: "Qwen2.5-3B" });
    const g = longCotGap(ResultSet.merge(a, b), { replicates: 100 });
    expect(g.entries.find((e) => e.benchmark === "gsm8k_cot_zeroshot")!.value).toBeCloseTo(-2, 9);
  });

  it("rejects malformed files naming the field", () => {
    expect(() => resultsFromLmEval({ results: 3 }, { variant: "long", file: "r.json" })).toThrow(/r\.json: results: expected an object/);
    expect(() => resultsFromLmEval([], { variant: "long", file: "r.json" })).toThrow(/r\.json: \(root\): expected a JSON object/);
    expect(() => resultsFromLmEval(LM_EVAL, { variant: "" })).toThrow(/variant: the import needs the data variant/);
    const badValue = structuredClone(LM_EVAL);
    (badValue.results.hendrycks_math as Record<string, unknown>)["exact_match,none"] = 57;
    expect(() => resultsFromLmEval(badValue, { variant: "long", file: "r.json" })).toThrow(/r\.json: results\.hendrycks_math\.exact_match,none: expected an accuracy in \[0, 1\], got 57/);
    expect(() => resultsFromLmEval({ results: { t: { alias: "t", bleu: 3 } }, config: { model_args: "pretrained=m" } }, { variant: "long", file: "r.json" })).toThrow(/results\.t: none of the known accuracy metrics/);
    expect(() => resultsFromLmEval({ results: { t: { "acc,none": 0.5 } } }, { variant: "long", file: "r.json" })).toThrow(/config\.model_args: no pretrained= model/);
    expect(() => resultsFromLmEval(LM_EVAL, { variant: "long", tasks: ["mmlu"], file: "r.json" })).toThrow(/results\.mmlu: task not in the file/);
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-import-"));
    writeFileSync(join(dir, "broken.json"), '{\n  "results": {\n    "a": 1,,\n  }\n}\n');
    expect(() => importLmEval(join(dir, "broken.json"), { variant: "long" })).toThrow(/broken\.json:3: invalid JSON/);
  });
});

describe("CSV export", () => {
  it("round-trips through the import, percent accuracies and all", async () => {
    const { resultsToCsv, writeResultsCsv } = await import("../../src/gap/index.js");
    const rs = new ResultSet([
      { student: 'odd, "name"', params: 3e9, variant: "long", benchmark: "MATH", accuracy: 0.5, n: 500, seed: 1, budget: "epochs=2" },
      { student: "b", variant: "short", benchmark: "AIME", accuracy: 10 },
    ]);
    const back = resultsFromCsv(resultsToCsv(rs)); // the "accuracy (%)" header keeps 0.5 a percentage
    expect(back.rows.map(({ source: _s, ...r }) => r)).toEqual(rs.rows.map(({ source: _s, ...r }) => r));
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-export-"));
    writeResultsCsv(join(dir, "r.csv"), rs);
    expect(importCsv(join(dir, "r.csv")).rows.map((r) => r.accuracy)).toEqual([0.5, 10]);
  });
});
