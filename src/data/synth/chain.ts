/**
 * The `chain` family: a running total from a two-digit start under 1-5 additions and subtractions
 * of one- or two-digit numbers (`operandDigits`; "Compute 47 + 8 - 6.", "Compute 47 + 18 - 23."). It is the task the toy students learn at a laptop budget (a PyTorch
 * pilot on this kind of machine reached ~48% with short traces at 0.6M parameters and 6 epochs),
 * and it renders every knob of the study on its own:
 *
 * - verbosity (`long`: the paper's long CoT of a reasoning model): restatement and reflection
 *   phrases (`reflection`), a check after every step (`checks`; digit-sum checks cannot be copied
 *   from the text), slips caught by the check and redone (`slipRate`), and a recap (`recap`);
 * - granularity (`implicit`): how often the short trace writes a step in one go instead of by place
 *   value (47 + 18 = 47 + 10 + 8 = 57 + 8 = 65); the long and small traces always write it out;
 * - teacher strength, both short CoT without reflection (the paper's Large Model CoT Gap):
 *   `large` (a strong teacher) writes denser, more advanced steps: it nets the changes first
 *   (18 - 23 + 9 = 4) and applies them in one step; `small` (a weak teacher) writes plain steps,
 *   one operation per line, each by place value, in words a weak model uses.
 */
import { makeRng, type Rng } from "../rng.js";
import type { ResolvedKnobs } from "./knobs.js";
import type { SynthStyle } from "./render.js";
import { checkLine, fmt, op, padTo, wrongValue, type Op } from "./steps.js";

interface ChainItem {
  question: string;
  answer: string;
  responses: Record<SynthStyle, string>;
}

const boxed = (a: string | number): string => `\\boxed{${a}}`;

/**
 * A +/- step written out: by place value of a two-digit second operand (47 + 18 = 47 + 10 + 8 =
 * 57 + 8 = 65), or through the next ten for a one-digit one that crosses it (8 + 5 = 8 + 2 + 3 =
 * 10 + 3 = 13). Steps with nothing to split are written as they are.
 */
export function placeValueStep(o: Op): string {
  if (o.b < 10) {
    const t = o.kind === "+" ? 10 - (o.a % 10) : o.a % 10;
    if (t === 0 || t === 10 || o.b <= t) return `${fmt(o)}.`;
    const mid = o.kind === "+" ? o.a + t : o.a - t;
    return `${o.a} ${o.kind} ${o.b} = ${o.a} ${o.kind} ${t} ${o.kind} ${o.b - t} = ${mid} ${o.kind} ${o.b - t} = ${o.r}.`;
  }
  const tens = Math.floor(o.b / 10) * 10;
  const ones = o.b % 10;
  if (tens === 0 || ones === 0) return `${fmt(o)}.`;
  const mid = o.kind === "+" ? o.a + tens : o.a - tens;
  return `${o.a} ${o.kind} ${o.b} = ${o.a} ${o.kind} ${tens} ${o.kind} ${ones} = ${mid} ${o.kind} ${ones} = ${o.r}.`;
}

/** Builds a chain question at `level` (its number of operations) and its responses in every style. */
export function chain(rng: Rng, level: number, knobs: ResolvedKnobs): ChainItem {
  const two = knobs.operandDigits === 2;
  // A two-digit start either way: with one-digit operands it keeps the question space large
  // (90 x 8 x 2 one-step questions, ~23,000 two-step ones), so train and test need not share questions.
  const start = rng.range(10, 99);
  const ops: Op[] = [];
  let x = start;
  for (let i = 0; i < level; i++) {
    const k = two ? rng.range(11, 99) : rng.range(2, 9);
    const kind = x - k >= 0 && rng.chance(0.5) ? "-" : "+";
    const o = op(kind, x, k);
    ops.push(o);
    x = o.r;
  }
  const expr = `${start} ${ops.map((o) => `${o.kind} ${o.b}`).join(" ")}`;
  const question = `Compute ${expr}.`;
  const answer = String(x);

  // Granularity of the short trace: which steps are written out by place value.
  const written = ops.map(() => !rng.chance(knobs.implicit));
  const short = [...ops.map((o, i) => (written[i] ? placeValueStep(o) : `${fmt(o)}.`)), boxed(answer)].join("\n");

  // Long: restatement, reflection, every step by place value, a check each, slips redone, recap.
  const slips = ops.map(() => knobs.checks !== "none" && rng.chance(knobs.slipRate));
  const slipRng = rng.next();
  const longTrace = (withSlips: boolean): string => {
    const r = replay(slipRng);
    const out: string[] = [];
    if (knobs.reflection) out.push("Let me think step by step.");
    out.push(`We need ${expr}. Start with ${start}.`);
    ops.forEach((o, i) => {
      out.push(`${o.kind === "+" ? "Add" : "Subtract"} ${o.b}.`);
      const wrong = wrongValue(o.r, r, (w) => knobs.checks === "none" || !checkLine(o, w, knobs.checks).ok);
      if (withSlips && slips[i] && wrong !== null) {
        out.push(`${fmt(o, wrong)}.`, checkLine(o, wrong, knobs.checks).text);
        out.push(knobs.reflection ? `Wait, that's wrong. Redo: ${placeValueStep(o)}` : `Redo: ${placeValueStep(o)}`);
      } else out.push(placeValueStep(o));
      if (knobs.checks !== "none") out.push(checkLine(o, o.r, knobs.checks).text);
    });
    if (knobs.recap && ops.length > 1) out.push(`Recap: ${ops.map((o) => o.r).join(", ")}.`);
    out.push(`${knobs.reflection ? "So the total is" : "The total is"} ${answer}. The answer is ${boxed(answer)}`);
    return out.join("\n");
  };
  const long = longTrace(true);

  // Large (strong teacher): net the changes, then one step.
  let large: string;
  if (ops.length === 1) large = `${fmt(ops[0]!)}.\n${boxed(answer)}`;
  else {
    const net = ops.reduce((s, o) => s + (o.kind === "+" ? o.b : -o.b), 0);
    const first = ops[0]!;
    const netExpr = `${first.kind === "-" ? "-" : ""}${first.b} ${ops.slice(1).map((o) => `${o.kind} ${o.b}`).join(" ")}`;
    const apply = net >= 0 ? `${start} + ${net} = ${x}` : `${start} - ${-net} = ${x}`;
    large = `Net change: ${netExpr} = ${net}.\n${apply}.\n${boxed(answer)}`;
  }

  // Small (weak teacher): one plain operation per line, by place value.
  const small = [`Start with ${start}.`, ...ops.map((o) => `${o.kind === "+" ? "Add" : "Take away"} ${o.b}: ${placeValueStep(o)}`), `The answer is ${boxed(answer)}`].join("\n");

  return {
    question,
    answer,
    responses: { long, short, large, small, pad: padTo(short, long.length, knobs.filler), long_noslip: longTrace(false) },
  };
}

const replay = (state: number): Rng => makeRng(Math.floor(state * 2 ** 32), "chain-long");
