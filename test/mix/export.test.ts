import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synth, writeCorpus, writeJsonl } from "../../src/data/index.js";
import { countRecords, EXPORT_FORMATS, exportMix, mix, mixFilesPerQuestion, NotAlignedError, PROMPT_TEMPLATES, resolveTemplate } from "../../src/mix/index.js";
import { ReadReport } from "../../src/data/index.js";

const corpus = synth({ task: "mixed", n: 300, seed: 21 });
const { examples } = mix(corpus, { sources: ["long", "short"], ratio: { long: 1, short: 4 }, strategy: "per-question", seed: 0 });
const readJsonl = (p: string): Array<Record<string, unknown>> => readFileSync(p, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
const isStr = (x: unknown): x is string => typeof x === "string" && x.length > 0;

describe("exporters", () => {
  it("LLaMA-Factory: alpaca columns problem/solution and a dataset_info.json entry, as the paper's repo", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-lf-"));
    writeFileSync(join(dir, "dataset_info.json"), JSON.stringify({ other: { file_name: "x.json" } }));
    const files = await exportMix(examples, dir, { format: "llamafactory", name: "Mix-Long_long_0.2_short_0.8" });
    const info = JSON.parse(readFileSync(join(dir, "dataset_info.json"), "utf8"));
    expect(info.other).toEqual({ file_name: "x.json" }); // merged, not replaced
    const entry = info["Mix-Long_long_0.2_short_0.8"];
    expect(entry).toEqual({ file_name: "Mix-Long_long_0.2_short_0.8.jsonl", formatting: "alpaca", columns: { prompt: "problem", response: "solution" } });
    const rows = readJsonl(join(dir, entry.file_name));
    expect(rows.length).toBe(300);
    for (const r of rows) {
      expect(Object.keys(r)).toEqual(["problem", "solution"]);
      expect(isStr(r[entry.columns.prompt])).toBe(true);
      expect(isStr(r[entry.columns.response])).toBe(true);
    }
    expect(files[0]!.lines).toBe(300);
    expect(files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("ShareGPT: conversations human/gpt with LLaMA-Factory's sharegpt entry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-sg-"));
    await exportMix(examples, dir, { format: "sharegpt", name: "mix", system: "Be brief." });
    const entry = JSON.parse(readFileSync(join(dir, "dataset_info.json"), "utf8")).mix;
    expect(entry).toMatchObject({ formatting: "sharegpt", columns: { messages: "conversations", system: "system" }, tags: { role_tag: "from", content_tag: "value", user_tag: "human", assistant_tag: "gpt" } });
    for (const r of readJsonl(join(dir, "mix.jsonl"))) {
      const conv = r.conversations as Array<Record<string, string>>;
      expect(conv.map((m) => m.from)).toEqual(["human", "gpt"]); // user turns odd, assistant even
      expect(conv.every((m) => isStr(m.value))).toBe(true);
      expect(r.system).toBe("Be brief.");
    }
  });

  it("TRL: conversational messages and standard prompt/completion", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-trl-"));
    await exportMix(examples, dir, { format: "trl-messages", name: "msgs", system: "sys" });
    for (const r of readJsonl(join(dir, "msgs.jsonl"))) {
      expect(Object.keys(r)).toEqual(["messages"]);
      const m = r.messages as Array<Record<string, string>>;
      expect(m.map((x) => x.role)).toEqual(["system", "user", "assistant"]);
      expect(m.every((x) => Object.keys(x).join() === "role,content" && isStr(x.content))).toBe(true);
    }
    await exportMix(examples, dir, { format: "trl-prompt-completion", name: "pc", template: "paper" });
    const rows = readJsonl(join(dir, "pc.jsonl"));
    for (const r of rows) {
      expect(Object.keys(r)).toEqual(["prompt", "completion"]);
      expect(r.prompt).toMatch(/^Solve the following math problem\. Present the final answer in the format: Final Answer: \\boxed\{your_answer\}\.\nProblem: .+\nAnswer:$/s);
      expect(isStr(r.completion)).toBe(true);
    }
    expect(rows[0]!.prompt).toContain(examples[0]!.question);
    expect(readdirSync(dir).includes("dataset_info.json")).toBe(false);
  });

  it("templates by name or text, and unknown names are errors", () => {
    expect(resolveTemplate("paper")).toBe(PROMPT_TEMPLATES.paper);
    expect(resolveTemplate("Q: {{problem}}")).toBe("Q: {{problem}}");
    expect(() => resolveTemplate("nonsense")).toThrow(/unknown name/);
  });

  it("every format is byte-identical across runs", async () => {
    for (const format of EXPORT_FORMATS) {
      const a = mkdtempSync(join(tmpdir(), "mixdistill-id-"));
      const b = mkdtempSync(join(tmpdir(), "mixdistill-id-"));
      const fa = await exportMix(mix(corpus, { sources: ["long", "short"], weights: [0.5, 0.5], strategy: "per-question", seed: 3 }).examples, a, { format, name: "m" });
      const fb = await exportMix(mix(corpus, { sources: ["long", "short"], weights: [0.5, 0.5], strategy: "per-question", seed: 3 }).examples, b, { format, name: "m" });
      expect(fa[0]!.sha256).toBe(fb[0]!.sha256);
    }
  });
});

describe("streaming per-question mix", () => {
  const dir = mkdtempSync(join(tmpdir(), "mixdistill-stream-"));
  const longPath = join(dir, "long.jsonl");
  const shortPath = join(dir, "short.jsonl.gz");
  const shuffled = join(dir, "short-reordered.jsonl");
  beforeAll(async () => {
    await writeJsonl(longPath, corpus.map((r) => ({ problem: r.question, solution: r.responses.long })));
    await writeJsonl(shortPath, corpus.map((r) => ({ problem: r.question, solution: r.responses.short })));
    await writeJsonl(shuffled, [...corpus].reverse().map((r) => ({ problem: r.question, solution: r.responses.short })));
  });

  it("equals the in-memory mix byte for byte on paper-form files", async () => {
    const opts = { ratio: { long: 1, short: 4 }, seed: 8 };
    const { manifest } = await mixFilesPerQuestion([{ name: "long", path: longPath }, { name: "short", path: shortPath }], { sources: [], strategy: "per-question", ...opts }, { dir: join(dir, "s"), format: "jsonl", name: "m" });
    expect(manifest.counts.perSource).toEqual({ long: 60, short: 240 });
    expect(manifest.sources[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // In memory over the same questions (ids as the join derives them from the text).
    const { joinSources } = await import("../../src/data/index.js");
    const joined = joinSources([
      { name: "long", records: corpus.map((r) => ({ problem: r.question, solution: r.responses.long! })) },
      { name: "short", records: corpus.map((r) => ({ problem: r.question, solution: r.responses.short! })) },
    ]).corpus;
    await exportMix(mix(joined, { sources: ["long", "short"], strategy: "per-question", ...opts }).examples, join(dir, "m"), { format: "jsonl", name: "m" });
    expect(readFileSync(join(dir, "s", "m.jsonl"))).toEqual(readFileSync(join(dir, "m", "m.jsonl")));
  });

  it("detects files that are not aligned and leaves no output", async () => {
    const err = await mixFilesPerQuestion([{ name: "long", path: longPath }, { name: "short", path: shuffled }], { sources: [], strategy: "per-question", ratio: { long: 1, short: 4 } }, { dir: join(dir, "bad"), format: "jsonl", name: "m" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAlignedError);
    expect((err as NotAlignedError).message).toMatch(/short-reordered.jsonl:1: field "question"/);
    expect(readdirSync(join(dir, "bad"))).toEqual([]);
  });

  it("validate 'used' gives the same mix, and still catches misaligned files", async () => {
    const opts = { sources: [], strategy: "per-question" as const, ratio: { long: 1, short: 4 }, seed: 8 };
    const files = [{ name: "long", path: longPath }, { name: "short", path: shortPath }];
    await mixFilesPerQuestion(files, { ...opts, validate: "used" }, { dir: join(dir, "u"), format: "jsonl", name: "m" });
    await mixFilesPerQuestion(files, opts, { dir: join(dir, "u-all"), format: "jsonl", name: "m" });
    expect(readFileSync(join(dir, "u", "m.jsonl"))).toEqual(readFileSync(join(dir, "u-all", "m.jsonl")));
    const err = await mixFilesPerQuestion([files[0]!, { name: "short", path: shuffled }], { ...opts, validate: "used" }, { dir: join(dir, "u2"), format: "jsonl", name: "m" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAlignedError);
  });

  it("skips malformed lines (all files' line of that question) under the skip policy, and counts records exactly", async () => {
    const a = join(dir, "a.jsonl");
    const b = join(dir, "b.jsonl");
    const rows = corpus.slice(0, 10);
    writeFileSync(a, "\n" + rows.map((r, i) => (i === 3 ? "{broken" : JSON.stringify({ problem: r.question, solution: r.responses.long }))).join("\n") + "\n\n");
    writeFileSync(b, rows.map((r) => JSON.stringify({ problem: r.question, solution: r.responses.short })).join("\r\n") + "\r\n");
    expect(await countRecords(a)).toBe(10);
    expect(await countRecords(b)).toBe(10);
    const report = new ReadReport();
    const { manifest } = await mixFilesPerQuestion([{ name: "long", path: a }, { name: "short", path: b }], { sources: [], strategy: "per-question", weights: [0.5, 0.5], onError: "skip", report }, { dir: join(dir, "sk"), format: "jsonl", name: "m" });
    expect(report.skippedCount).toBe(1);
    expect(report.skipped[0]).toMatchObject({ file: a, line: 5, field: "" });
    expect(manifest.counts.questions).toBe(9);
    const fail = await mixFilesPerQuestion([{ name: "long", path: a }, { name: "short", path: b }], { sources: [], strategy: "per-question", weights: [0.5, 0.5] }, { dir: join(dir, "sk2"), format: "jsonl", name: "m" }).catch((e: unknown) => e);
    expect((fail as Error).message).toMatch(/a.jsonl:5: invalid JSON/);
  });

  it("reads several sources from one corpus file", async () => {
    const p = join(dir, "corpus.jsonl");
    await writeCorpus(p, corpus);
    const { manifest } = await mixFilesPerQuestion([{ name: "large", path: p }, { name: "small", path: p }], { sources: [], strategy: "per-question", ratio: { large: 1, small: 4 }, seed: 1 }, { dir: join(dir, "c"), format: "trl-prompt-completion", name: "m" });
    expect(manifest.counts.perSource).toEqual({ large: 60, small: 240 });
    const mem = mix(corpus, { sources: ["large", "small"], ratio: { large: 1, small: 4 }, strategy: "per-question", seed: 1 });
    const rows = readJsonl(join(dir, "c", "m.jsonl"));
    expect(rows.map((r) => r.completion)).toEqual(mem.examples.map((e) => e.response));
  });

  it("counts missing responses, fallbacks and drops as the in-memory mix does (one planner)", async () => {
    // Every third question lacks its long response, every seventh its short one, some both.
    const holes = corpus.map((r, i) => {
      // A third, unmixed response keeps every record valid when both mixed ones are missing.
      const responses: Record<string, string> = { other: r.responses.large ?? r.responses.small ?? "x" };
      if (i % 3 !== 0) responses.long = r.responses.long!;
      if (i % 7 !== 0) responses.short = r.responses.short!;
      return { ...r, responses };
    });
    const p = join(dir, "holes.jsonl");
    await writeCorpus(p, holes);
    for (const missing of ["fallback", "drop"] as const) {
      const opts = { sources: ["long", "short"], strategy: "per-question" as const, ratio: { long: 1, short: 1 }, seed: 4, missing };
      const sdir = join(dir, `holes-s-${missing}`);
      const mdir = join(dir, `holes-m-${missing}`);
      const { manifest } = await mixFilesPerQuestion([{ name: "long", path: p }, { name: "short", path: p }], opts, { dir: sdir, format: "jsonl", name: "m" });
      const inMemory = mix(holes, opts);
      await exportMix(inMemory.examples, mdir, { format: "jsonl", name: "m" });
      expect(manifest.counts).toEqual(inMemory.manifest.counts);
      expect(manifest.counts.noResponse).toBeGreaterThan(0);
      expect(missing === "drop" ? manifest.counts.dropped : Object.values(manifest.counts.fallbacksFrom).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(readFileSync(join(sdir, "m.jsonl"))).toEqual(readFileSync(join(mdir, "m.jsonl")));
    }
  });
});
