/** Evaluation of a student: decode every question, extract the last \boxed{}, score, summarise. */
import type { StudentModel } from "../model/transformer.js";
import type { StudentTokenizer } from "../model/student-tokenizer.js";
import type { EvalExample } from "../train/spec.js";
import { Decoder, generate } from "./decoder.js";
import { answersMatch, lastBoxed } from "./extract.js";

export interface EvalRecord {
  id: string;
  prompt: string;
  output: string;
  answer: string;
  extracted: string | null;
  correct: boolean;
  generatedTokens: number;
  /** Whether generation ended at the end marker (false: a length limit cut it). */
  stopped: boolean;
  task?: string;
  level?: number;
}

export interface GenerationLengthStats {
  mean: number;
  median: number;
  p90: number;
  max: number;
  /** Fraction of generations that reached the end marker. */
  stoppedFraction: number;
}

export interface EvalReport {
  n: number;
  accuracy: number;
  perTask: Record<string, { n: number; accuracy: number }>;
  perLevel: Record<string, { n: number; accuracy: number }>;
  lengths: GenerationLengthStats;
  /** Fraction of outputs with no complete \boxed{}. */
  noAnswerFraction: number;
  records: EvalRecord[];
}

export interface EvalOptions {
  maxNewTokens: number;
  batchSize?: number;
  temperature?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Length statistics of generations. */
export function generationLengthStats(records: ReadonlyArray<{ generatedTokens: number; stopped: boolean }>): GenerationLengthStats {
  const l = records.map((r) => r.generatedTokens).sort((a, b) => a - b);
  const n = Math.max(1, l.length);
  return {
    mean: l.reduce((a, b) => a + b, 0) / n,
    median: quantile(l, 0.5),
    p90: quantile(l, 0.9),
    max: l.length ? l[l.length - 1]! : 0,
    stoppedFraction: records.filter((r) => r.stopped).length / n,
  };
}

/** Accuracy overall, per task and per level of scored records. */
export function summarize(records: EvalRecord[]): EvalReport {
  const group = (key: (r: EvalRecord) => string | undefined) => {
    const g: Record<string, { n: number; accuracy: number }> = {};
    for (const r of records) {
      const k = key(r);
      if (k === undefined) continue;
      const e = (g[k] ??= { n: 0, accuracy: 0 });
      e.n += 1;
      e.accuracy += r.correct ? 1 : 0;
    }
    for (const e of Object.values(g)) e.accuracy /= e.n;
    return g;
  };
  const n = records.length;
  return {
    n,
    accuracy: n ? records.filter((r) => r.correct).length / n : 0,
    perTask: group((r) => r.task),
    perLevel: group((r) => (r.level === undefined ? undefined : String(r.level))),
    lengths: generationLengthStats(records),
    noAnswerFraction: n ? records.filter((r) => r.extracted === null).length / n : 0,
    records,
  };
}

/** Decodes every example's prompt (greedy unless `temperature` > 0) and scores the answers. */
export async function evaluateStudent(model: StudentModel, tokenizer: StudentTokenizer, examples: readonly EvalExample[], opts: EvalOptions): Promise<EvalReport> {
  examples.forEach((e, i) => {
    if (typeof e?.prompt !== "string" || typeof e?.answer !== "string") throw new Error(`evaluation example ${i}: prompt and answer must be strings`);
  });
  const decoder = new Decoder(model);
  try {
    const gens = await generate(
      decoder,
      examples.map((e) => tokenizer.encodePrompt(e.prompt)),
      { maxNewTokens: opts.maxNewTokens, temperature: opts.temperature, seed: opts.seed, batchSize: opts.batchSize, eosId: tokenizer.eosId, signal: opts.signal, onProgress: opts.onProgress },
    );
    const records = examples.map((e, i): EvalRecord => {
      const g = gens[i]!;
      const output = tokenizer.decode(g.tokens);
      const extracted = lastBoxed(output);
      return {
        id: e.id,
        prompt: e.prompt,
        output,
        answer: e.answer,
        extracted,
        correct: answersMatch(extracted, e.answer),
        generatedTokens: g.tokens.length,
        stopped: g.stopped,
        ...(e.task !== undefined ? { task: e.task } : {}),
        ...(e.level !== undefined ? { level: e.level } : {}),
      };
    });
    return summarize(records);
  } finally {
    decoder.dispose();
  }
}
