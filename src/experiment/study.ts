/**
 * The toy learnability-gap study: named presets (`quick`, `full`) that fix the task, its knobs, the
 * students, the variants, seeds, budget rules and data scales; a measured wall-time estimate before a
 * study starts; and a runner that executes the preset's parts in order on one results store
 * (resumable: finished cells are never recomputed) and summarises the gaps with intervals.
 */
import type { CorpusRecord } from "../data/record.js";
import { splitTrainTest } from "../data/corpus.js";
import { synth, type SynthOptions } from "../data/synth/index.js";
import type { EvalExample, TrainConfig } from "../train/spec.js";
import { runTrainEval } from "../train/run.js";
import { initBackend } from "../backend.js";
import { initMatMul, matMulInfo, resolveMatMulEngine, type MatMulChoice } from "../model/blas.js";
import { gap, mixGains, type GapReport } from "../gap/metrics.js";
import { AVERAGE, ResultSet } from "../gap/results.js";
import { evalExamples, mixLarge, mixLong, mixVariant, sourceVariant } from "./variants.js";
import { budgetLabel, cellRows, epochTokens, planSweep, runSweep, type DataVariant, type SweepEvent } from "./sweep.js";
import { ResultsStore } from "./store.js";
import type { CellRunner } from "./pool.js";

/** How a study's variants are budgeted: the paper's equal epochs, or equal training tokens. */
export type BudgetRule = "equal-epochs" | "equal-tokens";

/** One part of a study: a grid run (and committed) as a unit, most important part first. */
export interface StudyPart {
  name: string;
  /** What the part answers. */
  description: string;
  students: string[];
  /**
   * Variant names: `long`, `short`, `mix-long` (long:short 1:4), `large`, `small`, `mix-large`
   * (large:small 1:4), and `long@W` for a point of the mix-weight curve (share W of long traces).
   */
  variants: string[];
  seeds: number[];
  budgets: BudgetRule[];
  /** Training questions (the data-scale knob): one grid per value. */
  trainQuestions: number[];
}

export interface StudyPreset {
  name: string;
  description: string;
  /** The synthetic task with its knobs (verbosity, granularity); `n` and `seed` come from the preset. */
  task: Omit<SynthOptions, "n" | "seed">;
  /** Corpus seed; the test split is drawn once from it. */
  dataSeed: number;
  testQuestions: number;
  /** Epochs of the equal-epochs rule. */
  epochs: number;
  /** The equal-tokens rule gives every variant of an axis the tokens of this many epochs of its mix; default `epochs`. */
  tokenEpochs?: number;
  training: Omit<TrainConfig, "seed" | "budget">;
  parts: StudyPart[];
  /** Decoding cap in student tokens for every variant; default from the data (see `decodeCap`). */
  maxNewTokens?: number;
  /**
   * Training questions the corpus holds at least (default the largest data scale). Presets with the
   * same pool, seed and test size share their data, so their common cells are computed once.
   */
  poolQuestions?: number;
  /** Peak learning rate per student, overriding `training.lr` (see SweepConfig.lrByStudent). */
  lrByStudent?: Record<string, number>;
  /**
   * The wasm backend's matMul engine (SweepConfig.matmul); default "xnnpack", the engine of the
   * committed results. `{ ...studyPreset("quick"), matmul: "openblas" }` trains 2-3x faster
   * where native/openblas is built, in cells of their own.
   */
  matmul?: MatMulChoice;
}

const TRAINING: StudyPreset["training"] = { batchSize: 16, lr: 1e-2, warmupSteps: 20, weightDecay: 0.01, gradClip: 1 };

/**
 * Peak learning rates of the wider students: at 1e-2 (right for nano and micro) `mini` diverged
 * here (loss 0.4-0.8 after 630 steps, 0.3% accuracy), so the wider ones train at a lower rate.
 */
const LR_BY_STUDENT: Record<string, number> = { mini: 3e-3, small: 2e-3 };

/**
 * The task of both presets: a running total from a two-digit start under one or two +/- steps of a
 * one-digit number. Long traces: reflection, a digit-sum check after every step (its result cannot
 * be copied from the text), 20% slips caught and redone, a recap; short traces write every step in
 * one go. Measured here (micro, short traces, seed 0, 300 test questions none of which is a training
 * question): 3,000 questions x 6 epochs give 27.7% (50% at one step); the tokens of 4 epochs of
 * mix-long (about 8 epochs of short traces) 49.7% (92% at one step); 1,000 x 10 epochs 7%.
 */
const CHAIN: StudyPreset["task"] = { task: "chain", levels: [1, 2], operandDigits: 1, implicit: 1, checks: "digit-sum", slipRate: 0.2, reflection: true, recap: true };

/**
 * What every preset shares: the task, the corpus (seed, pool, test split), the epochs of the
 * equal-epochs rule and the training settings, so cells common to `quick` and `full` are computed once.
 */
const SHARED = {
  task: CHAIN,
  dataSeed: 2025,
  testQuestions: 300,
  poolQuestions: 3000,
  epochs: 6,
  tokenEpochs: 4,
  training: TRAINING,
  lrByStudent: LR_BY_STUDENT,
} satisfies Omit<StudyPreset, "name" | "description" | "parts">;

const SIX = ["short", "long", "mix-long", "large", "small", "mix-large"];
const N = 3000;

/** The named study presets: `quick` (a first reading) and `full` (the study a paper would report, in parts). */
export const STUDY_PRESETS: Record<"quick" | "full", StudyPreset> = {
  quick: {
    ...SHARED,
    name: "quick",
    description: "nano and micro, the six variants, one seed, equal tokens (12 runs: seed 0 of full's equal-tokens part, same data and settings).",
    parts: [{ name: "gap-vs-size", description: "both gaps and both mixes at two sizes, equal tokens (every variant of an axis trains on the tokens of 4 epochs of its mix)", students: ["nano", "micro"], variants: SIX, seeds: [0], budgets: ["equal-tokens"], trainQuestions: [N] }],
  },
  full: {
    ...SHARED,
    name: "full",
    description: "nano to small (32K-1.9M parameters), both axes with their mixes, 3 seeds, both budget rules, the mix-weight curve, a data-scale sweep, the long style taken apart (verbosity) and mini at equal epochs, in parts (most important first; run one with --parts).",
    parts: [
      { name: "gap-vs-size", description: "the Long CoT Gap and the Large Model CoT Gap at two sizes with both mixes, 3 seeds, equal epochs", students: ["nano", "micro"], variants: SIX, seeds: [0, 1, 2], budgets: ["equal-epochs"], trainQuestions: [N] },
      { name: "mix-weight", description: "accuracy against the share of long traces (the paper's Figure 6), one student", students: ["micro"], variants: ["long@0", "long@0.1", "long@0.2", "long@0.4", "long@0.6", "long@1"], seeds: [0, 1], budgets: ["equal-epochs"], trainQuestions: [N] },
      { name: "equal-tokens", description: "the same question under the equal-tokens rule (every variant of an axis gets the tokens of 4 epochs of its mix)", students: ["nano", "micro"], variants: SIX, seeds: [0, 1, 2], budgets: ["equal-tokens"], trainQuestions: [N] },
      { name: "data-scale", description: "the Long CoT Gap against the number of training questions (3,000 shared with gap-vs-size), one student", students: ["micro"], variants: ["short", "long", "mix-long"], seeds: [0], budgets: ["equal-epochs"], trainQuestions: [1000, 2000, N] },
      { name: "larger-students", description: "the top of the size range (0.6M and 1.9M parameters), both axes, 3 seeds, equal tokens (at equal epochs mini's long cell alone trains about an hour here, small's three)", students: ["mini", "small"], variants: SIX, seeds: [0, 1, 2], budgets: ["equal-tokens"], trainQuestions: [N] },
      { name: "larger-equal-epochs", description: "mini on the Long CoT axis at equal epochs, seeds 0 and 1: every variant gets the same optimizer steps, which equal tokens does not give a long trace (mini's long cell trains about an hour here)", students: ["mini"], variants: ["short", "long", "mix-long"], seeds: [0, 1], budgets: ["equal-epochs"], trainQuestions: [N] },
      { name: "verbosity", description: "what in a long trace hurts: long traces without their slips (long_noslip) and short traces padded after their answer with filler to the long length (pad), next to short and long, 3 seeds, equal tokens", students: ["nano", "micro"], variants: ["short", "long", "long_noslip", "pad"], seeds: [0, 1, 2], budgets: ["equal-tokens"], trainQuestions: [N] },
    ],
  },
};

/** A preset by name; throws naming the known presets. */
export function studyPreset(name: string): StudyPreset {
  const p = (STUDY_PRESETS as Record<string, StudyPreset>)[name];
  if (!p) throw new Error(`study: unknown preset ${JSON.stringify(name)} (expected ${Object.keys(STUDY_PRESETS).join(", ")})`);
  return p;
}

/** Which axis a variant belongs to: "long" (verbosity) or "large" (teacher strength). */
export function variantAxis(v: string): "long" | "large" {
  return v === "large" || v === "small" || v === "mix-large" ? "large" : "long";
}

/** Characters a student token can cover at most (the character tokenizer: one). */
const MARGIN = 16;

/**
 * The decoding cap of a variant from its data: the longest response in characters (an upper bound
 * on student tokens for both tokenizers) plus 10% and 16. A correct answer is never cut.
 */
export function decodeCap(v: DataVariant): number {
  const longest = v.train.reduce((m, e) => Math.max(m, e.response.length), 0);
  return Math.ceil(longest * 1.1) + MARGIN;
}

/** The study's data: one corpus, the test split drawn once, train prefixes for the data-scale knob. */
export interface StudyData {
  train: CorpusRecord[];
  test: EvalExample[];
  /** The test questions as corpus records (with every style's response). */
  testRecords: CorpusRecord[];
}

export function studyData(p: StudyPreset): StudyData {
  const maxN = Math.max(p.poolQuestions ?? 0, ...p.parts.flatMap((x) => x.trainQuestions));
  const corpus = synth({ ...p.task, n: maxN + p.testQuestions, seed: p.dataSeed });
  const { train, test } = splitTrainTest(corpus, { testSize: p.testQuestions, seed: p.dataSeed, stratifyByLevel: true });
  return { train, test: evalExamples(test), testRecords: test };
}

/** A named variant over the first `n` training questions (see StudyPart.variants), with its decoding cap. */
export function studyVariant(data: StudyData, name: string, n: number, cap?: number): DataVariant {
  const train = data.train.slice(0, n);
  if (train.length < n) throw new Error(`study: ${n} training questions requested, the corpus has ${train.length}`);
  let v: DataVariant;
  const w = /^long@(\d+(?:\.\d+)?)$/.exec(name);
  if (name === "mix-long") v = mixLong(train, 0);
  else if (name === "mix-large") v = mixLarge(train, 0);
  else if (w) {
    const weight = Number(w[1]);
    if (!(weight >= 0 && weight <= 1)) throw new Error(`study: mix weight of ${name} must be in [0, 1]`);
    v =
      weight === 0 ? { ...sourceVariant(train, "short", name), weight: 0 }
      : weight === 1 ? { ...sourceVariant(train, "long", name), weight: 1 }
      : { ...mixVariant(train, name, { sources: ["long", "short"], weights: [weight, 1 - weight], strategy: "per-question", seed: 0 }), weight };
  } else v = sourceVariant(train, name);
  return { ...v, maxNewTokens: cap ?? decodeCap(v) };
}

export { epochTokens } from "./sweep.js";

/** One sweep of a study: a part's grid at one budget rule, axis and data scale. */
export interface StudySweep {
  part: string;
  name: string;
  budget: BudgetRule;
  /** Under equal tokens, the axis whose variants share this sweep's token budget (its mix's tokens). */
  axis?: "long" | "large";
  trainQuestions: number;
  students: string[];
  seeds: number[];
  variants: DataVariant[];
  training: TrainConfig["budget"];
}

/** Runs a plan holds: students x variants x seeds of every sweep (a cell two parts share counts in each). */
export function plannedRuns(sweeps: readonly StudySweep[]): number {
  return sweeps.reduce((n, s) => n + s.students.length * s.variants.length * s.seeds.length, 0);
}

/** A gap's sign read from its interval: below 0 hurt, above 0 helped, containing 0 (or none) unclear. */
export function gapSign(g: { lo?: number; hi?: number }): "hurt" | "helped" | "unclear" {
  return g.lo !== undefined && g.hi! < 0 ? "hurt" : g.lo !== undefined && g.lo > 0 ? "helped" : "unclear";
}

/** The sweeps of a preset, in run order. */
export function planStudy(p: StudyPreset, data: StudyData = studyData(p), parts?: string[]): StudySweep[] {
  const out: StudySweep[] = [];
  for (const part of p.parts) {
    if (parts && !parts.includes(part.name)) continue;
    for (const budget of part.budgets)
      for (const n of part.trainQuestions) {
        const all = part.variants.map((v) => studyVariant(data, v, n, p.maxNewTokens));
        const groups = budget === "equal-tokens" ? (["long", "large"] as const).map((a) => all.filter((v) => variantAxis(v.name) === a)).filter((g) => g.length > 0) : [all];
        for (const variants of groups) {
          let training: TrainConfig["budget"] = { kind: "epochs", epochs: p.epochs };
          let axis: "long" | "large" | undefined;
          if (budget === "equal-tokens") {
            axis = variantAxis(variants[0]!.name);
            const mixName = axis === "long" ? "mix-long" : "mix-large";
            const ref = variants.find((v) => v.name === mixName) ?? studyVariant(data, mixName, n);
            training = { kind: "tokens", tokens: Math.round((p.tokenEpochs ?? p.epochs) * epochTokens(ref)) };
          }
          out.push({ part: part.name, name: `${p.name}/${part.name}/${budget}${axis ? `/${axis}` : ""}/n=${n}`, budget, ...(axis ? { axis } : {}), trainQuestions: n, students: part.students, seeds: part.seeds, variants, training });
        }
      }
  }
  return out;
}

export interface StudyEstimate {
  /** Estimated wall seconds with `workers` parallel workers. */
  seconds: number;
  cells: number;
  /** Cells already in the store (not counted). */
  cached: number;
  workers: number;
  /** Measured training tokens/s and decoding seconds per generated token batch, per student. */
  calibration: Record<string, { trainTokensPerSecond: number; decodeSecondsPerToken: number; seconds: number }>;
}

/** Steps of the calibration runs' shared start (kernel compilation and heap growth happen there). */
const WARM = 2;

/**
 * A wall-time estimate before a study starts, from a short measured calibration: each student trains
 * a few steps on the study's own mixed data and decodes one evaluation batch, in this process.
 */
export async function estimateStudy(p: StudyPreset, opts: { workers: number; store?: string; data?: StudyData; parts?: string[]; calibrationSteps?: number } = { workers: 2 }): Promise<StudyEstimate> {
  const data = opts.data ?? studyData(p);
  const sweeps = planStudy(p, data, opts.parts);
  const store = opts.store ? new ResultsStore(opts.store) : undefined;
  const students = [...new Set(sweeps.flatMap((s) => s.students))];
  const n = Math.min(...sweeps.map((s) => s.trainQuestions));
  const calib = studyVariant(data, "mix-long", n);
  const calibration: StudyEstimate["calibration"] = {};
  const steps = opts.calibrationSteps ?? 6;
  const probe = data.test.slice(0, 32);
  // Calibrate on the engine the study's workers use (and give the process its own back after).
  const before = (await initBackend()).name === "wasm" ? matMulInfo().engine : undefined;
  const engine = resolveMatMulEngine(p.matmul ?? "xnnpack");
  if (before !== undefined && engine !== before && initMatMul(engine).engine !== engine) throw new Error(`study ${p.name}: matmul ${engine} is not usable here (${matMulInfo().reason})`);
  // The first run in a process compiles kernels, and the first steps of any run grow the heap: after
  // one throw-away run, two runs on the same data and seed, of WARM and WARM + steps steps, share
  // their first steps, so their difference times steady training only.
  try {
    for (const student of students) {
      const t0 = Date.now();
      const capTokens = 64;
      const calibrate = (runSteps: number, test: EvalExample[]) =>
        runTrainEval({ student, training: { ...p.training, lr: p.lrByStudent?.[student] ?? p.training.lr, warmupSteps: 1, budget: { kind: "steps", steps: runSteps }, seed: 0 }, train: calib.train, test, maxNewTokens: capTokens });
      await calibrate(1, probe.slice(0, 1));
      const warm = await calibrate(WARM, probe.slice(0, 1));
      const r = await calibrate(WARM + steps, probe);
      const train = r.trainSeconds ?? r.seconds;
      const warmTrain = warm.trainSeconds ?? warm.seconds;
      const generated = r.examples.reduce((s, e) => s + e.generatedTokens, 0) || probe.length * capTokens;
      const steady = (r.trainTokens - warm.trainTokens) / Math.max(train - warmTrain, 1e-6);
      calibration[student] = { trainTokensPerSecond: steady > 0 && Number.isFinite(steady) ? steady : r.trainTokens / Math.max(train, 1e-6), decodeSecondsPerToken: (r.seconds - train) / generated, seconds: (Date.now() - t0) / 1000 };
    }
  } finally {
    if (before !== undefined && matMulInfo().engine !== before) initMatMul(before);
  }
  let total = 0;
  let cells = 0;
  let cached = 0;
  for (const s of sweeps) {
    const planned = planSweep(sweepConfig(p, s, data));
    for (const c of planned) {
      if (store?.get(c.key)) {
        cached++;
        continue;
      }
      cells++;
      const v = s.variants.find((x) => x.name === c.variant)!;
      const cal = calibration[c.student]!;
      const tokens = s.training.kind === "tokens" ? s.training.tokens : s.training.kind === "epochs" ? s.training.epochs * epochTokens(v) : 0;
      const meanResp = v.train.reduce((m, e) => m + e.response.length, 0) / v.train.length;
      // Decoding is batched; per generated token it costs about what the probe measured at short length,
      // and attention over longer outputs costs more: scale by the mean length over the probe's.
      const decode = data.test.length * meanResp * cal.decodeSecondsPerToken * Math.max(1, meanResp / 64) ** 0.5;
      total += tokens / cal.trainTokensPerSecond + decode + 3;
    }
  }
  return { seconds: total / Math.max(1, opts.workers), cells, cached, workers: opts.workers, calibration };
}

function sweepConfig(p: StudyPreset, s: StudySweep, data: StudyData) {
  return {
    name: s.name,
    students: s.students,
    variants: s.variants,
    seeds: s.seeds,
    training: { ...p.training, budget: s.training },
    test: data.test,
    maxNewTokens: Math.max(...s.variants.map((v) => v.maxNewTokens!)),
    benchmark: p.task.task,
    ...(p.matmul ? { matmul: p.matmul } : {}),
    ...(p.lrByStudent ? { lrByStudent: Object.fromEntries(Object.entries(p.lrByStudent).filter(([k]) => s.students.includes(k))) } : {}),
  };
}

/** One finished cell of a study, for the summary. */
export interface StudyRun {
  sweep: string;
  student: string;
  params?: number;
  variant: string;
  seed: number;
  budget: BudgetRule;
  trainQuestions: number;
  accuracy: number;
  seconds: number;
  trainTokensPerSecond?: number;
}

export interface StudyGap {
  sweep: string;
  budget: BudgetRule;
  trainQuestions: number;
  name: string;
  formula: string;
  student: string;
  params?: number;
  value: number;
  lo?: number;
  hi?: number;
  runs: Record<string, number>;
  accuracy: Record<string, number>;
}

export interface StudySummary {
  preset: string;
  status: "complete" | "aborted" | "failed" | "partial";
  wallSeconds: number;
  estimateSeconds?: number;
  workers: number;
  /** The wasm backend's matMul engine of the runs (SweepConfig.matmul). */
  matmul?: "xnnpack" | "openblas";
  runs: StudyRun[];
  gaps: StudyGap[];
}

/** The gaps of one sweep's results: both CoT gaps and the mix gains of the variants present. */
export function studyGaps(rs: ResultSet, replicates = 2000): GapReport[] {
  const names = new Set(rs.rows.map((r) => r.variant));
  const out: GapReport[] = [];
  const has = (...v: string[]) => v.every((x) => names.has(x));
  if (has("long", "short")) out.push(gap(rs, "long", "short", { name: "Long CoT Gap", replicates }));
  if (has("large", "small")) out.push(gap(rs, "large", "small", { name: "Large Model CoT Gap", replicates }));
  if (has("mix-long", "long", "short")) out.push(...mixGains(rs, "mix-long", ["long", "short"], { replicates }));
  if (has("mix-large", "large", "small")) out.push(...mixGains(rs, "mix-large", ["large", "small"], { replicates }));
  if (has("long@1", "long@0")) out.push(gap(rs, "long@1", "long@0", { name: "Long CoT Gap (weight curve ends)", replicates }));
  // The verbosity knob taken apart: the Long CoT Gap = slips' effect + the gap without slips.
  if (has("long", "long_noslip")) out.push(gap(rs, "long", "long_noslip", { name: KNOB_GAPS.slips, replicates }));
  if (has("long_noslip", "short")) out.push(gap(rs, "long_noslip", "short", { name: KNOB_GAPS.noSlips, replicates }));
  if (has("pad", "short")) out.push(gap(rs, "pad", "short", { name: KNOB_GAPS.length, replicates }));
  return out;
}

/**
 * Gaps that take the long style apart (the `verbosity` part): what its slips and redos cost
 * (long - long_noslip), what the rest of it costs (long_noslip - short: reflection, checks, recap,
 * every step by place value) and what length alone costs (pad - short: the short trace, answer
 * included, then filler to the long trace's length).
 */
export const KNOB_GAPS = { slips: "Effect of slips", noSlips: "Long CoT Gap without slips", length: "Effect of length alone" } as const;
const isKnobGap = (name: string) => (Object.values(KNOB_GAPS) as string[]).includes(name);

/**
 * The finished cells of a study, per sweep of its plan (a cell shared by two sweeps, e.g. the
 * weight curve's ends and the main grid's short and long, counts in both).
 */
export function studyResults(store: string | ResultsStore, p: StudyPreset, data: StudyData = studyData(p)): Array<{ sweep: StudySweep; results: ResultSet; runs: StudyRun[] }> {
  const s = typeof store === "string" ? new ResultsStore(store) : store;
  const out: Array<{ sweep: StudySweep; results: ResultSet; runs: StudyRun[] }> = [];
  for (const sw of planStudy(p, data)) {
    const cfg = sweepConfig(p, sw, data);
    const budget = budgetLabel(cfg.training.budget);
    const rows = [];
    const runs: StudyRun[] = [];
    for (const c of planSweep(cfg)) {
      const stored = s.get(c.key);
      if (!stored) continue;
      const r = stored.result;
      rows.push(...cellRows({ student: c.student, variant: c.variant, seed: c.seed, key: c.key }, r, budget, cfg.benchmark));
      const run: StudyRun = { sweep: sw.name, student: c.student, variant: c.variant, seed: c.seed, budget: sw.budget, trainQuestions: sw.trainQuestions, accuracy: 100 * r.accuracy, seconds: r.seconds };
      if (r.params > 0) run.params = r.params;
      if (r.trainSeconds) run.trainTokensPerSecond = Math.round(r.trainTokens / r.trainSeconds);
      runs.push(run);
    }
    out.push({ sweep: sw, results: new ResultSet(rows), runs });
  }
  return out;
}

/**
 * Sweeps of different parts with the same budget rule, axis and data scale but disjoint students
 * (`equal-tokens` with nano and micro, `larger-students` with mini and small) measure one gap-versus-size
 * curve: merged into one sweep, `PRESET/all-sizes/BUDGET[/AXIS]/n=N`, so the curve and its reading
 * span every size. The mix-weight curve (no short or small variant) and sweeps of students already
 * covered (the data-scale sweep's micro cells) are left out of it.
 */
function allSizes(p: StudyPreset, swept: Array<{ sweep: StudySweep; results: ResultSet }>): Array<{ sweep: StudySweep; results: ResultSet }> {
  const groups = new Map<string, Array<{ sweep: StudySweep; results: ResultSet }>>();
  for (const x of swept) {
    const k = `${x.sweep.budget}/${x.sweep.axis ?? ""}/${x.sweep.trainQuestions}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(x);
  }
  const out: Array<{ sweep: StudySweep; results: ResultSet }> = [];
  for (const list of groups.values()) {
    // In run order, each sweep whose students are all new (a later sweep of a student already
    // covered, the data-scale cells of micro, is left out: its cells are the same ones).
    const parts: typeof list = [];
    const seen = new Set<string>();
    for (const x of list) {
      if (x.results.rows.length === 0 || x.sweep.students.some((st) => seen.has(st))) continue;
      if (!x.sweep.variants.some((v) => v.name === "short" || v.name === "small")) continue;
      parts.push(x);
      for (const st of x.sweep.students) seen.add(st);
    }
    if (parts.length < 2) continue;
    const students = parts.flatMap((x) => x.sweep.students);
    const first = parts[0]!.sweep;
    const name = `${p.name}/all-sizes/${first.budget}${first.axis ? `/${first.axis}` : ""}/n=${first.trainQuestions}`;
    out.push({ sweep: { ...first, part: "all-sizes", name, students }, results: ResultSet.merge(...parts.map((x) => x.results)) });
  }
  return out;
}

/** The summary of a study store: per-run accuracies and every gap with its interval (`swept`: what studyResults already read). */
export function summarizeStudy(store: string | ResultsStore, p: StudyPreset, opts: { replicates?: number; data?: StudyData; swept?: ReturnType<typeof studyResults> } = {}): { runs: StudyRun[]; gaps: StudyGap[]; reports: Array<{ sweep: string; report: GapReport }> } {
  const runs: StudyRun[] = [];
  const gaps: StudyGap[] = [];
  const reports: Array<{ sweep: string; report: GapReport }> = [];
  const swept = opts.swept ?? studyResults(store, p, opts.data);
  for (const { runs: r } of swept) runs.push(...r);
  for (const { sweep, results: rs } of [...swept, ...allSizes(p, swept)]) {
    if (rs.rows.length === 0) continue;
    for (const report of studyGaps(rs, opts.replicates ?? 2000)) {
      reports.push({ sweep: sweep.name, report });
      for (const e of report.entries) {
        // One entry per student: the average over several benchmarks, or the single benchmark itself.
        if (rs.benchmarks().length > 1 ? e.benchmark !== AVERAGE : e.benchmark === AVERAGE) continue;
        const g: StudyGap = { sweep: sweep.name, budget: sweep.budget, trainQuestions: sweep.trainQuestions, name: report.name, formula: report.formula, student: e.student, value: e.value, runs: e.runs, accuracy: e.accuracy };
        if (e.params !== undefined) g.params = e.params;
        if (e.interval) {
          g.lo = e.interval.lo;
          g.hi = e.interval.hi;
        }
        gaps.push(g);
      }
    }
  }
  return { runs, gaps, reports };
}

export interface RunStudyOptions {
  store: string;
  workers?: number;
  /** Only these parts (default all, in the preset's order). */
  parts?: string[];
  signal?: AbortSignal;
  onEvent?: (sweep: StudySweep, e: SweepEvent) => void;
  /** Runs one cell; default forked workers (see runSweep). */
  runner?: CellRunner;
}

/** Runs (or resumes) a preset's sweeps in order on one store; returns the status of the last one that ran. */
export async function runStudy(p: StudyPreset, opts: RunStudyOptions): Promise<"complete" | "aborted" | "failed"> {
  const data = studyData(p);
  let status: "complete" | "aborted" | "failed" = "complete";
  for (const s of planStudy(p, data, opts.parts)) {
    if (opts.signal?.aborted) return "aborted";
    const out = await runSweep(sweepConfig(p, s, data), { store: opts.store, concurrency: opts.workers ?? 2, signal: opts.signal, runner: opts.runner, onProgress: (e) => opts.onEvent?.(s, e) });
    if (out.status === "aborted") return "aborted";
    if (out.status === "failed") status = "failed";
  }
  return status;
}

const intervalText = (v: StudyVerdict) => (v.lo === undefined ? "no interval" : `[${v.lo.toFixed(1)}, ${v.hi!.toFixed(1)}]`);
/** `-1.3 [-3.0, 0.3] unclear`: a verdict's value, interval and sign. */
const verdictText = (v: StudyVerdict) => `${v.value >= 0 ? "+" : ""}${v.value.toFixed(1)} ${intervalText(v)} ${v.sign}`;
/** `rises from 2.0 (nano) to 16.0 (micro), intervals apart`: the direction from one verdict to another. */
function direction(first: StudyVerdict, last: StudyVerdict, label: (v: StudyVerdict) => string): string {
  const apart = first.hi !== undefined && last.lo !== undefined && (first.hi < last.lo || last.hi! < first.lo!);
  const dir = last.value > first.value ? "rises" : last.value < first.value ? "falls" : "stays level";
  return `${dir} from ${first.value.toFixed(1)} (${label(first)}) to ${last.value.toFixed(1)} (${label(last)})${apart ? ", intervals apart" : ", intervals overlapping"}`;
}

/**
 * The data-scale knob read across its sweeps: sweeps that differ only in their number of training
 * questions (names ending in `/n=<questions>`), one line per gap and student, smallest to largest.
 */
function dataScaleLines(verdicts: StudyVerdict[]): string[] {
  const groups = new Map<string, StudyVerdict[]>();
  for (const v of verdicts) {
    if (v.trainQuestions === undefined || !/\/n=\d+$/.test(v.sweep)) continue;
    const k = `${v.sweep.replace(/\/n=\d+$/, "")}\u0000${v.gap}\u0000${v.student}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(v);
  }
  const lines: string[] = [];
  for (const [k, list] of groups) {
    if (new Set(list.map((v) => v.trainQuestions)).size < 2) continue;
    const [family, gapName, student] = k.split("\u0000") as [string, string, string];
    list.sort((a, b) => a.trainQuestions! - b.trainQuestions!);
    const first = list[0]!;
    const last = list[list.length - 1]!;
    const each = list.map((v) => `n=${v.trainQuestions} ${verdictText(v)}`).join("; ");
    const signs = [...new Set(list.map((v) => v.sign))];
    const sign = signs.length === 1 ? `${signs[0]} at every size of the data` : `${list.map((v) => v.sign).join(" -> ")} as the data grows`;
    lines.push(`${family} · ${gapName} of ${student} against training questions: ${each} -> ${sign}; with more data it ${direction(first, last, (v) => `n=${v.trainQuestions}`)}`);
  }
  return lines;
}

/**
 * The Long CoT Gap of each student of a sweep that has the verbosity variants, taken apart: the
 * part of it the slips account for, the part the rest of the long style does, and length alone.
 */
function verbosityLines(verdicts: StudyVerdict[]): string[] {
  const at = new Map(verdicts.map((v) => [`${v.sweep}\u0000${v.student}\u0000${v.gap}`, v]));
  const lines: string[] = [];
  for (const v of verdicts) {
    if (v.gap !== "Long CoT Gap") continue;
    const get = (gap: string) => at.get(`${v.sweep}\u0000${v.student}\u0000${gap}`);
    const slips = get(KNOB_GAPS.slips);
    const rest = get(KNOB_GAPS.noSlips);
    if (!slips || !rest) continue;
    const length = get(KNOB_GAPS.length);
    const share = (x: StudyVerdict) => (v.value === 0 ? "" : ` (${Math.round((100 * x.value) / v.value)}%)`);
    lines.push(
      `${v.sweep} · ${v.student}: of the Long CoT Gap ${verdictText(v)}, the slips and redos account for ${verdictText(slips)}${share(slips)} and the rest of the long style (reflection, checks, recap, every step by place value) for ${verdictText(rest)}${share(rest)}` +
        (length ? `; length alone (short traces with filler after the answer to the long length) gives ${verdictText(length)}${share(length)}` : ""),
    );
  }
  return lines;
}

/** One student's gap on one axis of one sweep, read against zero. */
export interface StudyVerdict {
  sweep: string;
  gap: string;
  student: string;
  params?: number;
  value: number;
  lo?: number;
  hi?: number;
  /** hurt: interval below 0; helped: above 0; unclear: contains 0 (or no interval). */
  sign: "hurt" | "helped" | "unclear";
  /** Training questions of the sweep (the data-scale knob). */
  trainQuestions?: number;
}

/**
 * The reading of a study, computed from its numbers: for each sweep and each gap (Long CoT Gap,
 * Large Model CoT Gap, the mixes' gains over their better part), every student's sign with its
 * interval, whether the paper's pattern (the smallest student hurt, the largest helped; the mix
 * better than both parts for the small student) appears, and plain lines saying so.
 */
export function studyReading(gaps: StudyGap[]): { verdicts: StudyVerdict[]; patterns: Array<{ sweep: string; gap: string; paperPattern: boolean }>; lines: string[] } {
  const verdicts: StudyVerdict[] = gaps
    .filter((g) => g.name === "Long CoT Gap" || g.name === "Large Model CoT Gap" || g.name.endsWith("gain over the better part") || isKnobGap(g.name))
    .map((g) => {
      const v: StudyVerdict = { sweep: g.sweep, gap: g.name, student: g.student, value: g.value, sign: gapSign(g) };
      if (g.params !== undefined) v.params = g.params;
      if (g.trainQuestions !== undefined) v.trainQuestions = g.trainQuestions;
      if (g.lo !== undefined) [v.lo, v.hi] = [g.lo, g.hi];
      return v;
    });
  const lines: string[] = [];
  const patterns: Array<{ sweep: string; gap: string; paperPattern: boolean }> = [];
  const groups = new Map<string, StudyVerdict[]>();
  for (const v of verdicts) {
    const k = `${v.sweep}\u0000${v.gap}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(v);
  }
  for (const [k, list] of groups) {
    const [sweep, gapName] = k.split("\u0000") as [string, string];
    list.sort((a, b) => (a.params ?? 0) - (b.params ?? 0));
    if (isKnobGap(gapName)) {
      const signs = [...new Set(list.map((v) => v.sign))];
      const verdict = signs.length === 1 ? `${signs[0]} for every student` : list.map((v) => `${v.sign} for ${v.student}`).join(", ");
      lines.push(`${sweep} · ${gapName}: ${list.map((v) => `${v.student} ${verdictText(v)}`).join("; ")} -> ${verdict}`);
      continue;
    }
    const small = list[0]!;
    const large = list[list.length - 1]!;
    const isMix = gapName.endsWith("better part");
    const paperPattern = isMix ? small.sign === "helped" : list.length > 1 && small.sign === "hurt" && large.sign === "helped";
    patterns.push({ sweep, gap: gapName, paperPattern });
    const each = list.map((v) => `${v.student} ${verdictText(v)}`).join("; ");
    // The direction with size, smallest to largest: a rise whose intervals do not overlap is a trend.
    let trend = "";
    if (!isMix && list.length > 1 && small.student !== large.student) {
      trend = `; with size it ${direction(small, large, (v) => v.student)}`;
      // Not monotone: a student in between whose interval lies above (or below) both end points'.
      const inner = list.slice(1, -1).filter((v) => v.lo !== undefined);
      if (inner.length > 0 && small.lo !== undefined && large.lo !== undefined) {
        const top = inner.reduce((a, b) => (b.value > a.value ? b : a));
        const bottom = inner.reduce((a, b) => (b.value < a.value ? b : a));
        if (top.lo! > small.hi! && top.lo! > large.hi!) trend += `; not monotone: it peaks at ${top.value.toFixed(1)} (${top.student}), above both ends`;
        else if (bottom.hi! < small.lo! && bottom.hi! < large.lo!) trend += `; not monotone: it dips to ${bottom.value.toFixed(1)} (${bottom.student}), below both ends`;
      }
    }
    const verdict = isMix
      ? paperPattern ? "the mix beats both parts for the smallest student, as in the paper" : "the mix does not beat both parts for the smallest student here"
      : paperPattern ? "the paper's pattern: the smallest student hurt, the largest helped" : list.length < 2 ? "one student only: no size trend can be read" : "not the paper's pattern";
    lines.push(`${sweep} · ${gapName}: ${each} -> ${verdict}${trend}`);
  }
  lines.push(...dataScaleLines(verdicts), ...verbosityLines(verdicts));
  if (patterns.length === 0) lines.push("no gap can be read yet: the store holds no pair of variants for any student");
  else if (!patterns.some((p) => p.paperPattern && !p.gap.endsWith("better part")))
    lines.push("No setting tried shows both halves of the paper's pattern (small students hurt by long or large-teacher CoT, larger ones helped).");
  return { verdicts, patterns, lines };
}
