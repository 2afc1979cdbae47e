/** The knobs of the synthetic tasks; see docs/data.md for what each changes in the traces. */
export interface SynthKnobs {
  /**
   * How much computation the short (and small-teacher) trace leaves implicit, 0..1: the chance that a
   * multi-digit product (or a whole solve) is written in one go instead of decomposed. The long trace
   * always decomposes. Default 1.
   */
  implicit?: number;
  /**
   * The self-checks of the long trace: `digit-sum` (casting out nines: the check's numbers are new,
   * so a student cannot copy them from earlier text), `inverse` (undo the step: its result is a
   * number already in the text, so copyable), or `none`. Default `digit-sum`.
   */
  checks?: "digit-sum" | "inverse" | "none";
  /** Chance per step that the long trace slips, notices it through a check and redoes it. Default 0.2. */
  slipRate?: number;
  /** Reflection phrases in the long trace ("Let me think step by step.", "Wait, that's wrong."); `chain` only. Default true. */
  reflection?: boolean;
  /** A recap line of every intermediate result before the answer in the long trace; `chain` only. Default true. */
  recap?: boolean;
  /** Digits of the numbers added to or taken from the two-digit start of a `chain` question, 1 or 2. Default 2. */
  operandDigits?: 1 | 2;
  /** The content-free unit the `pad` style repeats after the answer. Default ".". */
  filler?: string;
}

export type ResolvedKnobs = Required<SynthKnobs>;

export function resolveKnobs(k: SynthKnobs): ResolvedKnobs {
  const implicit = k.implicit ?? 1;
  const slipRate = k.slipRate ?? 0.2;
  if (!(implicit >= 0 && implicit <= 1)) throw new Error(`synth: implicit must be in [0, 1], got ${implicit}`);
  if (!(slipRate >= 0 && slipRate <= 1)) throw new Error(`synth: slipRate must be in [0, 1], got ${slipRate}`);
  const checks = k.checks ?? "digit-sum";
  if (!["digit-sum", "inverse", "none"].includes(checks)) throw new Error(`synth: checks must be digit-sum, inverse or none, got ${String(checks)}`);
  const filler = k.filler ?? ".";
  if (filler.length === 0 || /[0-9]/.test(filler)) throw new Error("synth: filler must be a non-empty string without digits");
  const reflection = k.reflection ?? true;
  const recap = k.recap ?? true;
  if (typeof reflection !== "boolean") throw new Error(`synth: reflection must be true or false, got ${String(reflection)}`);
  if (typeof recap !== "boolean") throw new Error(`synth: recap must be true or false, got ${String(recap)}`);
  const operandDigits = k.operandDigits ?? 2;
  if (operandDigits !== 1 && operandDigits !== 2) throw new Error(`synth: operandDigits must be 1 or 2, got ${String(operandDigits)}`);
  return { implicit, checks, slipRate, filler, reflection, recap, operandDigits };
}
