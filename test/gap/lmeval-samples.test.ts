import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importLmEval } from "../../src/gap/import.js";
import { readLmEvalSamples, SamplesError } from "../../src/gap/lmeval-samples.js";
import { importRuns, parseRunFlag, parseRunName, runsInDir, standardGaps } from "../../src/gap/runs.js";
import { ResultSet } from "../../src/gap/results.js";
import { longCotGap } from "../../src/gap/metrics.js";

const STAMP = "2026-12-01T10-00-00.000000";
const N = 200;

/** One run as lm-evaluation-harness writes it with --output_path DIR --log_samples: a model-named folder. */
function writeRun(dir: string, model: string, correct: (i: number) => boolean): void {
  const d = join(dir, model.replace("/", "__"));
  mkdirSync(d, { recursive: true });
  const lines: string[] = [];
  let k = 0;
  for (let i = 0; i < N; i++) {
    const c = correct(i);
    if (c) k++;
    // Two filters per document, as gsm8k's strict-match and flexible-extract; strict is stricter.
    for (const filter of ["strict-match", "flexible-extract"]) {
      const em = filter === "strict-match" ? (c && i % 2 === 0 ? 1.0 : 0.0) : c ? 1.0 : 0.0;
      lines.push(
        JSON.stringify({
          doc_id: i,
          doc: { question: `q${i}`, answer: `#### ${i}` },
          target: `#### ${i}`,
          arguments: { gen_args_0: { arg_0: `Question: q${i}\nAnswer:`, arg_1: { until: ["Question:"] } } },
          resps: [[`The answer is ${c ? i : i + 1}.`]],
          filtered_resps: [String(c ? i : i + 1)],
          filter,
          metrics: ["exact_match"],
          doc_hash: `h${i}`,
          prompt_hash: `p${i}`,
          target_hash: `t${i}`,
          exact_match: em,
        }),
      );
    }
  }
  writeFileSync(join(d, `samples_gsm8k_${STAMP}.jsonl`), lines.join("\n") + "\n");
  const strictK = Array.from({ length: N }, (_, i) => correct(i) && i % 2 === 0).filter(Boolean).length;
  writeFileSync(
    join(d, `results_${STAMP}.json`),
    JSON.stringify({
      results: { gsm8k: { alias: "gsm8k", "exact_match,strict-match": strictK / N, "exact_match_stderr,strict-match": 0.03, "exact_match,flexible-extract": k / N, "exact_match_stderr,flexible-extract": 0.03 } },
      group_subtasks: { gsm8k: [] },
      "n-samples": { gsm8k: { original: N, effective: N } },
      config: { model: "hf", model_args: `pretrained=${model}` },
    }),
  );
}

// Correlated runs: the long run gets right a subset of what the short run gets right, minus a few.
const shortOk = (i: number) => i % 10 < 6; // 60%
const longOk = (i: number) => i % 10 < 5 || i % 40 === 7; // ~52.5%, mostly the same documents

describe("lm-evaluation-harness samples files", () => {
  it("reads outcomes per doc_id for the metric's filter and attaches them to the results rows", () => {
    const dir = mkdtempSync(join(tmpdir(), "lmeval-"));
    writeRun(dir, "Qwen/Qwen2.5-0.5B", shortOk);
    const f = join(dir, "Qwen__Qwen2.5-0.5B", `samples_gsm8k_${STAMP}.jsonl`);
    const flex = readLmEvalSamples(f, { metric: "exact_match", filter: "flexible-extract" });
    expect(flex).toHaveLength(N);
    expect(flex.filter((e) => e.correct).length).toBe(120);
    expect(readLmEvalSamples(f, { metric: "exact_match", filter: "strict-match" }).filter((e) => e.correct).length).toBe(60);
    const rs = importLmEval(join(dir, "Qwen__Qwen2.5-0.5B", `results_${STAMP}.json`), { variant: "short" });
    const row = rs.rows[0]!;
    expect(row.student).toBe("Qwen/Qwen2.5-0.5B");
    expect(row.accuracy).toBeCloseTo(60);
    expect(row.examples).toHaveLength(N);
    expect(row.examples![3]).toEqual({ id: "3", correct: true });
    const noSamples = importLmEval(join(dir, "Qwen__Qwen2.5-0.5B", `results_${STAMP}.json`), { variant: "short", samples: false });
    expect(noSamples.rows[0]!.examples).toBeUndefined();
  });

  it("gives paired intervals narrower than binomial ones for correlated runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "runs-"));
    writeRun(join(dir, "qwen2.5-0.5b-short"), "Qwen/Qwen2.5-0.5B-short", shortOk);
    writeRun(join(dir, "qwen2.5-0.5b-long"), "Qwen/Qwen2.5-0.5B-long", longOk);
    const { runs } = runsInDir(dir);
    expect(runs.map((r) => [r.student, r.variant])).toEqual([["qwen2.5-0.5b", "long"], ["qwen2.5-0.5b", "short"]]);
    const rs = importRuns(runs);
    const paired = longCotGap(rs, { seed: 1 }).entries.find((e) => e.benchmark === "gsm8k")!;
    const binomialRows = new ResultSet(rs.rows.map(({ examples: _e, ...r }) => r));
    const binom = longCotGap(binomialRows, { seed: 1 }).entries.find((e) => e.benchmark === "gsm8k")!;
    expect(paired.value).toBeCloseTo(binom.value);
    expect(paired.value).toBeCloseTo(52.5 - 60);
    const w = (e: typeof paired) => e.interval!.hi - e.interval!.lo;
    expect(w(paired)).toBeLessThan(0.5 * w(binom));
    expect(paired.interval!.containsZero).toBe(false);
    expect(binom.interval!.containsZero).toBe(true);
    const reports = standardGaps(rs);
    expect(reports.map((r) => r.name)).toEqual(["Long CoT Gap"]);
  });

  it("names file and line for malformed samples", () => {
    const dir = mkdtempSync(join(tmpdir(), "bad-"));
    const f = join(dir, "samples_gsm8k_x.jsonl");
    const good = JSON.stringify({ doc_id: 0, filter: "none", exact_match: 1 });
    writeFileSync(f, `${good}\n{not json\n`);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(SamplesError);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(/samples_gsm8k_x\.jsonl:2: not valid JSON/);
    writeFileSync(f, `${good}\n${JSON.stringify({ doc_id: 1, filter: "none", acc: 1, metrics: ["acc"] })}\n`);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(/:2: field "exact_match": missing \(the sample's metrics: acc\)/);
    writeFileSync(f, `${good}\n${JSON.stringify({ doc_id: 0, filter: "none", exact_match: 0 })}\n`);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(/:2: field "doc_id": doc_id 0 repeated \(first on line 1\)/);
    writeFileSync(f, `${good}\n${JSON.stringify({ doc_id: 2, filter: "none", exact_match: 0.5 })}\n`);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(/:2: field "exact_match": expected a 0\/1 outcome/);
    writeFileSync(f, `${JSON.stringify({ filter: "none", exact_match: 1 })}\n`);
    expect(() => readLmEvalSamples(f, { metric: "exact_match" })).toThrow(/:1: field "doc_id"/);
  });

  it("rejects samples that disagree with the results file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dis-"));
    writeRun(dir, "m", shortOk);
    const f = join(dir, "m", `samples_gsm8k_${STAMP}.jsonl`);
    writeFileSync(f, JSON.stringify({ doc_id: 0, filter: "flexible-extract", exact_match: 1 }) + "\n");
    expect(() => importLmEval(join(dir, "m", `results_${STAMP}.json`), { variant: "short" })).toThrow(/disagrees with its samples file/);
  });

  it("parses run names and --run flags", () => {
    expect(parseRunName("qwen2.5-0.5b-long")).toEqual({ student: "qwen2.5-0.5b", variant: "long" });
    expect(() => parseRunName("nohyphen")).toThrow(/<student>-<variant>/);
    expect(parseRunFlag("Qwen/Qwen2.5-3B:mix=/runs/a")).toEqual({ student: "Qwen/Qwen2.5-3B", variant: "mix", path: "/runs/a" });
    expect(() => parseRunFlag("bad")).toThrow(/STUDENT:VARIANT=PATH/);
  });
});
