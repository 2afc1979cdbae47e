import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { CorpusError } from "./errors.js";

/**
 * Decontamination by word n-gram overlap (n = 8), the method of s1 and open-r1's
 * `scripts/decontaminate.py`: both texts are normalised (Unicode NFKC, lower case, every run of
 * characters that are not letters or digits becomes one space), split into words, and a training
 * question is contaminated when it shares any run of 8 consecutive words with a benchmark question.
 * A benchmark question shorter than 8 words counts as one n-gram of all its words, so short
 * questions are caught when they appear whole.
 */
export const DECONTAMINATION_METHOD = "word-8gram-overlap";

/** What happens to a contaminated training question. */
export type ContaminatedPolicy = "drop" | "flag" | "fail";

/** One benchmark question, located for reports. */
export interface BenchmarkQuestion {
  file: string;
  /** 1-based line in `file`. */
  line: number;
  /** The benchmark's own id when its record has one. */
  id?: string;
  text: string;
}

/** A benchmark file as the manifest records it. */
export interface BenchmarkFile {
  file: string;
  sha256: string;
  questions: number;
}

/** Where a training question overlaps a benchmark question. */
export interface ContaminationHit {
  /** Id of the training record. */
  id: string;
  benchmarkFile: string;
  benchmarkLine: number;
  benchmarkId?: string;
  /** The first shared n-gram, normalised. */
  ngram: string;
}

/** Lower case, NFKC, punctuation and spacing folded: the word list the n-grams are taken from. */
export function normalizeWords(text: string): string[] {
  const t = text.normalize("NFKC").toLowerCase();
  const out: string[] = [];
  for (const w of t.split(/[^\p{L}\p{N}]+/u)) if (w) out.push(w);
  return out;
}

// Two 32-bit FNV-1a style lanes per word, combined over the window into a 53-bit key; a hit on the
// key is confirmed by comparing the words, so the hash can never cause a false match.
function wordHashes(words: string[]): [Uint32Array, Uint32Array] {
  const a = new Uint32Array(words.length);
  const b = new Uint32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let j = 0; j < w.length; j++) {
      const c = w.charCodeAt(j);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    a[i] = h1 >>> 0;
    b[i] = h2 >>> 0;
  }
  return [a, b];
}

function windowKey(a: Uint32Array, b: Uint32Array, start: number, n: number): number {
  let h1 = 0x2545f491;
  let h2 = 0x6b43a9b5;
  for (let k = start; k < start + n; k++) {
    h1 = Math.imul(h1 ^ a[k]!, 0x01000193);
    h1 ^= h1 >>> 13;
    h2 = Math.imul(h2 ^ b[k]!, 0x5bd1e995);
    h2 ^= h2 >>> 16;
  }
  return (h1 >>> 0) * 2097152 + ((h2 >>> 0) >>> 11); // 32 + 21 bits: exact in a double
}

interface Entry {
  words: string; // the n-gram's words joined by one space
  q: number; // index into questions
  next?: Entry; // other n-grams with the same key
}

/** An index of benchmark n-grams; `match` checks one training question against all of them. */
export class Decontaminator {
  readonly n: number;
  readonly questions: readonly BenchmarkQuestion[];
  private readonly table = new Map<number, Entry>();
  private readonly shortSizes = new Set<number>();

  constructor(questions: readonly BenchmarkQuestion[], opts: { n?: number } = {}) {
    this.n = opts.n ?? 8;
    if (!Number.isInteger(this.n) || this.n < 1) throw new RangeError(`n-gram size must be a positive integer, got ${opts.n}`);
    this.questions = questions;
    questions.forEach((q, qi) => {
      const words = normalizeWords(q.text);
      if (words.length === 0) return;
      const n = Math.min(this.n, words.length);
      if (n < this.n) this.shortSizes.add(n);
      const [a, b] = wordHashes(words);
      for (let s = 0; s + n <= words.length; s++) this.add(windowKey(a, b, s, n), words.slice(s, s + n).join(" "), qi);
    });
  }

  private add(key: number, words: string, q: number): void {
    const head = this.table.get(key);
    for (let e = head; e; e = e.next) if (e.words === words) return; // first question keeps the n-gram
    this.table.set(key, { words, q, next: head });
  }

  /** Number of distinct benchmark n-grams indexed. */
  get size(): number {
    return this.table.size;
  }

  /** The first benchmark question `text` shares an n-gram with, or undefined. */
  match(text: string): { question: BenchmarkQuestion; ngram: string } | undefined {
    const words = normalizeWords(text);
    if (words.length === 0) return undefined;
    const [a, b] = wordHashes(words);
    // Windows of the full size, plus the sizes of benchmark questions shorter than n (indexed whole).
    const sizes = words.length >= this.n ? [this.n] : [];
    for (const k of this.shortSizes) if (k <= words.length) sizes.push(k);
    for (const n of sizes) {
      for (let s = 0; s + n <= words.length; s++) {
        const head = this.table.get(windowKey(a, b, s, n));
        if (!head) continue;
        const gram = words.slice(s, s + n).join(" ");
        for (let e: Entry | undefined = head; e; e = e.next) if (e.words === gram) return { question: this.questions[e.q]!, ngram: gram };
      }
    }
    return undefined;
  }

}

const QUESTION_FIELDS = ["question", "problem", "prompt", "Question", "Problem", "input", "query", "text"] as const;

/**
 * Reads benchmark questions from a JSONL file (each line an object with one of the fields
 * question, problem, prompt, input, query or text; `id`/`doc_id`/`unique_id` kept when present)
 * or from plain text, one question a line. A `.jsonl`/`.json` name, or a first non-blank line
 * starting with `{`, means JSONL. Returns the questions and the file's sha256.
 */
export async function loadBenchmarkQuestions(path: string): Promise<{ questions: BenchmarkQuestion[]; file: BenchmarkFile }> {
  const buf = await readFile(path);
  const sha256 = createHash("sha256").update(buf).digest("hex");
  const text = buf.toString("utf8");
  const lines = text.split(/\r?\n/);
  const firstLine = lines.find((l) => l.trim() !== "") ?? "";
  const jsonl = /\.jsonl?$/i.test(path) || firstLine.trimStart().startsWith("{");
  const questions: BenchmarkQuestion[] = [];
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    if (!jsonl) {
      questions.push({ file: path, line, text: raw });
      return;
    }
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch (e) {
      throw new CorpusError({ file: path, line, field: "" }, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== "object" || rec === null || Array.isArray(rec)) throw new CorpusError({ file: path, line, field: "" }, "expected a JSON object");
    const r = rec as Record<string, unknown>;
    const field = QUESTION_FIELDS.find((f) => typeof r[f] === "string");
    if (!field) throw new CorpusError({ file: path, line, field: "question" }, `no question text (looked for ${QUESTION_FIELDS.join(", ")})`);
    const idv = r.id ?? r.doc_id ?? r.unique_id;
    questions.push({ file: path, line, text: r[field] as string, ...(idv !== undefined ? { id: String(idv) } : {}) });
  });
  return { questions, file: { file: path, sha256, questions: questions.length } };
}

/** What decontamination did, as the manifest records it. */
export interface DecontaminationReport {
  method: typeof DECONTAMINATION_METHOD;
  n: number;
  policy: ContaminatedPolicy;
  benchmarks: BenchmarkFile[];
  checked: number;
  /** Contaminated training questions (dropped under `drop`, kept and listed under `flag`). */
  hits: ContaminationHit[];
  /** Ids removed from the mix (empty unless the policy is `drop`). */
  dropped: string[];
}

/** Loads benchmark files and builds one index over all of them. */
export async function loadDecontaminator(paths: readonly string[], opts: { n?: number } = {}): Promise<{ index: Decontaminator; benchmarks: BenchmarkFile[] }> {
  if (paths.length === 0) throw new Error("decontamination needs at least one benchmark file");
  const all: BenchmarkQuestion[] = [];
  const benchmarks: BenchmarkFile[] = [];
  for (const p of paths) {
    const { questions, file } = await loadBenchmarkQuestions(p);
    all.push(...questions);
    benchmarks.push(file);
  }
  return { index: new Decontaminator(all, opts), benchmarks };
}

/** Raised under the `fail` policy: names the first contaminated record and its benchmark line. */
export class ContaminationError extends Error {
  readonly hits: ContaminationHit[];
  constructor(hits: ContaminationHit[]) {
    const h = hits[0]!;
    super(`${hits.length} training question(s) overlap benchmark questions; first: record "${h.id}" shares "${h.ngram}" with ${h.benchmarkFile}:${h.benchmarkLine}`);
    this.name = "ContaminationError";
    this.hits = hits;
  }
}

/**
 * Checks every record's question against the index and applies the policy: `drop` removes the
 * hits, `flag` keeps them (listed in the report), `fail` throws a ContaminationError.
 */
export function decontaminate<R extends { id: string; question: string }>(
  records: Iterable<R>,
  index: Decontaminator,
  opts: { policy?: ContaminatedPolicy; benchmarks?: BenchmarkFile[] } = {},
): { kept: R[]; report: DecontaminationReport } {
  const policy = opts.policy ?? "drop";
  const kept: R[] = [];
  const hits: ContaminationHit[] = [];
  let checked = 0;
  for (const r of records) {
    checked++;
    const m = index.match(r.question);
    if (m) {
      hits.push({ id: r.id, benchmarkFile: m.question.file, benchmarkLine: m.question.line, ...(m.question.id !== undefined ? { benchmarkId: m.question.id } : {}), ngram: m.ngram });
      if (policy === "drop") continue;
    }
    kept.push(r);
  }
  if (policy === "fail" && hits.length > 0) throw new ContaminationError(hits);
  return {
    kept,
    report: { method: DECONTAMINATION_METHOD, n: index.n, policy, benchmarks: opts.benchmarks ?? [], checked, hits, dropped: policy === "drop" ? hits.map((h) => h.id) : [] },
  };
}
