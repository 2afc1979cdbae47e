/**
 * The one contract between the kernel side (library + kernel) and the JupyterLab extension:
 * mime types, comm target names and the shapes of the messages they exchange, with validators.
 *
 * Dependency-free on purpose: the extension bundles this file as it is.
 */

export const MIXER_MIME = "application/vnd.mixdistill.mixer.v1+json";
/** Mime type of a mixdistill plot (PlotBundleData), drawn by the extension's renderer. */
export const PLOT_MIME = "application/vnd.mixdistill.plot.v1+json";
/** Plotly's own mime type (a PlotFigure), for front ends with a plotly renderer. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** Comm target name of the mixer widget (kernel side registers it, the extension opens it). */
export const MIXER_COMM_TARGET = "mixdistill.mixer";

/** The mixing strategies, in one list: per-question (each question once), interleave, concat. */
export const MIX_STRATEGIES = ["per-question", "interleave", "concat"] as const;
export type MixStrategyName = (typeof MIX_STRATEGIES)[number];
/** One line per strategy: what it does with the questions (shown beside the mixer's strategy choice). */
export const MIX_STRATEGY_DESCRIPTIONS: Record<MixStrategyName, string> = {
  "per-question": "each question is used once, answered by one source drawn by the weights",
  interleave: "examples taken from the sources in turn by the weights, until the first source runs out; a question can appear once per source",
  concat: "a seeded sample of each source's examples in proportion to the weights (as many as the sources allow), one source after another; a question can appear once per source",
};

/** A plotly figure. `data` traces and `layout` follow plotly.js's own schema. */
export interface PlotFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** The payload of PLOT_MIME. */
export interface PlotBundleData extends PlotFigure {
  /** A short description of the numbers, shown by front ends that cannot draw. */
  title?: string;
}

/** Composition of a mix as the mixer shows it, one entry per source. */
export interface SourceComposition {
  source: string;
  questions: number;
  tokens: number;
  meanTokens: number;
  /** Histogram of response lengths in tokens: `counts[i]` responses in [edges[i], edges[i+1]). */
  histogram: { edges: number[]; counts: number[] };
}

export interface MixComposition {
  /**
   * `questions` counts the examples written (one per question and source used); `questionsUsed` the
   * distinct questions among them, fewer when a strategy repeats questions (interleave, concat).
   */
  total: { questions: number; tokens: number; questionsUsed?: number };
  sources: SourceComposition[];
  /** Questions dropped (missing response under the drop policy), if any. */
  dropped: number;
}

/** The full state of one mixer widget; what the mime bundle carries and what the comm syncs. */
export interface MixerState {
  sources: string[];
  /** One weight per source, each in [0, 1], summing to 1. */
  weights: number[];
  strategy: MixStrategyName;
  seed: number;
  /** What the weights are measured in. */
  weightBy: "examples" | "tokens";
  composition: MixComposition;
}

/** The data of the MIXER_MIME bundle. */
export interface MixerBundleData {
  version: 1;
  /** Comm id of the kernel-side object; absent or stale once the kernel is gone. */
  comm_id: string;
  state: MixerState;
}

/** Front end -> kernel. */
export type MixerClientMessage =
  | { type: "update"; request_id?: string; weights?: number[]; strategy?: MixStrategyName; seed?: number }
  | { type: "request_state"; request_id?: string };

/** Kernel -> front end. */
export type MixerKernelMessage =
  | { type: "state"; request_id?: string; state: MixerState }
  | { type: "error"; request_id?: string; message: string };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const isFiniteNumber = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

function checkWeights(w: unknown, field: string): string | undefined {
  if (!Array.isArray(w) || w.length < 1) return `${field}: expected a non-empty array of numbers`;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (!isFiniteNumber(v) || v < 0 || v > 1) return `${field}[${i}]: expected a number in [0, 1], got ${JSON.stringify(v)}`;
  }
  const sum = (w as number[]).reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) return `${field}: weights must sum to 1, got ${sum}`;
  return undefined;
}

function checkRequestId(m: Record<string, unknown>): string | undefined {
  if (m.request_id !== undefined && typeof m.request_id !== "string") return "request_id: expected a string";
  return undefined;
}

/** Validates a message from the front end. Never throws. */
export function parseMixerClientMessage(x: unknown): Parsed<MixerClientMessage> {
  if (!isObject(x)) return { ok: false, error: "message: expected an object" };
  const rid = checkRequestId(x);
  if (rid) return { ok: false, error: rid };
  switch (x.type) {
    case "request_state":
      return { ok: true, value: { type: "request_state", request_id: x.request_id as string | undefined } };
    case "update": {
      const out: MixerClientMessage = { type: "update" };
      if (x.request_id !== undefined) out.request_id = x.request_id as string;
      if (x.weights !== undefined) {
        const e = checkWeights(x.weights, "weights");
        if (e) return { ok: false, error: e };
        out.weights = (x.weights as number[]).slice();
      }
      if (x.strategy !== undefined) {
        if (!MIX_STRATEGIES.includes(x.strategy as MixStrategyName))
          return { ok: false, error: `strategy: expected one of ${MIX_STRATEGIES.join(", ")}, got ${JSON.stringify(x.strategy)}` };
        out.strategy = x.strategy as MixStrategyName;
      }
      if (x.seed !== undefined) {
        if (!Number.isSafeInteger(x.seed) || (x.seed as number) < 0)
          return { ok: false, error: `seed: expected a non-negative integer, got ${JSON.stringify(x.seed)}` };
        out.seed = x.seed as number;
      }
      if (out.weights === undefined && out.strategy === undefined && out.seed === undefined)
        return { ok: false, error: "update: nothing to update (weights, strategy or seed)" };
      return { ok: true, value: out };
    }
    default:
      return { ok: false, error: `type: unknown message type ${JSON.stringify(x.type)}` };
  }
}

function checkComposition(c: unknown): string | undefined {
  if (!isObject(c)) return "state.composition: expected an object";
  if (!isObject(c.total) || !isFiniteNumber(c.total.questions) || !isFiniteNumber(c.total.tokens))
    return "state.composition.total: expected {questions, tokens}";
  if (!Array.isArray(c.sources)) return "state.composition.sources: expected an array";
  for (let i = 0; i < c.sources.length; i++) {
    const s = c.sources[i];
    const f = `state.composition.sources[${i}]`;
    if (!isObject(s) || typeof s.source !== "string") return `${f}.source: expected a string`;
    for (const k of ["questions", "tokens", "meanTokens"] as const)
      if (!isFiniteNumber(s[k])) return `${f}.${k}: expected a number`;
    const h = s.histogram;
    if (!isObject(h) || !Array.isArray(h.edges) || !Array.isArray(h.counts) || !h.edges.every(isFiniteNumber) || !h.counts.every(isFiniteNumber))
      return `${f}.histogram: expected {edges: number[], counts: number[]}`;
  }
  if (!isFiniteNumber(c.dropped)) return "state.composition.dropped: expected a number";
  return undefined;
}

/** Validates a mixer state (from a bundle or a kernel message). Never throws. */
export function parseMixerState(x: unknown): Parsed<MixerState> {
  if (!isObject(x)) return { ok: false, error: "state: expected an object" };
  if (!Array.isArray(x.sources) || x.sources.length < 2 || !x.sources.every((s) => typeof s === "string"))
    return { ok: false, error: "state.sources: expected at least two source names" };
  const we = checkWeights(x.weights, "state.weights");
  if (we) return { ok: false, error: we };
  if ((x.weights as number[]).length !== x.sources.length)
    return { ok: false, error: "state.weights: expected one weight per source" };
  if (!MIX_STRATEGIES.includes(x.strategy as MixStrategyName)) return { ok: false, error: "state.strategy: unknown strategy" };
  if (!Number.isSafeInteger(x.seed)) return { ok: false, error: "state.seed: expected an integer" };
  if (x.weightBy !== "examples" && x.weightBy !== "tokens") return { ok: false, error: "state.weightBy: expected examples or tokens" };
  const ce = checkComposition(x.composition);
  if (ce) return { ok: false, error: ce };
  return { ok: true, value: x as unknown as MixerState };
}

/** Validates a message from the kernel. Never throws. */
export function parseMixerKernelMessage(x: unknown): Parsed<MixerKernelMessage> {
  if (!isObject(x)) return { ok: false, error: "message: expected an object" };
  const rid = checkRequestId(x);
  if (rid) return { ok: false, error: rid };
  if (x.type === "error") {
    if (typeof x.message !== "string") return { ok: false, error: "message: expected a string" };
    return { ok: true, value: x as unknown as MixerKernelMessage };
  }
  if (x.type === "state") {
    const s = parseMixerState(x.state);
    if (!s.ok) return s;
    return { ok: true, value: x as unknown as MixerKernelMessage };
  }
  return { ok: false, error: `type: unknown message type ${JSON.stringify(x.type)}` };
}

/** Validates the data of a MIXER_MIME bundle. Never throws. */
export function parseMixerBundle(x: unknown): Parsed<MixerBundleData> {
  if (!isObject(x)) return { ok: false, error: "bundle: expected an object" };
  if (x.version !== 1) return { ok: false, error: `version: expected 1, got ${JSON.stringify(x.version)}` };
  if (typeof x.comm_id !== "string") return { ok: false, error: "comm_id: expected a string" };
  const s = parseMixerState(x.state);
  if (!s.ok) return s;
  return { ok: true, value: x as unknown as MixerBundleData };
}

/** Validates the data of a PLOT_MIME bundle. Never throws. */
export function parsePlotBundle(x: unknown): Parsed<PlotBundleData> {
  if (!isObject(x)) return { ok: false, error: "plot: expected an object" };
  if (!Array.isArray(x.data) || !x.data.every(isObject)) return { ok: false, error: "plot.data: expected an array of traces" };
  if (!isObject(x.layout)) return { ok: false, error: "plot.layout: expected an object" };
  return { ok: true, value: x as unknown as PlotBundleData };
}
