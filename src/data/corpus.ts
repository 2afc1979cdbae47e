import { createHash } from "node:crypto";
import type { CorpusRecord } from "./record.js";
import type { PaperRecord } from "./validate.js";
import { readPaperRecords, ReadReport, type ReadOptions } from "./jsonl.js";
import { makeRng } from "./rng.js";

/** The join key of a question: Unicode NFKC, whitespace collapsed, trimmed. */
const ALREADY_NORMAL = /^[\x21-\x7e](?: ?[\x21-\x7e])*$/;
export function normaliseQuestion(text: string): string {
  // Fast path: printable ASCII with single inner spaces is its own normal form.
  if (ALREADY_NORMAL.test(text)) return text;
  return text.normalize("NFKC").replace(/\s+/g, " ").trim();
}

/** A stable id for a question text (used when a source has no ids). */
export function questionId(text: string): string {
  return "q" + createHash("sha256").update(normaliseQuestion(text)).digest("hex").slice(0, 12);
}

/** The content of the last `\boxed{...}` in a text (braces balanced), or null. */
export function extractBoxed(text: string): string | null {
  const at = text.lastIndexOf("\\boxed");
  if (at < 0) return null;
  let i = at + "\\boxed".length;
  while (text[i] === " ") i++;
  if (text[i] !== "{") return null;
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const ch = text[j];
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return text.slice(i + 1, j);
    }
  }
  return null;
}

export interface NamedSource {
  name: string;
  records: Iterable<PaperRecord>;
}

export interface JoinOptions {
  /** Match by normalised question text (default) or by the records' `id` field. */
  by?: "question" | "id";
  /** Keep questions that only some sources answer (default), or only those all sources answer. */
  require?: "any" | "all";
}

export interface JoinReport {
  /** Questions per source after removing duplicates within that source. */
  perSource: Record<string, number>;
  /** Duplicate questions dropped within each source (first kept). */
  duplicates: Record<string, number>;
  /** Questions that every source answers. */
  complete: number;
  /** For each source, the ids of questions only that source has. */
  onlyIn: Record<string, string[]>;
  /** Questions that some but not all sources answer (kept under require "any"). */
  partial: number;
  /** Questions dropped because of require "all". */
  dropped: number;
}

/**
 * Joins single-source files in the paper's released form into one corpus, one record per question,
 * in order of first appearance. A question's answer is its `answer` field if any source has one, else
 * the last \boxed{} of the first source's solution.
 */
export function joinSources(sources: NamedSource[], opts: JoinOptions = {}): { corpus: CorpusRecord[]; report: JoinReport } {
  const by = opts.by ?? "question";
  const names = sources.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new Error(`joinSources: duplicate source names in ${names.join(", ")}`);
  const byKey = new Map<string, CorpusRecord>();
  const report: JoinReport = { perSource: {}, duplicates: {}, complete: 0, onlyIn: {}, partial: 0, dropped: 0 };
  for (const src of sources) {
    let n = 0;
    let dup = 0;
    for (const r of src.records) {
      let key: string;
      if (by === "id") {
        if (r.id === undefined) throw new Error(`joinSources: source "${src.name}" has a record without an id (join by id)`);
        key = r.id;
      } else key = normaliseQuestion(r.problem);
      let rec = byKey.get(key);
      if (!rec) {
        rec = { id: by === "id" ? key : r.id ?? questionId(r.problem), question: r.problem, answer: r.answer ?? "", responses: {} };
        byKey.set(key, rec);
      }
      if (rec.responses[src.name] !== undefined) {
        dup++;
        continue;
      }
      rec.responses[src.name] = r.solution;
      if (rec.answer === "" && r.answer !== undefined) rec.answer = r.answer;
      if (rec.level === undefined && r.level !== undefined) rec.level = r.level;
      if (rec.subject === undefined && r.subject !== undefined) rec.subject = r.subject;
      n++;
    }
    report.perSource[src.name] = n;
    report.duplicates[src.name] = dup;
    report.onlyIn[src.name] = [];
  }
  const corpus: CorpusRecord[] = [];
  for (const rec of byKey.values()) {
    if (rec.answer === "") {
      for (const name of names) {
        const resp = rec.responses[name];
        const boxed = resp === undefined ? null : extractBoxed(resp);
        if (boxed !== null) {
          rec.answer = boxed;
          break;
        }
      }
    }
    const have = names.filter((n) => rec.responses[n] !== undefined);
    if (have.length === names.length) report.complete++;
    else {
      if (have.length === 1) report.onlyIn[have[0]!]!.push(rec.id);
      if (opts.require === "all") {
        report.dropped++;
        continue;
      }
      report.partial++;
    }
    corpus.push(rec);
  }
  return { corpus, report };
}

/** Reads paper-form files (`name -> path`) and joins them; see joinSources. */
export async function joinFiles(
  files: Array<{ name: string; path: string }>,
  opts: JoinOptions & ReadOptions = {},
): Promise<{ corpus: CorpusRecord[]; report: JoinReport; reads: Record<string, ReadReport> }> {
  const sources: NamedSource[] = [];
  const reads: Record<string, ReadReport> = {};
  for (const f of files) {
    const report = new ReadReport();
    const records: PaperRecord[] = [];
    for await (const r of readPaperRecords(f.path, { onError: opts.onError ?? "fail", report })) records.push(r);
    reads[f.name] = report;
    sources.push({ name: f.name, records });
  }
  return { ...joinSources(sources, opts), reads };
}

/** Removes records whose id (or normalised question) was seen before; the first is kept. */
export function dedupe(corpus: readonly CorpusRecord[], opts: { by?: "question" | "id" } = {}): { records: CorpusRecord[]; removed: number } {
  const seen = new Set<string>();
  const records: CorpusRecord[] = [];
  for (const r of corpus) {
    const key = opts.by === "id" ? r.id : normaliseQuestion(r.question);
    if (seen.has(key)) continue;
    seen.add(key);
    records.push(r);
  }
  return { records, removed: corpus.length - records.length };
}

export interface SplitOptions {
  /** Fraction of questions for the test part (default 0.1), or an exact count via testSize. */
  testFraction?: number;
  testSize?: number;
  seed: number;
  /** Split each level separately so both parts have the same level mix. */
  stratifyByLevel?: boolean;
}

/**
 * Seeded train/test split; each part keeps the corpus order. The test part has exactly
 * round(fraction * n) questions (per level when stratified).
 */
export function splitTrainTest(corpus: readonly CorpusRecord[], opts: SplitOptions): { train: CorpusRecord[]; test: CorpusRecord[] } {
  const frac = opts.testFraction ?? 0.1;
  if (opts.testSize === undefined && !(frac >= 0 && frac <= 1)) throw new Error(`splitTrainTest: testFraction must be in [0, 1], got ${frac}`);
  if (opts.testSize !== undefined && !(Number.isInteger(opts.testSize) && opts.testSize >= 0 && opts.testSize <= corpus.length))
    throw new Error(`splitTrainTest: testSize must be an integer in [0, ${corpus.length}], got ${opts.testSize}`);
  const groups = new Map<string, number[]>();
  corpus.forEach((r, i) => {
    const g = opts.stratifyByLevel ? String(r.level ?? "none") : "all";
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(i);
  });
  const isTest = new Uint8Array(corpus.length);
  for (const [g, idx] of [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const k = opts.testSize !== undefined && groups.size === 1 ? opts.testSize : Math.round((opts.testSize !== undefined ? opts.testSize / corpus.length : frac) * idx.length);
    const shuffled = makeRng(opts.seed, "split", g).shuffle(idx.slice());
    for (let i = 0; i < k; i++) isTest[shuffled[i]!] = 1;
  }
  const train: CorpusRecord[] = [];
  const test: CorpusRecord[] = [];
  corpus.forEach((r, i) => (isTest[i] ? test : train).push(r));
  return { train, test };
}
