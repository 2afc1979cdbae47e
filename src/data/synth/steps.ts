/**
 * Shared pieces of the synthetic traces: arithmetic steps written in each manner, their checks and
 * their slips.
 */
import type { Rng } from "../rng.js";
import type { ResolvedKnobs } from "./knobs.js";

export type OpKind = "+" | "-" | "*" | "/";

export interface Op {
  kind: OpKind;
  a: number;
  b: number;
  r: number;
}

export const apply = (kind: OpKind, a: number, b: number): number =>
  kind === "+" ? a + b : kind === "-" ? a - b : kind === "*" ? a * b : a / b;

export const op = (kind: OpKind, a: number, b: number): Op => ({ kind, a, b, r: apply(kind, a, b) });

export const fmt = (o: Op, r: number = o.r): string => `${o.a} ${o.kind} ${o.b} = ${r}`;

/** Digit root (casting out nines) of a non-negative integer, written as the chain a student would write. */
export function digitRootChain(n: number): { chain: string; root: number } {
  let x = Math.abs(n);
  const parts = [String(x)];
  while (x >= 10) {
    x = String(x).split("").reduce((s, d) => s + Number(d), 0);
    parts.push(String(x));
  }
  if (x === 9) {
    parts.push("0");
    x = 0;
  }
  return { chain: parts.join(" -> "), root: x };
}

const mod9 = (n: number): number => ((n % 9) + 9) % 9;

/** Per-step plan shared by `long` and `long_noslip`, so that the latter is the former minus its slips. */
export interface StepPlan {
  slip: boolean;
}

/** A plausible wrong result that `caught` (the trace's check) flags; null if none is found. */
export function wrongValue(r: number, rng: Rng, caught: (w: number) => boolean = (w) => mod9(w - r) !== 0): number | null {
  for (let tries = 0; tries < 50; tries++) {
    const d = rng.pick([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 20, 100]);
    const w = rng.chance(0.5) || r - d < 0 ? r + d : r - d;
    if (w !== r && w >= 0 && caught(w)) return w;
  }
  return null;
}

export function planSteps(n: number, rng: Rng, knobs: ResolvedKnobs): StepPlan[] {
  const plans: StepPlan[] = [];
  for (let i = 0; i < n; i++) plans.push({ slip: knobs.checks !== "none" && rng.chance(knobs.slipRate) });
  return plans;
}

/** A check of `value` as the result of `o`; returns the line and whether it passes. */
export function checkLine(o: Op, value: number, checks: ResolvedKnobs["checks"]): { text: string; ok: boolean } {
  if (checks === "inverse") {
    // Undo the step: the number it should give back is already in the text (copyable).
    const back =
      o.kind === "+" ? op("-", value, o.b) : o.kind === "-" ? op("+", value, o.b) : o.kind === "*" ? { kind: "/" as const, a: value, b: o.b, r: value / o.b } : op("*", value, o.b);
    const r = Number.isInteger(back.r) ? back.r : Number(back.r.toFixed(2));
    const ok = r === o.a;
    return { text: `Check: ${back.a} ${back.kind} ${back.b} = ${r}${ok ? `, which is ${o.a}. Good.` : `, not ${o.a}.`}`, ok };
  }
  // Casting out nines: digit roots of the operands, the operation mod 9, against the result's root.
  // None of these small numbers appears earlier in the trace, so the check cannot be copied.
  const ra = digitRootChain(o.a);
  const rb = digitRootChain(o.b);
  const rv = digitRootChain(value);
  if (o.kind === "/" && mod9(o.b) % 3 === 0) {
    // Mod 9 cannot see errors in a quotient by a multiple of 3: multiply back instead.
    const p = value * o.b;
    const ok = p === o.a;
    return { text: `Check: ${value} * ${o.b} = ${p}${ok ? `, which is ${o.a}. ok.` : `, not ${o.a}. mismatch!`}`, ok };
  }
  if (o.kind === "/") {
    // value * b should give a again, mod 9.
    const raw = rv.root * rb.root;
    const got = mod9(raw);
    const ok = got === mod9(ra.root);
    const prod = raw >= 9 ? `${raw} -> ${got}` : String(raw);
    return { text: `Check mod 9: ${rv.chain}, ${rb.chain}, ${rv.root} * ${rb.root} = ${prod}; ${ra.chain}. ${ok ? "ok." : "mismatch!"}`, ok };
  }
  const raw = apply(o.kind, ra.root, rb.root);
  const expect = mod9(raw);
  const lhs = `${ra.root} ${o.kind} ${rb.root} = ${raw}` + (raw < 0 || raw >= 9 ? ` -> ${expect}` : "");
  const ok = expect === mod9(rv.root);
  return { text: `Check mod 9: ${ra.chain}, ${rb.chain}, ${lhs}; ${rv.chain}. ${ok ? "ok." : "mismatch!"}`, ok };
}

/** Place-value parts of n, largest first: 305 -> [300, 5]. */
export function placeParts(n: number): number[] {
  const s = String(Math.abs(n));
  const parts: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const d = Number(s[i]);
    if (d !== 0) parts.push(d * 10 ** (s.length - 1 - i));
  }
  return parts.length ? parts : [0];
}

/** True when a product is worth decomposing (more than one non-zero digit on some side). */
export const isMultiDigitProduct = (o: Op): boolean => o.kind === "*" && (placeParts(o.a).length > 1 || placeParts(o.b).length > 1);

/** A product decomposed by place value: the lines, and the partial-product ops. */
export function decomposeProduct(o: Op): { lines: string[]; partials: Op[]; sum: Op[] } {
  // Split the factor with more non-zero digits; keep the other whole.
  const splitB = placeParts(o.b).length >= placeParts(o.a).length;
  const whole = splitB ? o.a : o.b;
  const parts = placeParts(splitB ? o.b : o.a);
  const partials = parts.map((p) => (splitB ? op("*", whole, p) : op("*", p, whole)));
  const lines = [`${o.a} * ${o.b} = ${partials.map((p) => `${p.a} * ${p.b}`).join(" + ")}`];
  const sum: Op[] = [];
  let acc = partials[0]!.r;
  for (let i = 1; i < partials.length; i++) {
    const s = op("+", acc, partials[i]!.r);
    sum.push(s);
    acc = s.r;
  }
  return { lines, partials, sum };
}

/** The short manner of a product: in one go (implicit) or as a compact decomposition. */
export function shortProduct(o: Op, implicit: boolean): string {
  if (implicit || !isMultiDigitProduct(o)) return `${fmt(o)}.`;
  const d = decomposeProduct(o);
  return `${o.a} * ${o.b} = ${d.partials.map((p) => p.r).join(" + ")} = ${o.r}.`;
}

/**
 * One computation in the long manner: the step (decomposed when it is a multi-digit product), a check,
 * and, when the plan says so and slips are on, a wrong first result that the check catches and redoes.
 */
export function longStep(o: Op, plan: StepPlan | undefined, knobs: ResolvedKnobs, slips: boolean, rng: Rng): string[] {
  const out: string[] = [];
  const subs: Op[] = [];
  if (isMultiDigitProduct(o)) {
    const d = decomposeProduct(o);
    out.push(...d.lines);
    subs.push(...d.partials, ...d.sum);
  } else subs.push(o);
  // A slip (when planned) hits the last sub-step, i.e. the step's own result.
  const last = subs[subs.length - 1]!;
  const wrong = wrongValue(last.r, rng, (w) => knobs.checks === "none" || !checkLine(last, w, knobs.checks).ok);
  subs.forEach((s, i) => {
    const last = i === subs.length - 1;
    if (last && plan?.slip && slips && wrong !== null && knobs.checks !== "none") {
      out.push(`${fmt(s, wrong)}.`);
      out.push(checkLine(s, wrong, knobs.checks).text);
      out.push(`Wait, that's wrong. Redo: ${fmt(s)}.`);
      return;
    }
    out.push(`${fmt(s)}.`);
  });
  if (knobs.checks !== "none") out.push(checkLine(o, o.r, knobs.checks).text);
  return out;
}

/**
 * Pads a short trace to `target` characters with one line of content-free filler after the answer.
 * The filler costs the training budget of a trace of the long length, but nothing has to be carried
 * across it and where it ends does not matter: the answer is written before it. (Filler between the
 * steps, as an earlier version placed it, has an end no student can predict, so greedy decoding
 * never leaves it and the answer is never written.)
 */
export function padTo(short: string, target: number, filler: string): string {
  const missing = target - short.length;
  // The filler line costs its text plus one newline.
  if (missing <= 1) return short;
  const len = missing - 1;
  return `${short}\n${filler.repeat(Math.ceil(len / filler.length)).slice(0, len)}`;
}
