import type { CorpusRecord } from "../record.js";
import { makeRng } from "../rng.js";
import { FAMILIES, MIXED_FAMILIES, type FamilyName } from "./families.js";
import { resolveKnobs, type SynthKnobs } from "./knobs.js";

export { STYLES, type SynthStyle } from "./render.js";
export type { SynthKnobs } from "./knobs.js";
export { FAMILIES, type FamilyName } from "./families.js";

const MAX_REDRAWS = 30;

/** Task families `synth` can write (`mixed` takes arith, word, lineq and root in turn). */
export const SYNTH_TASKS = ["arith", "word", "lineq", "root", "chain", "mixed"] as const;
export type SynthTask = (typeof SYNTH_TASKS)[number];

export interface SynthOptions extends SynthKnobs {
  /** A family (arith, word, lineq, root, chain) or `mixed` (the first four in turn). */
  task: SynthTask;
  n: number;
  seed: number;
  /** Levels to draw from, uniformly (default 1-5). */
  levels?: number[];
}

/**
 * Synthetic reasoning questions with responses in every teacher style (long, short, large, small, pad,
 * long_noslip). Question i depends only on (seed, task, i, knobs), so a larger n extends a smaller one.
 */
export function synth(opts: SynthOptions): CorpusRecord[] {
  const { task, n, seed } = opts;
  if (!SYNTH_TASKS.includes(task)) throw new Error(`synth: unknown task ${JSON.stringify(task)} (expected ${SYNTH_TASKS.join(", ")})`);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`synth: n must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`synth: seed must be a non-negative integer, got ${seed}`);
  const levels = opts.levels ?? [1, 2, 3, 4, 5];
  if (levels.length === 0 || !levels.every((l) => Number.isInteger(l) && l >= 1 && l <= 5))
    throw new Error(`synth: levels must be integers 1-5, got ${JSON.stringify(levels)}`);
  const knobs = resolveKnobs(opts);
  const names: readonly FamilyName[] = MIXED_FAMILIES;
  const out: CorpusRecord[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const family: FamilyName = task === "mixed" ? names[i % names.length]! : task;
    const rng = makeRng(seed, task, i);
    let level = levels[rng.int(levels.length)]!;
    // Questions are unique (redraws with derived streams), so no question leaks between a train and
    // a test split of the same corpus. When a level's space is used up (one +/- step of a one-digit
    // number has 1,440 questions), the question comes from the next level that still has room.
    let item = FAMILIES[family](rng, level, knobs);
    const tryLevels = [level, ...levels.filter((l) => l !== level).sort((a, b) => a - b)];
    for (const [li, l] of tryLevels.entries()) {
      for (let attempt = li === 0 ? 1 : 0; seen.has(item.question) && attempt <= MAX_REDRAWS; attempt++) {
        item = FAMILIES[family](makeRng(seed, task, i, "redraw", attempt, ...(li === 0 ? [] : ["level", l])), l, knobs);
        level = l;
      }
      if (!seen.has(item.question)) break;
    }
    seen.add(item.question);
    out.push({ id: `${task}-${seed}-${i}`, question: item.question, answer: item.answer, level, subject: family, responses: { ...item.responses } });
  }
  return out;
}
