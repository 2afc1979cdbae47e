/**
 * The kernel side of the mixer: a Jupyter widget model on the kernel's widget protocol 2.1
 * (kernel/widgets/model.ts). `mixer(corpus, opts)` returns a Mixer: its `value` is the weights
 * (settable from code), `composition` the current mix, and displaying it shows the widget
 * (`widget-view+json`) with text/plain and a static text/html view of the state as fallbacks.
 *
 * The model is an anywidget (module "anywidget", model AnyModel): its view is the ES module in
 * `_esm`, bundled from extension/src/mixer-view.ts, so every widget front end renders the same view
 * (JupyterLab and Notebook 7 through the mixdistill labextension's anywidget host or anywidget's
 * own, VS Code through anywidget). The state names `sources`, `weights` (in source order, summing
 * to 1), `strategy`, `seed`, `weightBy` and `composition`; a front end may set `weights`, `strategy`
 * and `seed`. A bad value is answered with an error on that comm and the model keeps its last
 * valid state (the view snaps back).
 */
import { MIX_STRATEGIES, type MixComposition, type MixerState, type MixStrategyName } from "../../src/contract/index.js";
import type { CorpusRecord, MixOptions } from "../../src/index.js";
import { resolveWeights } from "../../src/mix/index.js";
import type { DisplayHandle, WidgetHost } from "./host.js";
import { anywidgetFields, WidgetModel, type Change, type WidgetRegistry } from "./model.js";
import { MIXER_VIEW_ESM } from "./mixer-view.generated.js";
import { mixerStaticHtml, mixerText } from "../../src/contract/static-view.js";

/** `_anywidget_id` of the mixer's model: how a front end or test recognises a mixer among widgets. */
export const MIXER_ANYWIDGET_ID = "mixdistill.mixer";

/** What a mixer needs to compute a composition: the library's mixComposition (src/mix). */
export type ComposeFn = (corpus: readonly CorpusRecord[], options: MixOptions & { bins?: number }) => MixComposition;

export interface MixerChange {
  weights: number[];
  strategy: MixStrategyName;
  seed: number;
  /** Who made the change: a front-end view (slider, strategy, seed) or code setting `value` etc. */
  origin: "frontend" | "code";
}

export interface MixerOptions {
  /** Response sources to mix (keys of `responses`); default: the first two sources of the first record. */
  sources?: string[];
  /** Weight of the first source, for two sources (Mix-Long: `weight: 0.2` on long). */
  weight?: number;
  /** One weight per source (normalised to sum 1). */
  weights?: number[];
  strategy?: MixStrategyName;
  seed?: number;
  weightBy?: "examples" | "tokens";
  /** Bins of the length histogram (default 20). */
  bins?: number;
  /** Extra options passed through to mixComposition (tokenizer, missing, levelRule, ...). */
  mixOptions?: Omit<MixOptions, "sources" | "weights" | "ratio" | "strategy" | "seed" | "weightBy">;
  /** Called after every change, from the front end or from code. Errors are reported, never thrown into the comm. */
  onChange?: (change: MixerChange, mixer: Mixer) => void;
}

export class MixerError extends Error {
  constructor(field: string, reason: string) {
    super(`mixer option "${field}": ${reason}`);
    this.name = "MixerError";
  }
}

/**
 * Weights given in code (`weights`, `weight`, `value`): a single number is the first of two; the
 * library's resolveWeights validates the vector and normalises it (one check, where weights enter).
 */
function weightsFrom(value: unknown, sources: readonly string[], field: string): number[] {
  if (typeof value === "number") {
    if (sources.length !== 2) throw new MixerError(field, `a single number sets the first of two weights; this mixer has ${sources.length} sources`);
    if (!(value >= 0 && value <= 1)) throw new MixerError(field, `expected a number in [0, 1], got ${value}`);
    return [value, 1 - value];
  }
  return resolveWeights(value, sources, field);
}

export class Mixer extends WidgetModel {
  readonly sources: readonly string[];
  private readonly weightBy: "examples" | "tokens";
  private readonly handles: DisplayHandle[] = [];
  /** Milliseconds the last composition took to compute (what a slider move costs in the kernel). */
  lastComputeMs = 0;

  constructor(
    registry: WidgetRegistry,
    private readonly corpus: readonly CorpusRecord[],
    private readonly opts: MixerOptions,
    private readonly compose: ComposeFn,
    private readonly mixers: MixerRegistry,
  ) {
    const init = Mixer.initial(corpus, opts, compose);
    super(
      registry,
      {
        ...anywidgetFields(MIXER_VIEW_ESM, MIXER_ANYWIDGET_ID),
        sources: init.sources,
        weights: init.weights,
        strategy: init.strategy,
        seed: init.seed,
        weightBy: init.weightBy,
        composition: init.composition,
      },
      {
        weights: (v, m) => {
          const sources = (m as unknown as Mixer).sources;
          if (!Array.isArray(v) || v.length !== sources.length) throw new Error(`expected ${sources.length} weights (one per source), got ${JSON.stringify(v)}`);
          v.forEach((x, i) => {
            if (typeof x !== "number" || !Number.isFinite(x) || x < 0 || x > 1) throw new Error(`[${i}]: expected a number in [0, 1], got ${JSON.stringify(x)}`);
          });
          return reason(() => resolveWeights(v, sources, "weights"));
        },
        strategy: (v) => reason(() => checkStrategy(v)),
        seed: (v) => reason(() => checkSeed(v)),
      },
    );
    this.sources = init.sources;
    this.weightBy = init.weightBy;
    this.lastComputeMs = init.ms;
  }

  /** Checks the options and computes the first composition (before the comm opens). */
  private static initial(corpus: readonly CorpusRecord[], opts: MixerOptions, compose: ComposeFn) {
    if (!Array.isArray(corpus) || corpus.length === 0) throw new MixerError("corpus", "expected a non-empty array of corpus records");
    const sources = opts.sources ?? Object.keys(corpus[0]?.responses ?? {}).slice(0, 2);
    if (!Array.isArray(sources) || sources.length < 2 || !sources.every((s) => typeof s === "string" && s))
      throw new MixerError("sources", `expected at least two source names, got ${JSON.stringify(sources)}`);
    if (new Set(sources).size !== sources.length) throw new MixerError("sources", `duplicate names in ${sources.join(", ")}`);
    const known = new Set<string>();
    for (const r of corpus) for (const k of Object.keys(r?.responses ?? {})) known.add(k);
    for (const s of sources)
      if (!known.has(s))
        throw new MixerError("sources", `no question has a "${s}" response (sources in this corpus: ${[...known].join(", ") || "none"})`);
    if (opts.weight !== undefined && opts.weights !== undefined) throw new MixerError("weight", "give weight or weights, not both");
    const weights =
      opts.weights !== undefined ? weightsFrom(opts.weights, sources, "weights")
      : opts.weight !== undefined ? weightsFrom(opts.weight, sources, "weight")
      : sources.map(() => 1 / sources.length);
    const strategy = checkStrategy(opts.strategy ?? "per-question");
    const seed = checkSeed(opts.seed ?? 0);
    const weightBy = opts.weightBy ?? "examples";
    if (weightBy !== "examples" && weightBy !== "tokens") throw new MixerError("weightBy", `expected examples or tokens, got ${JSON.stringify(weightBy)}`);
    if (opts.onChange !== undefined && typeof opts.onChange !== "function") throw new MixerError("onChange", "expected a function");
    const t0 = performance.now();
    const composition = composeWith(corpus, opts, compose, sources, weights, strategy, seed, weightBy);
    return { sources: sources.slice(), weights, strategy, seed, weightBy, composition, ms: performance.now() - t0 };
  }

  /** The weights, one per source, summing to 1. Setting them (array, or a number for the first of two) updates every view. */
  get value(): number[] {
    return (this.get("weights") as number[]).slice();
  }
  set value(v: number[] | number) {
    this.setFromCode({ weights: weightsFrom(v, this.sources, "value") });
  }

  get strategy(): MixStrategyName {
    return this.get("strategy") as MixStrategyName;
  }
  set strategy(s: MixStrategyName) {
    this.setFromCode({ strategy: checkStrategy(s) });
  }

  get seed(): number {
    return this.get("seed") as number;
  }
  set seed(s: number) {
    this.setFromCode({ seed: checkSeed(s) });
  }

  get composition(): MixComposition {
    return this.get("composition") as MixComposition;
  }

  get state(): MixerState {
    return {
      sources: this.sources.slice(),
      weights: this.value,
      strategy: this.strategy,
      seed: this.seed,
      weightBy: this.weightBy,
      composition: this.composition,
    };
  }

  /** The options that reproduce this mix with the library's `mix()` / `mixComposition()`. */
  get mixOptions(): MixOptions {
    return { ...(this.opts.mixOptions ?? {}), sources: this.sources.slice(), weights: this.value, strategy: this.strategy, seed: this.seed, weightBy: this.weightBy };
  }

  /** Whether the front ends can still reach this mixer (false after close()). */
  get live(): boolean {
    return !this.closed;
  }

  /**
   * Displays the mixer with a display id, so that later changes from code (a later cell setting
   * `value`, a headless run) also refresh that output's text/html and text/plain fallbacks: the
   * saved notebook and its HTML export then show the final mix.
   */
  show(): DisplayHandle {
    const handle = this.mixers.host.display(this);
    this.handles.push(handle);
    return handle;
  }

  /** Closes the widget's comm (its views turn inert) and forgets the mixer. */
  override close(): void {
    if (!this.closed) this.error("this mixer was closed in the kernel: re-run its cell for a live one");
    super.close();
    this.mixers.forget(this);
  }

  override toString(): string {
    return mixerText(this.state);
  }

  protected override get kind(): string {
    return "mixer";
  }

  protected override textSummary(): string {
    return mixerText(this.state);
  }

  protected override staticHtml(): string {
    return mixerStaticHtml(this.state);
  }

  /** A change of weights, strategy or seed brings its composition (computed first: an error rejects the change). */
  protected override derive(patch: Record<string, unknown>): Record<string, unknown> {
    if (!("weights" in patch) && !("strategy" in patch) && !("seed" in patch)) return {};
    const weights = (patch.weights as number[] | undefined) ?? this.value;
    const strategy = (patch.strategy as MixStrategyName | undefined) ?? this.strategy;
    const seed = (patch.seed as number | undefined) ?? this.seed;
    const t0 = performance.now();
    const composition = composeWith(this.corpus, this.opts, this.compose, this.sources, weights, strategy, seed, this.weightBy);
    this.lastComputeMs = performance.now() - t0;
    return { composition };
  }

  /** After a change from a front end: onChange (its error goes to that front end, the change stays). */
  protected override changed(changes: readonly Change[]): void {
    if (changes[0]?.origin !== "frontend" || !changes.some((c) => c.name !== "composition")) return;
    const cb = this.opts.onChange;
    if (!cb) return;
    try {
      cb({ weights: this.value, strategy: this.strategy, seed: this.seed, origin: "frontend" }, this);
    } catch (err) {
      this.error(`onChange callback failed: ${(err as Error).message}`);
    }
  }

  /** A change from code: front ends follow, displays made by show() refresh, then onChange (its error is thrown). */
  private setFromCode(patch: { weights?: number[]; strategy?: MixStrategyName; seed?: number }): void {
    if (this.closed) throw new MixerError("value", "this mixer was closed: re-run its cell for a live one");
    this.set(patch);
    for (const h of this.handles) {
      try {
        h.update(this);
      } catch (err) {
        this.mixers.host.reportError?.("mixer display update", err);
      }
    }
    this.opts.onChange?.({ weights: this.value, strategy: this.strategy, seed: this.seed, origin: "code" }, this);
  }
}

function composeWith(
  corpus: readonly CorpusRecord[], opts: MixerOptions, compose: ComposeFn, sources: readonly string[],
  weights: number[], strategy: MixStrategyName, seed: number, weightBy: "examples" | "tokens",
): MixComposition {
  return compose(corpus, {
    ...(opts.mixOptions ?? {}),
    sources: sources.slice(),
    weights,
    strategy,
    seed,
    weightBy,
    ...(opts.bins !== undefined ? { bins: opts.bins } : {}),
  });
}

/** Runs a check, rethrowing its error as the bare reason (the widget model names the trait). */
function reason<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error((err as Error).message.replace(/^mix(er)? option "[^"]*": /, ""));
  }
}

function checkStrategy(s: unknown): MixStrategyName {
  if (!MIX_STRATEGIES.includes(s as MixStrategyName))
    throw new MixerError("strategy", `expected one of ${MIX_STRATEGIES.join(", ")}, got ${JSON.stringify(s)}`);
  return s as MixStrategyName;
}

function checkSeed(s: unknown): number {
  if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 0) throw new MixerError("seed", `expected a non-negative integer, got ${JSON.stringify(s)}`);
  return s;
}

/** The mixers of one kernel (each also a model of the kernel's widget registry). */
export class MixerRegistry {
  private readonly mixers = new Set<Mixer>();

  constructor(
    private readonly widgets: WidgetRegistry,
    private readonly compose: ComposeFn,
  ) {}

  get host(): WidgetHost {
    return this.widgets.host;
  }

  create(corpus: readonly CorpusRecord[], opts: MixerOptions = {}): Mixer {
    if (typeof opts !== "object" || opts === null) throw new MixerError("options", "expected an object");
    const m = new Mixer(this.widgets, corpus, opts, this.compose, this);
    this.mixers.add(m);
    return m;
  }

  /** Live mixers, in creation order. */
  get all(): readonly Mixer[] {
    return [...this.mixers];
  }

  forget(m: Mixer): void {
    this.mixers.delete(m);
  }
}
