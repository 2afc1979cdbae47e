import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { runDataCli } from "../../src/cli/index.js";

const dir = mkdtempSync(join(tmpdir(), "mixdistill-cli-"));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runDataCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe("mixdistill synth / stats / mix", () => {
  const corpus = join(dir, "corpus.jsonl");
  beforeAll(async () => {
    expect((await run("synth", "--task", "mixed", "--n", "200", "--seed", "3", "--out", corpus)).code).toBe(0);
  });

  it("synth writes a corpus deterministically", async () => {
    const again = join(dir, "again.jsonl");
    expect((await run("synth", "--task=mixed", "--n=200", "--seed=3", `--out=${again}`)).code).toBe(0);
    expect(readFileSync(again)).toEqual(readFileSync(corpus));
    expect(readFileSync(corpus, "utf8").trimEnd().split("\n").length).toBe(200);
  });

  it("synth keeps only the asked styles and honours the knobs", async () => {
    const p = join(dir, "two.jsonl");
    expect((await run("synth", "--task", "arith", "--n", "5", "--seed", "1", "--out", p, "--styles", "long,short", "--implicit", "0", "--levels", "3")).code).toBe(0);
    const rec = JSON.parse(readFileSync(p, "utf8").split("\n")[0]!);
    expect(Object.keys(rec.responses)).toEqual(["long", "short"]);
    expect(rec.level).toBe(3);
  });

  it("stats prints a table per source and level, and JSON", async () => {
    const t = await run("stats", corpus, "--tokenizer", "chars");
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^tokens \(chars\)/);
    expect(t.out).toMatch(/\nlong\s+all\s+200 /);
    const j = await run("stats", corpus, "--json");
    const s = JSON.parse(j.out);
    expect(s.records).toBe(200);
    expect(s.bySource.short.count).toBe(200);
    expect(Object.keys(s.bySourceLevel.long)).toEqual(["1", "2", "3", "4", "5"]);
  });

  it("mix from one corpus: Mix-Long in LLaMA-Factory format with manifest, byte-identical across runs", async () => {
    const args = ["mix", "--corpus", corpus, "--source", "long", "--source", "short", "--ratio", "long=1,short=4", "--strategy", "per-question", "--seed", "0", "--format", "llamafactory"];
    const a = await run(...args, "--out", join(dir, "mixA"));
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/mixed 200 examples \(long 40, short 160\)/);
    await run(...args, "--out", join(dir, "mixB"));
    for (const f of ["mix.jsonl", "dataset_info.json", "mix.manifest.json"]) expect(readFileSync(join(dir, "mixA", f))).toEqual(readFileSync(join(dir, "mixB", f)));
    const m = JSON.parse(readFileSync(join(dir, "mixA", "mix.manifest.json"), "utf8"));
    expect(m).toMatchObject({ strategy: "per-question", seed: 0, ratio: { long: 0.2, short: 0.8 }, counts: { perSource: { long: 40, short: 160 } }, tool: { name: "mixdistill" } });
    expect(m.sources[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.outputs[0].lines).toBe(200);
    expect(m.tokens.perSource.long.count).toBe(40);
  });

  it("mix from paper-form files, in every strategy and a TRL format", async () => {
    const lines = readFileSync(corpus, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    writeFileSync(join(dir, "long.jsonl"), lines.map((r) => JSON.stringify({ problem: r.question, solution: r.responses.long })).join("\n") + "\n");
    // Reordered: forces the in-memory join.
    writeFileSync(join(dir, "short.jsonl"), [...lines].reverse().map((r) => JSON.stringify({ problem: r.question, solution: r.responses.short })).join("\n") + "\n");
    for (const strategy of ["per-question", "interleave", "concat"]) {
      const r = await run("mix", "--source", `long=${join(dir, "long.jsonl")}`, "--source", `short=${join(dir, "short.jsonl")}`, "--ratio", "long=1", "--ratio", "short=4", "--strategy", strategy, "--format", "trl-messages", "--out", join(dir, `p-${strategy}`), "--template", "paper");
      expect(r.code, r.err).toBe(0);
      const first = JSON.parse(readFileSync(join(dir, `p-${strategy}`, "mix.jsonl"), "utf8").split("\n")[0]!);
      expect(first.messages[0].content).toMatch(/^Solve the following math problem/);
    }
    const m = JSON.parse(readFileSync(join(dir, "p-per-question", "mix.manifest.json"), "utf8"));
    expect(m.counts.perSource).toEqual({ long: 40, short: 160 });
    // A source with extra questions: the join is reported and the missing-response policy applies.
    writeFileSync(join(dir, "short-extra.jsonl"), readFileSync(join(dir, "short.jsonl"), "utf8") + JSON.stringify({ problem: "An extra question?", solution: "\\boxed{1}" }) + "\n");
    const r = await run("mix", "--source", `long=${join(dir, "long.jsonl")}`, "--source", `short=${join(dir, "short-extra.jsonl")}`, "--ratio", "long=1,short=1", "--strategy", "per-question", "--missing", "drop", "--format", "jsonl", "--out", join(dir, "p-extra"));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/joined 201 questions by question: 200 in every source, 1 in some \(1 only in short\)/);
    const me = JSON.parse(readFileSync(join(dir, "p-extra", "mix.manifest.json"), "utf8"));
    expect(me.sources.find((x: { name: string }) => x.name === "long").missing).toBe(1);
  });

  it("streams aligned paper-form files, with --validate used giving the same bytes", async () => {
    const lines = readFileSync(corpus, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    writeFileSync(join(dir, "al-long.jsonl"), lines.map((r) => JSON.stringify({ problem: r.question, solution: r.responses.long })).join("\n") + "\n");
    writeFileSync(join(dir, "al-short.jsonl"), lines.map((r) => JSON.stringify({ problem: r.question, solution: r.responses.short })).join("\n") + "\n");
    const base = ["mix", "--source", `long=${join(dir, "al-long.jsonl")}`, "--source", `short=${join(dir, "al-short.jsonl")}`, "--ratio", "long=1,short=4", "--strategy", "per-question", "--seed", "2", "--format", "sharegpt"];
    expect((await run(...base, "--out", join(dir, "al-all"))).code).toBe(0);
    const used = await run(...base, "--out", join(dir, "al-used"), "--validate", "used");
    expect(used.code, used.err).toBe(0);
    expect(used.err).not.toMatch(/joining in memory/);
    expect(readFileSync(join(dir, "al-used", "mix.jsonl"))).toEqual(readFileSync(join(dir, "al-all", "mix.jsonl")));
    expect((await run(...base, "--out", join(dir, "al-x"), "--validate", "some")).code).toBe(2);
  });

  it("usage errors exit 2 with a message", async () => {
    const cases: string[][] = [
      [],
      ["frobnicate"],
      ["synth", "--task", "arith", "--n", "x", "--out", "f"],
      ["synth", "--task", "nope", "--n", "1", "--out", "f"],
      ["synth", "--n", "1", "--out", "f"],
      ["synth", "--task", "arith", "--n", "1", "--out", "f", "--bogus", "1"],
      ["mix", "--corpus", corpus, "--source", "long", "--source", "short", "--strategy", "per-question", "--format", "jsonl", "--out", dir],
      ["mix", "--corpus", corpus, "--source", "long", "--source", "short", "--ratio", "long=abc", "--strategy", "per-question", "--format", "jsonl", "--out", dir],
      ["mix", "--corpus", corpus, "--source", "long", "--source", "nope", "--ratio", "long=1,nope=4", "--strategy", "per-question", "--format", "jsonl", "--out", join(dir, "x")],
      ["mix", "--corpus", corpus, "--source", "long", "--ratio", "long=1", "--strategy", "sideways", "--format", "jsonl", "--out", dir],
      ["stats"],
    ];
    for (const argv of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err + r.out).toMatch(/usage|--|unknown|expected|required|not one|no question/);
    }
  });

  it("--help prints usage and exits 0", async () => {
    for (const cmd of ["synth", "mix", "stats"]) {
      const r = await run(cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: mixdistill ${cmd}`));
    }
    expect((await run("--help")).code).toBe(0);
  });

  it("data errors exit 1 naming file, line and field; --on-error skip reports and goes on", async () => {
    const bad = join(dir, "bad.jsonl");
    const good = readFileSync(corpus, "utf8").split("\n").slice(0, 3);
    writeFileSync(bad, [good[0], JSON.stringify({ id: "x", question: "q", answer: "1", responses: { long: "" } }), good[1], "{oops", good[2]].join("\n") + "\n");
    const r = await run("stats", bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:2: field "responses.long": empty response`);
    const s = await run("stats", bad, "--on-error", "skip", "--json");
    expect(s.code).toBe(0);
    expect(JSON.parse(s.out).records).toBe(3);
    expect(s.err).toContain("skipped 2 malformed line(s)");
    expect(s.err).toContain(`${bad}:4: invalid JSON`);
    const m = await run("mix", "--corpus", bad, "--source", "long", "--source", "short", "--ratio", "long=1,short=1", "--strategy", "per-question", "--format", "jsonl", "--out", join(dir, "badmix"));
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/bad.jsonl:2: field "responses.long"/);
    expect(existsSync(join(dir, "badmix")) ? readdirSync(join(dir, "badmix")) : []).toEqual([]);
    const missing = await run("stats", join(dir, "nope.jsonl"));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope.jsonl: no such file/);
  });

  const bin = join(process.cwd(), "bin", "mixdistill.js");
  const built = existsSync(join(process.cwd(), "dist", "src", "cli", "index.js")) && existsSync(join(process.cwd(), "dist", "kernel", "cli.js"));
  it.skipIf(!built)("runs through bin/mixdistill.js (after npm run build)", () => {
    const out = join(dir, "bin.jsonl");
    const s = spawnSync(process.execPath, [bin, "synth", "--task", "word", "--n", "20", "--seed", "1", "--out", out], { encoding: "utf8" });
    expect(s.status, s.stderr).toBe(0);
    const st = spawnSync(process.execPath, [bin, "stats", out], { encoding: "utf8" });
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/tokens \(approx-bpe\)/);
    const bad = spawnSync(process.execPath, [bin, "mix", "--strategy", "nope"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
  });
});
