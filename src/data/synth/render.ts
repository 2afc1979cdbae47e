/**
 * Renders a worked solution, given as segments of arithmetic, in each teacher style.
 * Families (arith, word, lineq) describe WHAT is computed; this file decides HOW each style writes it.
 */
import { makeRng, type Rng } from "../rng.js";
import type { ResolvedKnobs } from "./knobs.js";
import { decomposeProduct, fmt, isMultiDigitProduct, longStep, padTo, planSteps, shortProduct, type Op } from "./steps.js";

export interface Segment {
  /** What this part does, in words ("She buys 3 boxes of 7"). */
  say: string;
  ops: Op[];
  /** Short manner: the segment written as one line without the ops (e.g. "2x = 18, so x = 9."); optional. */
  shortText?: string;
}

export interface Worked {
  question: string;
  answer: string;
  intro: string;
  segments: Segment[];
  /** Extra verification the long trace ends with (e.g. substituting the solution back), as lines. */
  verify?: string[];
  /** Line restating the result, before \boxed{}. */
  conclusion: string;
}

/** Teacher response styles of a synthetic corpus (the response keys of its records). */
export const STYLES = ["long", "short", "large", "small", "pad", "long_noslip"] as const;
export type SynthStyle = (typeof STYLES)[number];

const boxed = (a: string): string => `\\boxed{${a}}`;

function shortLines(w: Worked, implicitFlags: boolean[]): string[] {
  let k = 0;
  return w.segments.map((seg) => {
    if (seg.shortText) {
      k += seg.ops.length;
      return seg.shortText;
    }
    return seg.ops.map((o) => shortProduct(o, implicitFlags[k++]!)).join(" ");
  });
}

function longLines(w: Worked, plans: ReturnType<typeof planSteps>, knobs: ResolvedKnobs, slips: boolean, rng: Rng): string[] {
  const out = ["Let me think step by step.", w.intro];
  let k = 0;
  for (const seg of w.segments) {
    out.push(seg.say);
    for (const o of seg.ops) out.push(...longStep(o, plans[k++], knobs, slips, rng));
  }
  if (w.verify && knobs.checks !== "none") out.push(...w.verify);
  const results = w.segments.flatMap((s) => s.ops.map((o) => String(o.r)));
  if (results.length > 1) out.push(`Recap: ${results.join(", ")}.`);
  out.push(`${w.conclusion} So the answer is ${boxed(w.answer)}`);
  return out;
}

function largeLines(w: Worked): string[] {
  const out = [`To solve this, we work through it step by step. ${w.intro}`];
  w.segments.forEach((seg, i) => {
    out.push(`Step ${i + 1}: ${seg.say}`);
    for (const o of seg.ops) {
      if (isMultiDigitProduct(o)) {
        const d = decomposeProduct(o);
        out.push(`${d.lines[0]} = ${d.partials.map((p) => p.r).join(" + ")} = ${o.r}.`);
      } else out.push(`${fmt(o)}.`);
    }
  });
  out.push(`${w.conclusion} Therefore, the final answer is ${boxed(w.answer)}`);
  return out;
}

function smallLines(w: Worked, implicitFlags: boolean[]): string[] {
  return [...shortLines(w, implicitFlags).map((l, i) => (i === 0 ? `We compute: ${l}` : l)), `The answer is ${boxed(w.answer)}`];
}

/** All styles of one worked solution. Deterministic given the rng state. */
export function renderAll(w: Worked, rng: Rng, knobs: ResolvedKnobs): Record<SynthStyle, string> {
  const nOps = w.segments.reduce((s, g) => s + g.ops.length, 0);
  const implicitFlags = Array.from({ length: nOps }, () => rng.chance(knobs.implicit));
  const plans = planSteps(nOps, rng, knobs);
  const short = [...shortLines(w, implicitFlags), boxed(w.answer)].join("\n");
  // long and long_noslip draw the same numbers, so the latter is the former minus its slips.
  const state = rng.next();
  const long = longLines(w, plans, knobs, true, replay(state)).join("\n");
  const longNoslip = longLines(w, plans, knobs, false, replay(state)).join("\n");
  return {
    long,
    short,
    large: largeLines(w).join("\n"),
    small: smallLines(w, implicitFlags).join("\n"),
    pad: padTo(short, long.length, knobs.filler),
    long_noslip: longNoslip,
  };
}

const replay = (state: number): Rng => makeRng(Math.floor(state * 2 ** 32), "long");
