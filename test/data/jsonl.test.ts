import { describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { AtomicWriter, CorpusError, ReadReport, loadCorpus, readCorpus, readLines, writeCorpus, writeFileAtomic, type CorpusRecord } from "../../src/data/index.js";

const dir = mkdtempSync(join(tmpdir(), "mixdistill-jsonl-"));
const rec = (i: number): CorpusRecord => ({ id: `q${i}`, question: `What is ${i} + ${i}?`, answer: String(2 * i), level: (i % 5) + 1, responses: { short: `${i} + ${i} = ${2 * i}.\n\\boxed{${2 * i}}`, long: `Let me think. ${i} + ${i} = ${2 * i}.\n\\boxed{${2 * i}}` } });
const good = (i: number): string => JSON.stringify(rec(i));

async function collect(path: string, onError: "fail" | "skip" = "fail", report = new ReadReport()): Promise<CorpusRecord[]> {
  const out: CorpusRecord[] = [];
  for await (const r of readCorpus(path, { onError, report })) out.push(r);
  return out;
}

describe("corpus JSONL", () => {
  it("round-trips records, plain and gzip, and the .gz file is really compressed", async () => {
    const recs = Array.from({ length: 50 }, (_, i) => rec(i));
    for (const name of ["a.jsonl", "a.jsonl.gz"]) {
      const p = join(dir, name);
      expect(await writeCorpus(p, recs)).toBe(50);
      expect(await loadCorpus(p)).toEqual(recs);
    }
    expect(readFileSync(join(dir, "a.jsonl.gz"))[0]).toBe(0x1f);
  });

  it("detects gzip by content even without the .gz name", async () => {
    const p = join(dir, "hidden-gzip.jsonl");
    writeFileSync(p, gzipSync(good(1) + "\n" + good(2) + "\n"));
    expect((await loadCorpus(p)).map((r) => r.id)).toEqual(["q1", "q2"]);
  });

  it("handles CRLF, blank lines and a last line without newline", async () => {
    const p = join(dir, "crlf.jsonl");
    writeFileSync(p, `${good(1)}\r\n\r\n   \n${good(2)}`);
    const recs = await collect(p);
    expect(recs.map((r) => r.id)).toEqual(["q1", "q2"]);
  });

  const bad: Array<[string, string | Buffer, number, string, RegExp]> = [
    ["bad JSON", `${good(1)}\n{"id": "q2", "question": \n`, 2, "", /invalid JSON/],
    ["missing field", `${good(1)}\n${good(2)}\n${JSON.stringify({ id: "q3", question: "x", responses: { a: "b" } })}\n`, 3, "answer", /missing/],
    ["wrong type", `${JSON.stringify({ ...rec(1), level: "hard" })}\n`, 1, "level", /integer level/],
    ["wrong type of a response", `${JSON.stringify({ ...rec(1), responses: { long: 42 } })}\n`, 1, "responses.long", /expected a string, got a number/],
    ["empty response", `${good(1)}\n${JSON.stringify({ ...rec(2), responses: { short: "  " } })}\n`, 2, "responses.short", /empty response/],
    ["not an object", `[1, 2]\n`, 1, "", /expected a JSON object, got an array/],
    ["non-UTF-8 bytes", Buffer.concat([Buffer.from(good(1) + "\n"), Buffer.from('{"id":"q2","question":"caf'), Buffer.from([0xe9, 0x20]), Buffer.from('?"}\n')]), 2, "", /invalid UTF-8 \(byte 0xe9/],
  ];
  for (const [label, content, line, field, reason] of bad) {
    it(`fails on ${label} naming file, line and field`, async () => {
      const p = join(dir, `bad-${label.replace(/\W+/g, "_")}.jsonl`);
      writeFileSync(p, content);
      const err = await collect(p).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CorpusError);
      const ce = err as CorpusError;
      expect(ce.file).toBe(p);
      expect(ce.line).toBe(line);
      expect(ce.field).toBe(field);
      expect(ce.message).toMatch(reason);
      expect(ce.message).toContain(`${p}:${line}`);
    });
    it(`skips and reports ${label} under the skip policy`, async () => {
      const p = join(dir, `bad-${label.replace(/\W+/g, "_")}.jsonl`);
      const report = new ReadReport();
      const recs = await collect(p, "skip", report);
      expect(report.skippedCount).toBe(1);
      expect(report.skipped[0]).toMatchObject({ file: p, line, field });
      expect(recs.length).toBe(report.records);
    });
  }

  it("reads lines longer than a read chunk", async () => {
    const p = join(dir, "long-lines.jsonl");
    const huge = { ...rec(1), responses: { long: "x".repeat(2_500_000) + " \\boxed{2}" } };
    writeFileSync(p, [good(0), JSON.stringify(huge), good(2)].join("\n") + "\n");
    const recs = await loadCorpus(p);
    expect(recs.map((r) => r.id)).toEqual(["q0", "q1", "q2"]);
    expect(recs[1]!.responses.long!.length).toBe(2_500_000 + " \\boxed{2}".length);
  });

  it("keeps valid text that contains a real U+FFFD", async () => {
    const p = join(dir, "fffd.jsonl");
    writeFileSync(p, JSON.stringify({ ...rec(1), question: "what is \uFFFD?" }) + "\n");
    expect((await loadCorpus(p))[0]!.question).toBe("what is \uFFFD?");
  });

  it("reports invalid UTF-8 per line without losing the neighbours", async () => {
    const p = join(dir, "lines.txt");
    writeFileSync(p, Buffer.concat([Buffer.from("ok one\n"), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from("ok three\n")]));
    const items = [];
    for await (const it of readLines(p)) items.push(it);
    expect(items.map((i) => i.text ?? "ERR")).toEqual(["ok one", "ERR", "ok three"]);
  });
});

describe("atomic writes", () => {
  it("aborting leaves the old file and no temp files", async () => {
    const p = join(dir, "atomic", "out.jsonl");
    await writeFileAtomic(p, "old\n");
    const w = await AtomicWriter.create(p);
    await w.write("new content\n");
    await w.abort();
    expect(readFileSync(p, "utf8")).toBe("old\n");
    expect(readdirSync(join(dir, "atomic"))).toEqual(["out.jsonl"]);
  });

  it("a failing source leaves the old file in place", async () => {
    const p = join(dir, "atomic2.jsonl");
    await writeCorpus(p, [rec(1)]);
    async function* broken(): AsyncGenerator<CorpusRecord> {
      yield rec(2);
      throw new Error("source failed");
    }
    await expect(writeCorpus(p, broken())).rejects.toThrow("source failed");
    expect((await loadCorpus(p)).map((r) => r.id)).toEqual(["q1"]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("streams large outputs through the writer", async () => {
    const p = join(dir, "big.jsonl");
    const n = await writeCorpus(p, (function* () {
      for (let i = 0; i < 20000; i++) yield rec(i);
    })());
    expect(n).toBe(20000);
    let count = 0;
    for await (const _ of readCorpus(p)) count++;
    expect(count).toBe(20000);
  });
});
