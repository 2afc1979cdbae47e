/** The synthetic task families: each builds a question and its worked solution at a level 1-5. */
import { makeRng, type Rng } from "../rng.js";
import type { ResolvedKnobs } from "./knobs.js";
import { renderAll, type Segment, type SynthStyle, type Worked } from "./render.js";
import { chain } from "./chain.js";
import { checkLine, decomposeProduct, fmt, isMultiDigitProduct, op, padTo, planSteps, wrongValue } from "./steps.js";

export interface SynthItem {
  question: string;
  answer: string;
  responses: Record<SynthStyle, string>;
}

export type Family = (rng: Rng, level: number, knobs: ResolvedKnobs) => SynthItem;

const digits = (rng: Rng, n: number): number => rng.range(10 ** (n - 1), 10 ** n - 1);

/** Multi-digit arithmetic with carries: the short trace may write a product in one go. */
export const arith: Family = (rng, level, knobs) => {
  const shapes: Array<[number, number]> = [[2, 1], [2, 2], [3, 2], [3, 3], [3, 2]];
  const [da, db] = shapes[level - 1]!;
  const a = digits(rng, da);
  const b = digits(rng, db);
  const p = op("*", a, b);
  const segments: Segment[] = [{ say: `First, multiply ${a} by ${b}.`, ops: [p] }];
  let question = `Compute ${a} * ${b}.`;
  let answer = p.r;
  if (level === 5) {
    const c = digits(rng, 2);
    const d = digits(rng, 2);
    const q = op("*", c, d);
    const s = op("+", p.r, q.r);
    segments.push({ say: `Next, multiply ${c} by ${d}.`, ops: [q] }, { say: "Then add the two products.", ops: [s] });
    question = `Compute ${a} * ${b} + ${c} * ${d}.`;
    answer = s.r;
  }
  const w: Worked = { question, answer: String(answer), intro: `We need ${question.slice(8, -1)}.`, segments, conclusion: `The value is ${answer}.` };
  return { question, answer: w.answer, responses: renderAll(w, rng, knobs) };
};

const NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"];
const ITEMS = ["apples", "marbles", "stickers", "books", "coins", "shells", "pencils", "cards"];

/** Multi-step word problems from templates; the level is the number of steps after the start. */
export const word: Family = (rng, level, knobs) => {
  const name = rng.pick(NAMES);
  const item = rng.pick(ITEMS);
  const big = level >= 4;
  let x = rng.range(big ? 20 : 5, big ? 99 : 30);
  const sentences = [`${name} has ${x} ${item}.`];
  const segments: Segment[] = [];
  for (let i = 0; i < level; i++) {
    const kinds = ["buy", "give", "boxes", "find", "times"];
    let kind = rng.pick(kinds);
    if (kind === "give" && x < 4) kind = "buy";
    if (kind === "times" && x > 200) kind = "give";
    switch (kind) {
      case "buy": {
        const k = rng.range(2, big ? 60 : 20);
        sentences.push(`${name} buys ${k} more.`);
        segments.push({ say: `Buying ${k} more adds ${k}.`, ops: [op("+", x, k)] });
        x += k;
        break;
      }
      case "find": {
        const k = rng.range(2, big ? 40 : 15);
        sentences.push(`Then ${name} finds ${k} ${item}.`);
        segments.push({ say: `Finding ${k} adds ${k}.`, ops: [op("+", x, k)] });
        x += k;
        break;
      }
      case "give": {
        const k = rng.range(1, Math.max(1, Math.floor(x / 2)));
        sentences.push(`${name} gives ${k} to a friend.`);
        segments.push({ say: `Giving away ${k} takes away ${k}.`, ops: [op("-", x, k)] });
        x -= k;
        break;
      }
      case "boxes": {
        const m = rng.range(2, big ? 12 : 6);
        const k = rng.range(big ? 11 : 3, big ? 25 : 9);
        const t = op("*", m, k);
        sentences.push(`${name} gets ${m} boxes with ${k} ${item} in each.`);
        segments.push({ say: `${m} boxes of ${k} is ${m} * ${k}, added to ${x}.`, ops: [t, op("+", x, t.r)] });
        x += t.r;
        break;
      }
      default: {
        const k = rng.range(2, big ? 4 : 3);
        const word = k === 2 ? "doubles" : k === 3 ? "triples" : "quadruples";
        sentences.push(`The number of ${item} ${word}.`);
        segments.push({ say: `${word[0]!.toUpperCase() + word.slice(1)} means times ${k}.`, ops: [op("*", x, k)] });
        x *= k;
      }
    }
  }
  const question = `${sentences.join(" ")} How many ${item} does ${name} have now?`;
  const w: Worked = {
    question,
    answer: String(x),
    intro: `${name} starts with ${sentences[0]!.split(" ")[2]} ${item}.`,
    segments,
    conclusion: `${name} ends with ${x} ${item}.`,
  };
  return { question, answer: w.answer, responses: renderAll(w, rng, knobs) };
};

const lin = (coef: number, c: number): string => `${coef === 1 ? "" : coef}x${c === 0 ? "" : c > 0 ? ` + ${c}` : ` - ${-c}`}`;

/**
 * Linear equations with a positive integer solution. The long trace ends by substituting the solution
 * back: new numbers that cannot be copied, and easier than the solve itself.
 */
export const lineq: Family = (rng, level, knobs) => {
  const x = rng.range(2, level <= 2 ? 12 : 30);
  const a = rng.range(level >= 3 ? 6 : 2, level >= 3 ? 19 : 9);
  const c = level === 1 ? 0 : rng.range(1, a - 1);
  const segments: Segment[] = [];
  let question: string;
  let verify: string[];
  if (level <= 3) {
    const b = rng.range(1, level >= 3 ? 60 : 20);
    const d = a * x + b - c * x; // ax + b = cx + d
    question = c === 0 ? `Solve for x: ${lin(a, b)} = ${d}.` : `Solve for x: ${lin(a, b)} = ${lin(c, d)}.`;
    const k = op("-", a, c);
    const t = op("-", d, b);
    if (c !== 0) segments.push({ say: `Collect the x terms on the left: ${a}x - ${c}x.`, ops: [k], shortText: `${a}x - ${c}x = ${k.r}x.` });
    segments.push({ say: `Move ${b} to the right: ${d} - ${b}.`, ops: [t], shortText: `${d} - ${b} = ${t.r}, so ${k.r}x = ${t.r}.` });
    segments.push({ say: `Divide both sides by ${k.r}.`, ops: [op("/", t.r, k.r)], shortText: `x = ${t.r} / ${k.r} = ${x}.` });
    const l1 = op("*", a, x), l2 = op("+", l1.r, b), r1 = op("*", c, x), r2 = op("+", r1.r, d);
    verify = c === 0
      ? [`Substitute x = ${x} back: ${fmt(l1)}, ${fmt(l2)}, which is ${d}. It checks out.`]
      : [`Substitute x = ${x} back: left ${fmt(l1)}, ${fmt(l2)}; right ${fmt(r1)}, ${fmt(r2)}. Both sides are ${l2.r}.`];
  } else {
    // a(x + b) = cx + d, and at level 5 a(x + b) = c(x + e) + d.
    const b = rng.range(2, 15);
    const e = level === 5 ? rng.range(2, 15) : 0;
    const d = a * (x + b) - c * (x + e);
    if (d <= 0) return lineq(rng, level, knobs);
    const ab = op("*", a, b);
    const ce = op("*", c, e);
    const right = level === 5 ? `${c}(x + ${e}) + ${d}` : lin(c, d);
    question = `Solve for x: ${a}(x + ${b}) = ${right}.`;
    segments.push({ say: `Expand the left side: ${a}x + ${a} * ${b}.`, ops: [ab], shortText: `${a}(x + ${b}) = ${lin(a, ab.r)}.` });
    let rc = d;
    if (level === 5) {
      const s = op("+", ce.r, d);
      segments.push({ say: `Expand the right side: ${c}x + ${c} * ${e} + ${d}.`, ops: [ce, s], shortText: `${c}(x + ${e}) + ${d} = ${lin(c, s.r)}.` });
      rc = s.r;
    }
    const k = op("-", a, c);
    segments.push({ say: `Collect the x terms: ${a}x - ${c}x.`, ops: [k], shortText: `${a}x - ${c}x = ${k.r}x.` });
    if (rc < ab.r) return lineq(rng, level, knobs);
    const t = op("-", rc, ab.r);
    segments.push({ say: `Move ${ab.r} to the right: ${rc} - ${ab.r}.`, ops: [t], shortText: `${rc} - ${ab.r} = ${t.r}, so ${k.r}x = ${t.r}.` });
    segments.push({ say: `Divide both sides by ${k.r}.`, ops: [op("/", t.r, k.r)], shortText: `x = ${t.r} / ${k.r} = ${x}.` });
    const l1 = op("+", x, b), l2 = op("*", a, l1.r), r1 = op("*", c, x + e), r2 = op("+", r1.r, d);
    verify = [`Substitute x = ${x} back: left ${fmt(l1)}, ${fmt(l2)}; right ${c} * ${x + e} = ${r1.r}, ${fmt(r2)}. Both sides are ${l2.r}.`];
  }
  const w: Worked = { question, answer: String(x), intro: `We want the x that makes both sides equal.`, segments, verify, conclusion: `So x = ${x}.` };
  return { question, answer: w.answer, responses: renderAll(w, rng, knobs) };
};

/**
 * Find the positive integer n with n^2 + b*n = c: checking a candidate is a few multiplications,
 * solving needs a search. The long trace guesses and checks; the short one states n (implicit) or
 * states it with its verification.
 */
export const root: Family = (rng, level, knobs) => {
  const ranges: Array<[number, number]> = [[3, 9], [10, 19], [20, 39], [40, 69], [70, 99]];
  const [lo, hi] = ranges[level - 1]!;
  const n = rng.range(lo, hi);
  const b = rng.range(1, 9);
  const c = n * n + b * n;
  const question = `Find the positive integer n such that n^2 + ${b}n = ${c}.`;
  const answer = String(n);
  const sq = op("*", n, n), bn = op("*", b, n), sum = op("+", sq.r, bn.r);
  const implicit = rng.chance(knobs.implicit);
  const shortBody = implicit ? `n^2 + ${b}n = ${c} gives n = ${n}.` : `n = ${n}: ${n} * ${n} + ${b} * ${n} = ${sq.r} + ${bn.r} = ${c}.`;
  const short = `${shortBody}\n\\boxed{${answer}}`;
  const small = `We need n^2 + ${b}n = ${c}. n = ${n}, since ${n} * ${n} + ${b} * ${n} = ${c}.\nThe answer is \\boxed{${answer}}`;

  // Guesses: the square root of c (too big, since b*n > 0), then that minus b/2, then steps of one.
  let g = Math.floor(Math.sqrt(c));
  const guesses = [g];
  g = Math.max(1, g - Math.round(b / 2));
  if (g !== guesses[0]) guesses.push(g);
  while (guesses[guesses.length - 1] !== n) {
    const last = guesses[guesses.length - 1]!;
    guesses.push(last * last + b * last < c ? last + 1 : last - 1);
  }
  const plans = planSteps(guesses.length, rng, knobs);
  const state = rng.next();
  /** One guess in one line or three: the square (decomposed when multi-digit), b*m, the sum, the verdict. */
  const trialLines = (m: number, slip: boolean, r: Rng, detailed: boolean): string[] => {
    const s = op("*", m, m), t = op("*", b, m), v = op("+", s.r, t.r);
    const d = isMultiDigitProduct(s) ? decomposeProduct(s) : undefined;
    const sqText = (value: number): string => (d ? `${d.lines[0]} = ${d.partials.map((p) => p.r).join(" + ")} = ${value}` : fmt(s, value));
    const verdict = v.r === c ? `exactly ${c}.` : v.r < c ? `less than ${c}, so n is bigger.` : `more than ${c}, so n is smaller.`;
    const out = [`Try n = ${m}: ${sqText(s.r)}, ${fmt(t)}, ${fmt(v)}, ${verdict}`];
    if (!detailed || knobs.checks === "none") return out;
    // The long style: a slip in the square is caught by its check and redone.
    const wrong = slip ? wrongValue(s.r, r, (w) => !checkLine(s, w, knobs.checks).ok) : null;
    if (wrong === null) return out;
    return [`Try n = ${m}: ${sqText(wrong)}.`, checkLine(s, wrong, knobs.checks).text, `Wait, that's wrong. Redo: ${out[0]}`];
  };
  const longTrace = (slips: boolean, detailed: boolean): string => {
    const r = makeReplay(state);
    const out = detailed
      ? ["Let me think. Checking a guess is easy, so I will guess and check.", `n^2 < ${c}, so n is at most about ${guesses[0]}.`]
      : [`To solve this, we look for n by trying values. Since n^2 < ${c}, n is at most ${guesses[0]}.`];
    guesses.forEach((m, i) => out.push(...trialLines(m, slips && plans[i]!.slip, r, detailed)));
    if (detailed && knobs.checks !== "none") out.push(checkLine(sum, sum.r, knobs.checks).text);
    out.push(detailed ? `So n = ${n}. The answer is \\boxed{${answer}}` : `Therefore, the final answer is \\boxed{${answer}}`);
    return out.join("\n");
  };
  const long = longTrace(true, true);
  return {
    question,
    answer,
    responses: {
      long,
      short,
      large: longTrace(false, false),
      small,
      pad: padTo(short, long.length, knobs.filler),
      long_noslip: longTrace(false, true),
    },
  };
};

const makeReplay = (state: number): Rng => makeRng(Math.floor(state * 2 ** 32), "long");

export const FAMILIES = { arith, word, lineq, root, chain } as const;
/** The families `mixed` takes in turn. */
export const MIXED_FAMILIES = ["arith", "word", "lineq", "root"] as const;
export type FamilyName = keyof typeof FAMILIES;
