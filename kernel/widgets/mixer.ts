/**
 * The kernel side of the mixer widget. `mixer(corpus, opts)` returns a Mixer: its `value` is the
 * weights (settable from code), `composition` the current mix, and displaying it shows the slider
 * widget (MIXER_MIME) with text/plain and a static text/html view as fallbacks.
 *
 * Binding: each front-end view opens a comm to MIXER_COMM_TARGET with open data `{comm_id}` naming
 * the mixer (the id in its mime bundle). The mixer answers every message on that comm: a state for
 * `request_state` and `update` (echoing `request_id`), an `{type: "error"}` for anything invalid.
 * A change from one view or from code is sent to every attached view.
 */
import { randomUUID } from "node:crypto";
import {
  MIXER_COMM_TARGET,
  MIXER_MIME,
  MIX_STRATEGIES,
  parseMixerClientMessage,
  type MixComposition,
  type MixerBundleData,
  type MixerKernelMessage,
  type MixerState,
  type MixStrategyName,
} from "../../src/contract/index.js";
import type { CorpusRecord, MixOptions } from "../../src/index.js";
import { resolveWeights } from "../../src/mix/index.js";
import type { Comm, DisplayHandle, MimeBundle, WidgetHost } from "./host.js";
import { mixerStaticHtml, mixerText } from "../../src/contract/static-view.js";

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

export class Mixer {
  readonly id = randomUUID().replace(/-/g, "");
  readonly sources: readonly string[];
  private weightsNow: number[];
  private strategyNow: MixStrategyName;
  private seedNow: number;
  private readonly weightBy: "examples" | "tokens";
  private compositionNow: MixComposition;
  private readonly comms = new Set<Comm>();
  private readonly handles: DisplayHandle[] = [];
  private closed = false;
  /** Milliseconds the last composition took to compute (what a slider move costs in the kernel). */
  lastComputeMs = 0;

  constructor(
    private readonly corpus: readonly CorpusRecord[],
    private readonly opts: MixerOptions,
    private readonly compose: ComposeFn,
    private readonly host: WidgetHost,
    private readonly registry: MixerRegistry,
  ) {
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
    this.sources = sources.slice();
    if (opts.weight !== undefined && opts.weights !== undefined) throw new MixerError("weight", "give weight or weights, not both");
    this.weightsNow =
      opts.weights !== undefined ? weightsFrom(opts.weights, sources, "weights")
      : opts.weight !== undefined ? weightsFrom(opts.weight, sources, "weight")
      : sources.map(() => 1 / sources.length);
    this.strategyNow = checkStrategy(opts.strategy ?? "per-question");
    this.seedNow = checkSeed(opts.seed ?? 0);
    const weightBy = opts.weightBy ?? "examples";
    if (weightBy !== "examples" && weightBy !== "tokens") throw new MixerError("weightBy", `expected examples or tokens, got ${JSON.stringify(weightBy)}`);
    this.weightBy = weightBy;
    if (opts.onChange !== undefined && typeof opts.onChange !== "function") throw new MixerError("onChange", "expected a function");
    this.compositionNow = this.computeWith(this.weightsNow, this.strategyNow, this.seedNow);
  }

  /** The weights, one per source, summing to 1. Setting them (array, or a number for the first of two) updates every view. */
  get value(): number[] {
    return this.weightsNow.slice();
  }
  set value(v: number[] | number) {
    this.set({ weights: weightsFrom(v, this.sources, "value") }, "code");
  }

  get strategy(): MixStrategyName {
    return this.strategyNow;
  }
  set strategy(s: MixStrategyName) {
    this.set({ strategy: checkStrategy(s) }, "code");
  }

  get seed(): number {
    return this.seedNow;
  }
  set seed(s: number) {
    this.set({ seed: checkSeed(s) }, "code");
  }

  get composition(): MixComposition {
    return this.compositionNow;
  }

  get state(): MixerState {
    return {
      sources: this.sources.slice(),
      weights: this.weightsNow.slice(),
      strategy: this.strategyNow,
      seed: this.seedNow,
      weightBy: this.weightBy,
      composition: this.compositionNow,
    };
  }

  /** The options that reproduce this mix with the library's `mix()` / `mixComposition()`. */
  get mixOptions(): MixOptions {
    return { ...(this.opts.mixOptions ?? {}), sources: this.sources.slice(), weights: this.value, strategy: this.strategyNow, seed: this.seedNow, weightBy: this.weightBy };
  }

  /** Number of front-end views bound now. */
  get views(): number {
    return this.comms.size;
  }

  /** The mime bundle: the widget for JupyterLab, a static table for everything else (nbconvert). */
  [Symbol.for("Jupyter.display")](): MimeBundle {
    const state = this.state;
    const data: MixerBundleData = { version: 1, comm_id: this.id, state };
    return { [MIXER_MIME]: data, "text/plain": mixerText(state), "text/html": mixerStaticHtml(state) };
  }

  /**
   * Displays the mixer with a display id, so that later changes (from code too, in a headless run)
   * also update this output: the saved notebook then shows the final mix.
   */
  show(): DisplayHandle {
    const handle = this.host.display(this);
    this.handles.push(handle);
    return handle;
  }

  /** Unbinds every view (they turn read-only) and forgets the mixer. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.comms) if (!c.closed) c.close({ message: "this mixer was closed in the kernel: re-run its cell for a live one" });
    this.comms.clear();
    this.registry.forget(this.id);
  }

  toString(): string {
    return mixerText(this.state);
  }

  /** A view's comm: answer it now with the state, then every message on it. */
  attach(comm: Comm): void {
    if (this.closed) {
      comm.send({ type: "error", message: "this mixer was closed in the kernel: re-run its cell for a live one" } satisfies MixerKernelMessage);
      comm.close({ message: "this mixer was closed in the kernel: re-run its cell for a live one" });
      return;
    }
    this.comms.add(comm);
    comm.onMsg((data) => this.onMessage(comm, data));
    comm.onClose(() => this.comms.delete(comm));
    this.sendTo(comm, { type: "state", state: this.state });
  }

  private onMessage(comm: Comm, data: unknown): void {
    const request_id =
      typeof data === "object" && data !== null && typeof (data as { request_id?: unknown }).request_id === "string"
        ? (data as { request_id: string }).request_id
        : undefined;
    const parsed = parseMixerClientMessage(data);
    if (!parsed.ok) {
      this.sendTo(comm, { type: "error", ...(request_id !== undefined ? { request_id } : {}), message: parsed.error });
      return;
    }
    const msg = parsed.value;
    if (msg.type === "request_state") {
      this.sendTo(comm, { type: "state", ...(request_id !== undefined ? { request_id } : {}), state: this.state });
      return;
    }
    try {
      // The contract checked the message; the library's options check that the weights fit the sources.
      this.set({ weights: msg.weights, strategy: msg.strategy, seed: msg.seed }, "frontend", comm, request_id);
    } catch (err) {
      this.sendTo(comm, { type: "error", ...(request_id !== undefined ? { request_id } : {}), message: (err as Error).message });
    }
  }

  /**
   * Applies a change: recomputes the composition, answers the requesting view (with its request id),
   * tells every other view, refreshes displays made by show(), then calls onChange.
   */
  private set(change: { weights?: number[]; strategy?: MixStrategyName; seed?: number }, origin: MixerChange["origin"], from?: Comm, request_id?: string): void {
    const weights = change.weights ?? this.weightsNow;
    const strategy = change.strategy ?? this.strategyNow;
    const seed = change.seed ?? this.seedNow;
    // Compute first: an error leaves the mixer as it was.
    const composition = this.computeWith(weights, strategy, seed);
    this.weightsNow = weights.slice();
    this.strategyNow = strategy;
    this.seedNow = seed;
    this.compositionNow = composition;
    const state = this.state;
    for (const c of this.comms) {
      if (c === from) this.sendTo(c, { type: "state", ...(request_id !== undefined ? { request_id } : {}), state });
      else this.sendTo(c, { type: "state", state });
    }
    for (const h of this.handles) {
      try {
        h.update(this);
      } catch (err) {
        this.report(from, request_id, `could not update the mixer's display: ${(err as Error).message}`);
      }
    }
    const cb = this.opts.onChange;
    if (cb) {
      try {
        cb({ weights: this.value, strategy, seed, origin }, this);
      } catch (err) {
        if (origin === "code") throw err;
        this.report(from, request_id, `onChange callback failed: ${(err as Error).message}`);
      }
    }
  }

  private computeWith(weights: number[], strategy: MixStrategyName, seed: number): MixComposition {
    const t0 = performance.now();
    const c = this.compose(this.corpus, {
      ...(this.opts.mixOptions ?? {}),
      sources: this.sources.slice(),
      weights,
      strategy,
      seed,
      weightBy: this.weightBy,
      ...(this.opts.bins !== undefined ? { bins: this.opts.bins } : {}),
    });
    this.lastComputeMs = performance.now() - t0;
    return c;
  }

  private report(comm: Comm | undefined, request_id: string | undefined, message: string): void {
    if (comm) this.sendTo(comm, { type: "error", ...(request_id !== undefined ? { request_id } : {}), message });
    else console.error(`mixer: ${message}`);
  }

  private sendTo(comm: Comm, msg: MixerKernelMessage): void {
    if (comm.closed) {
      this.comms.delete(comm);
      return;
    }
    try {
      comm.send(msg);
    } catch {
      // The front end went away between the check and the send.
      this.comms.delete(comm);
    }
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

/** The mixers of one kernel, and the comm target views use to reach them. */
export class MixerRegistry {
  private readonly mixers = new Map<string, Mixer>();

  constructor(
    private readonly host: WidgetHost,
    private readonly compose: ComposeFn,
  ) {
    host.comms.registerTarget(MIXER_COMM_TARGET, (comm, openData) => this.onOpen(comm, openData));
  }

  create(corpus: readonly CorpusRecord[], opts: MixerOptions = {}): Mixer {
    if (typeof opts !== "object" || opts === null) throw new MixerError("options", "expected an object");
    const m = new Mixer(corpus, opts, this.compose, this.host, this);
    this.mixers.set(m.id, m);
    return m;
  }

  get(id: string): Mixer | undefined {
    return this.mixers.get(id);
  }

  forget(id: string): void {
    this.mixers.delete(id);
  }

  private onOpen(comm: Comm, openData: unknown): void {
    const id = typeof openData === "object" && openData !== null ? (openData as { comm_id?: unknown }).comm_id : undefined;
    if (typeof id !== "string") {
      comm.send({ type: "error", message: "comm_open data: expected {comm_id: string} naming a mixer" } satisfies MixerKernelMessage);
      comm.close({ message: "comm_open data: expected {comm_id}" });
      return;
    }
    const m = this.mixers.get(id);
    if (!m) {
      // Typically a notebook reopened after a kernel restart: the view stays read-only.
      const message = "this mixer was made by an earlier kernel session: re-run its cell to move the sliders again";
      comm.send({ type: "error", message } satisfies MixerKernelMessage);
      comm.close({ message });
      return;
    }
    m.attach(comm);
  }
}
