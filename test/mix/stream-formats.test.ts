// The streaming per-question mix writes most lines without decoding them (raw JSON strings spliced
// into each format's fixed bytes). Whatever the format, template, system prompt, escapes or malformed
// lines, its output must equal the in-memory mix exported by exportMix, byte for byte.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { joinSources, ReadReport } from "../../src/data/index.js";
import { EXPORT_FORMATS, exportMix, mix, mixFilesPerQuestion } from "../../src/mix/index.js";

// Strings that exercise every escape JSON.stringify writes, and characters it leaves alone.
const odd = [
  'plain "quoted" text',
  "back\\slash and a / slash",
  "tab\there, newline\nthere, carriage\rreturn",
  "control \u0001\u001f chars",
  "line separator \u2028 and paragraph \u2029",
  "emoji 🧮 and accents: é, ü, 中文",
  "latex \\frac{1}{2} and \\boxed{42}",
];

function records(n: number, source: string) {
  return Array.from({ length: n }, (_, i) => ({
    problem: `Q${i}: ${odd[i % odd.length]} (what is ${i} + ${i}?)`,
    solution: `${source} ${odd[(i * 3) % odd.length]}\n${i} + ${i} = ${2 * i}\n\\boxed{${2 * i}}`,
  }));
}

const dir = mkdtempSync(join(tmpdir(), "mixdistill-stream-formats-"));
const long = records(70, "long");
const short = records(70, "short");
const longPath = join(dir, "long.jsonl");
const shortPath = join(dir, "short.jsonl");
const lines = (rs: object[]) => rs.map((r) => JSON.stringify(r)).join("\n") + "\n";
writeFileSync(longPath, lines(long));
// Escapes JSON.stringify never writes (\u0041, \/): the same strings, spelled differently.
writeFileSync(shortPath, lines(short).replace(/"Q1:/g, '"\\u0051\\u0031:').replace(/a \/ slash/g, "a \\/ slash"));

function inMemory() {
  return joinSources([
    { name: "long", records: long },
    { name: "short", records: short },
  ]).corpus;
}

describe("streaming mix in every export format", () => {
  for (const format of EXPORT_FORMATS) {
    for (const variant of [{}, { template: "paper", system: 'You are a "careful" tutor.\nThink.' }]) {
      const label = `${format}${"template" in variant ? " with the paper template and a system prompt" : ""}`;
      it(`equals the in-memory export: ${label}`, async () => {
        const opts = { ratio: { long: 1, short: 4 }, seed: 3 };
        const name = "m";
        const sdir = join(dir, `s-${format}-${"template" in variant ? "t" : "p"}`);
        const mdir = join(dir, `m-${format}-${"template" in variant ? "t" : "p"}`);
        await mixFilesPerQuestion(
          [{ name: "long", path: longPath }, { name: "short", path: shortPath }],
          { sources: [], strategy: "per-question", ...opts },
          { dir: sdir, format, name, ...variant },
        );
        await exportMix(mix(inMemory(), { sources: ["long", "short"], strategy: "per-question", ...opts }).examples, mdir, { format, name, ...variant });
        expect(readFileSync(join(sdir, `${name}.jsonl`), "utf8")).toBe(readFileSync(join(mdir, `${name}.jsonl`), "utf8"));
        if (format === "llamafactory")
          expect(readFileSync(join(sdir, "dataset_info.json"), "utf8")).toBe(readFileSync(join(mdir, "dataset_info.json"), "utf8"));
      });
    }
  }

  it("reports malformed lines by file and line under skip, in a raw-spliced format", async () => {
    const bad = join(dir, "short-bad.jsonl");
    const good = lines(short).split("\n");
    good[4] = '{"problem": "Q4 broken", "solution": ';
    good[9] = JSON.stringify({ problem: short[9]!.problem, solution: "" });
    writeFileSync(bad, good.join("\n"));
    const report = new ReadReport();
    await mixFilesPerQuestion(
      [{ name: "long", path: longPath }, { name: "short", path: bad }],
      { sources: [], strategy: "per-question", weights: [0.5, 0.5], onError: "skip", report },
      { dir: join(dir, "skip"), format: "trl-messages", name: "m" },
    );
    expect(report.skipped.map((s) => [s.file, s.line])).toEqual([
      [bad, 5],
      [bad, 10],
    ]);
    expect(report.skipped[1]!.field).toMatch(/solution/);
    const err = await mixFilesPerQuestion(
      [{ name: "long", path: longPath }, { name: "short", path: bad }],
      { sources: [], strategy: "per-question", weights: [0.5, 0.5] },
      { dir: join(dir, "fail"), format: "trl-messages", name: "m" },
    ).catch((e: unknown) => e as Error);
    expect(String(err)).toContain(`${bad}:5`);
  });
});
