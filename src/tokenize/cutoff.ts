import { hasReasoning, splitReasoning } from "../data/reasoning.js";
import type { Tokenizer } from "./token-counter.js";

/**
 * Length checks against the trainer's cutoff. LLaMA-Factory truncates every example to `cutoff_len`
 * (default 2048) and TRL's SFTTrainer to `max_length` (default 1024), both silently; an example
 * over the cutoff trains on a trace cut before its answer. Lengths here are prompt (question) plus
 * response tokens of the given tokenizer, without the chat template's own tokens.
 */
export const TRAINER_CUTOFF = { llamafactory: 2048, trl: 1024 } as const;
export type TrainerName = keyof typeof TRAINER_CUTOFF;

/** What happens to an example over the cutoff. */
export type OverLengthPolicy = "keep" | "drop" | "fail";

/** Length summary of one group of examples against the cutoff. */
export interface CutoffGroup {
  examples: number;
  /** Examples whose prompt + response tokens exceed the cutoff. */
  over: number;
  /** Quantiles (nearest rank) of prompt + response tokens. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Examples whose response holds a `<think>` block, and their reasoning / answer tokens in total. */
  withReasoning: number;
  reasoningTokens: number;
  answerTokens: number;
}

/** The length check as the manifest records it. */
export interface CutoffReport {
  cutoff: number;
  trainer?: TrainerName;
  tokenizer: { name: string; sha256?: string };
  policy: OverLengthPolicy;
  total: CutoffGroup;
  bySource: Record<string, CutoffGroup>;
  /** Per level ("none" for examples without one). */
  byLevel: Record<string, CutoffGroup>;
  /** Ids (`id/source`) of the examples over the cutoff, in input order. */
  overIds: string[];
  /** How many were removed (the `drop` policy), else 0. */
  dropped: number;
}

/** One training example: a question with the response of one source. */
export interface LengthExample {
  id: string;
  question: string;
  source: string;
  response: string;
  level?: number;
}

/** Resolves `--cutoff-len N` / `--trainer NAME` to a cutoff; the explicit number wins. */
export function resolveCutoff(opts: { cutoffLen?: number; trainer?: string }): { cutoff: number; trainer?: TrainerName } | undefined {
  let trainer: TrainerName | undefined;
  if (opts.trainer !== undefined) {
    if (!(opts.trainer in TRAINER_CUTOFF)) throw new Error(`trainer: expected one of ${Object.keys(TRAINER_CUTOFF).join(", ")}, got "${opts.trainer}"`);
    trainer = opts.trainer as TrainerName;
  }
  if (opts.cutoffLen !== undefined) {
    if (!Number.isInteger(opts.cutoffLen) || opts.cutoffLen < 1) throw new Error(`cutoff-len: expected a positive integer, got ${opts.cutoffLen}`);
    return { cutoff: opts.cutoffLen, ...(trainer ? { trainer } : {}) };
  }
  return trainer ? { cutoff: TRAINER_CUTOFF[trainer], trainer } : undefined;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

class Group {
  lengths: number[] = [];
  over = 0;
  withReasoning = 0;
  reasoningTokens = 0;
  answerTokens = 0;
  result(): CutoffGroup {
    const s = Float64Array.from(this.lengths).sort();
    return {
      examples: s.length,
      over: this.over,
      p50: quantile(s, 0.5),
      p90: quantile(s, 0.9),
      p99: quantile(s, 0.99),
      max: s.length ? s[s.length - 1]! : 0,
      withReasoning: this.withReasoning,
      reasoningTokens: this.reasoningTokens,
      answerTokens: this.answerTokens,
    };
  }
}

function tryParts(response: string): ReturnType<typeof splitReasoning> | undefined {
  try {
    return splitReasoning(response);
  } catch {
    return undefined; // a malformed block counts as plain text here; the export's reasoning check names it
  }
}

/** Raised under the `fail` policy. */
export class OverLengthError extends Error {
  constructor(readonly report: CutoffReport) {
    super(`${report.total.over} example(s) exceed the cutoff of ${report.cutoff} tokens (${report.tokenizer.name}); first: ${report.overIds[0]}`);
    this.name = "OverLengthError";
  }
}

/** Counts examples against a cutoff, one at a time (memory: one number per example). */
export class CutoffCounter {
  private readonly total = new Group();
  private readonly bySource = new Map<string, Group>();
  private readonly byLevel = new Map<string, Group>();
  private readonly overIds: string[] = [];
  private dropped = 0;

  constructor(
    readonly tokenizer: Tokenizer,
    readonly cutoff: number,
    readonly policy: OverLengthPolicy = "keep",
    readonly trainer?: TrainerName,
  ) {}

  /** Adds one example; returns whether it stays in the output (false only under `drop`). */
  add(ex: LengthExample): boolean {
    const tok = this.tokenizer;
    const promptTokens = tok.count(ex.question);
    let responseTokens: number;
    let reasoning: number | undefined;
    let answer = 0;
    const parts = hasReasoning(ex.response) ? tryParts(ex.response) : undefined;
    if (parts) {
      responseTokens = tok.count(ex.response);
      reasoning = tok.count(parts.reasoning ?? "");
      answer = tok.count(parts.answer);
    } else {
      responseTokens = tok.count(ex.response);
      answer = responseTokens;
    }
    const length = promptTokens + responseTokens;
    const isOver = length > this.cutoff;
    const level = ex.level === undefined ? "none" : String(ex.level);
    for (const g of [this.total, groupOf(this.bySource, ex.source), groupOf(this.byLevel, level)]) {
      g.lengths.push(length);
      if (isOver) g.over++;
      if (reasoning !== undefined) {
        g.withReasoning++;
        g.reasoningTokens += reasoning;
      }
      g.answerTokens += answer;
    }
    if (isOver) this.overIds.push(`${ex.id}/${ex.source}`);
    if (isOver && this.policy === "drop") {
      this.dropped++;
      return false;
    }
    return true;
  }

  report(): CutoffReport {
    const fromMap = (m: Map<string, Group>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, g]) => [k, g.result()]));
    return {
      cutoff: this.cutoff,
      ...(this.trainer ? { trainer: this.trainer } : {}),
      tokenizer: { name: this.tokenizer.name, ...(this.tokenizer.sha256 ? { sha256: this.tokenizer.sha256 } : {}) },
      policy: this.policy,
      total: this.total.result(),
      bySource: fromMap(this.bySource),
      byLevel: fromMap(this.byLevel),
      overIds: this.overIds.slice(),
      dropped: this.dropped,
    };
  }

  /** Throws OverLengthError under `fail` when any example was over. */
  finish(): CutoffReport {
    const r = this.report();
    if (this.policy === "fail" && r.total.over > 0) throw new OverLengthError(r);
    return r;
  }
}

function groupOf(m: Map<string, Group>, key: string): Group {
  let g = m.get(key);
  if (!g) m.set(key, (g = new Group()));
  return g;
}

/** Checks a list of examples; returns the ones kept under the policy and the report. */
export function checkCutoff<E extends LengthExample>(
  examples: Iterable<E>,
  opts: { tokenizer: Tokenizer; cutoff: number; policy?: OverLengthPolicy; trainer?: TrainerName },
): { kept: E[]; report: CutoffReport } {
  const c = new CutoffCounter(opts.tokenizer, opts.cutoff, opts.policy ?? "keep", opts.trainer);
  const kept: E[] = [];
  for (const ex of examples) if (c.add(ex)) kept.push(ex);
  return { kept, report: c.finish() };
}

/** The warning the `keep` policy prints, or undefined when nothing is over. */
export function overLengthWarning(r: CutoffReport): string | undefined {
  if (r.total.over === 0) return undefined;
  const per = Object.entries(r.bySource).filter(([, g]) => g.over > 0).map(([s, g]) => `${s} ${g.over}/${g.examples}`).join(", ");
  const verb = r.policy === "drop" ? "dropped" : "kept; the trainer will truncate them";
  return `${r.total.over} of ${r.total.examples} examples exceed the cutoff of ${r.cutoff} tokens (${r.tokenizer.name}): ${per}; ${verb}`;
}

/** A text table of the report: one row per source and per level. */
export function formatCutoff(r: CutoffReport): string {
  const rows = [["group", "examples", "over", "p50", "p90", "p99", "max"]];
  const row = (name: string, g: CutoffGroup) => rows.push([name, g.examples, g.over, g.p50, g.p90, g.p99, g.max].map(String));
  row("all", r.total);
  for (const [k, g] of Object.entries(r.bySource)) row(`source ${k}`, g);
  for (const [k, g] of Object.entries(r.byLevel)) row(`level ${k}`, g);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const head = `cutoff ${r.cutoff} tokens${r.trainer ? ` (${r.trainer} default)` : ""}, tokenizer ${r.tokenizer.name}, prompt + response tokens:`;
  return [head, ...rows.map((x) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "))].join("\n");
}
