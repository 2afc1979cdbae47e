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
  /** The content-free unit the `pad` style repeats. Default ".". */
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
  return { implicit, checks, slipRate, filler };
}
