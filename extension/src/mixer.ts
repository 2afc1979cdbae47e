/**
 * The mixer widget: renders MIXER_MIME outputs. A slider per source weight, a strategy choice,
 * a seed, and the composition (questions, tokens, mean length and a length histogram per source).
 *
 * Live when the notebook's kernel knows the mixer (bound over the comm, see channel.ts); read-only
 * from the saved state otherwise. Every state the kernel sends is written back into the output
 * (mime data and its text/html, text/plain fallbacks), so a saved notebook keeps the last mix.
 */
import type { ISessionContext } from "@jupyterlab/apputils";
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import type { Kernel } from "@jupyterlab/services";
import { Widget } from "@lumino/widgets";
import {
  MIXER_MIME,
  MIX_STRATEGIES,
  MIX_STRATEGY_DESCRIPTIONS,
  parseMixerBundle,
  type MixerBundleData,
  type MixerState,
  type MixStrategyName,
} from "../../src/contract/index";
import { histogramSvg, mixerStaticHtml, mixerText } from "../../src/contract/static-view";
import { MixerChannel } from "./channel";
import { formatPercent, formatRatio, rebalance, WEIGHT_DECIMALS } from "./weights";

type Mode = "live" | "connecting" | "read-only" | "invalid";

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const int = (n: number): string => Math.round(n).toLocaleString("en-US");

export class MixerRenderer extends Widget implements IRenderMime.IRenderer {
  private model: IRenderMime.IMimeModel | null = null;
  private bundle: MixerBundleData | null = null;
  private channel: MixerChannel | null = null;
  private mode: Mode = "read-only";
  private readonly status = el("span", "jp-MixdistillMixer-status");
  private readonly ratio = el("span", "jp-MixdistillMixer-ratio");
  private readonly sliders = el("div", "jp-MixdistillMixer-sliders");
  private readonly controls = el("div", "jp-MixdistillMixer-controls");
  private readonly strategy = el("select", "jp-MixdistillMixer-strategy");
  private readonly strategyNote = el("span", "jp-MixdistillMixer-strategyNote");
  private readonly seed = el("input", "jp-MixdistillMixer-seed");
  private readonly table = el("table", "jp-MixdistillMixer-composition");
  private readonly errorLine = el("div", "jp-MixdistillMixer-error");
  private sliderInputs: HTMLInputElement[] = [];

  constructor(
    private readonly sessionContext: ISessionContext | null,
    readonly options: IRenderMime.IRendererOptions,
  ) {
    super();
    this.addClass("jp-MixdistillMixer");
    const header = el("div", "jp-MixdistillMixer-header");
    header.append(el("span", "jp-MixdistillMixer-title", "Mix"), this.ratio, this.status);
    for (const s of MIX_STRATEGIES) {
      const o = el("option", undefined, s);
      o.value = s;
      this.strategy.append(o);
    }
    this.strategy.setAttribute("aria-label", "mix strategy");
    this.strategy.addEventListener("change", () => this.send({ strategy: this.strategy.value as MixStrategyName }));
    this.seed.type = "number";
    this.seed.min = "0";
    this.seed.step = "1";
    this.seed.setAttribute("aria-label", "seed");
    this.seed.addEventListener("change", () => {
      const v = Number(this.seed.value);
      if (Number.isSafeInteger(v) && v >= 0) this.send({ seed: v });
      else this.showError(`seed: expected a non-negative integer, got ${JSON.stringify(this.seed.value)}`);
    });
    const strategyLabel = el("label", undefined, "strategy ");
    strategyLabel.append(this.strategy);
    const seedLabel = el("label", undefined, "seed ");
    seedLabel.append(this.seed);
    this.controls.append(strategyLabel, seedLabel, this.strategyNote);
    this.node.append(header, this.sliders, this.controls, this.table, this.errorLine);
    // Keys typed into the controls are theirs: JupyterLab's notebook shortcuts (arrows, digits, Enter
    // in command mode) must not see them. Shift/Ctrl/Alt+Enter and Escape still reach the notebook.
    this.node.addEventListener("keydown", (e) => {
      const t = e.target as HTMLElement | null;
      if (!t || !/^(INPUT|SELECT)$/.test(t.tagName)) return;
      if (e.key === "Escape" || (e.key === "Enter" && (e.shiftKey || e.ctrlKey || e.altKey || e.metaKey))) return;
      e.stopPropagation();
      if (e.key === "Enter" && t === this.seed) this.seed.dispatchEvent(new Event("change"));
    });
    this.sessionContext?.kernelChanged.connect(this.onKernelChanged, this);
  }

  /** The state shown now (for tests and for the read-only view). */
  get state(): MixerState | null {
    return this.bundle?.state ?? null;
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.model = model;
    const parsed = parseMixerBundle(model.data[MIXER_MIME]);
    if (!parsed.ok) {
      this.bundle = null;
      this.setMode("invalid", `invalid mixer output: ${parsed.error}`);
      this.closeChannel();
      this.sliders.replaceChildren();
      this.table.replaceChildren();
      return;
    }
    const previous = this.bundle;
    this.bundle = parsed.value;
    if (!previous || previous.comm_id !== parsed.value.comm_id || this.sliderInputs.length !== parsed.value.state.sources.length)
      this.buildSliders(parsed.value.state);
    // Our own persist() re-renders through here: keep a slider the user is still moving.
    this.showState(parsed.value.state, !(this.channel?.busy ?? false));
    if (!this.channel || this.channel.mixerId !== parsed.value.comm_id) this.connect();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.sessionContext?.kernelChanged.disconnect(this.onKernelChanged, this);
    this.closeChannel();
    super.dispose();
  }

  private onKernelChanged(): void {
    // A new kernel does not know the old mixer: fall back to the saved state.
    this.closeChannel();
    this.connect();
  }

  private kernel(): Kernel.IKernelConnection | null {
    const k = this.sessionContext?.session?.kernel ?? null;
    return k && !k.isDisposed ? k : null;
  }

  private connect(): void {
    this.closeChannel();
    const kernel = this.kernel();
    if (!this.bundle || !kernel || !this.bundle.comm_id) {
      this.setMode("read-only", "read-only: saved state (no kernel); start the kernel and re-run this cell to move the sliders");
      return;
    }
    const channel = new MixerChannel(kernel, this.bundle.comm_id, {
      state: (state, settled) => {
        if (channel !== this.channel) return;
        if (this.mode !== "live") this.setMode("live", "live");
        // The state sent on attach usually equals the saved one: do not mark the notebook modified.
        const changed = JSON.stringify(state) !== JSON.stringify(this.bundle?.state);
        this.showState(state, settled);
        if (changed) this.persist(state);
      },
      error: (message) => {
        if (channel === this.channel) this.showError(message);
      },
      closed: (reason) => {
        if (channel !== this.channel) return;
        this.channel = null;
        this.setMode("read-only", `read-only: ${reason}`);
      },
    });
    this.channel = channel;
    this.setMode("connecting", "connecting to the kernel");
    try {
      channel.open();
    } catch (e) {
      this.channel = null;
      this.setMode("read-only", `read-only: ${(e as Error).message}`);
    }
  }

  private closeChannel(): void {
    const c = this.channel;
    this.channel = null;
    c?.dispose();
  }

  private send(change: { weights?: number[]; strategy?: MixStrategyName; seed?: number }): void {
    if (!this.channel || this.mode !== "live") return;
    this.showError("");
    this.channel.update(change);
  }

  private buildSliders(state: MixerState): void {
    this.sliderInputs = state.sources.map((source, i) => {
      const input = el("input", "jp-MixdistillMixer-slider");
      input.type = "range";
      input.min = "0";
      input.max = "1";
      input.step = String(10 ** -WEIGHT_DECIMALS);
      input.dataset.source = source;
      input.setAttribute("aria-label", `weight of ${source}`);
      input.addEventListener("input", () => this.onSlider(i, Number(input.value)));
      return input;
    });
    this.sliders.replaceChildren(
      ...this.sliderInputs.map((input, i) => {
        const row = el("label", "jp-MixdistillMixer-sliderRow");
        row.append(el("span", "jp-MixdistillMixer-source", state.sources[i]), input, el("output", "jp-MixdistillMixer-weight"));
        return row;
      }),
    );
  }

  private onSlider(index: number, value: number): void {
    if (!this.bundle) return;
    const weights = rebalance(this.currentWeights(), index, value);
    this.showWeights(weights, index);
    this.send({ weights });
  }

  private currentWeights(): number[] {
    return this.sliderInputs.map((s) => Number(s.value));
  }

  /** Shows weights on the sliders, leaving `skip` (the one under the pointer) alone. */
  private showWeights(weights: readonly number[], skip = -1): void {
    this.sliderInputs.forEach((input, i) => {
      const w = weights[i] ?? 0;
      if (i !== skip) input.value = String(w);
      const out = input.parentElement?.querySelector("output");
      if (out) out.textContent = formatPercent(w);
    });
    this.ratio.textContent = formatRatio(weights);
  }

  /** Renders a state. While newer local changes are unsent (`settled` false) the controls keep them. */
  private showState(state: MixerState, settled: boolean): void {
    if (this.bundle) this.bundle = { ...this.bundle, state };
    if (settled) {
      this.showWeights(state.weights);
      this.strategy.value = state.strategy;
      this.strategyNote.textContent = MIX_STRATEGY_DESCRIPTIONS[state.strategy] ?? "";
      // Never overwrite a seed the user is typing (a state may arrive mid-edit).
      if (document.activeElement !== this.seed) this.seed.value = String(state.seed);
    }
    this.node.dataset.weights = JSON.stringify(state.weights);
    this.renderComposition(state);
  }

  private renderComposition(state: MixerState): void {
    const head = el("tr");
    for (const h of ["source", "questions", "tokens", "mean tokens", "lengths"]) head.append(el("th", undefined, h));
    const rows = state.composition.sources.map((c) => {
      const tr = el("tr");
      tr.dataset.source = c.source;
      const hist = el("td", "jp-MixdistillMixer-hist");
      hist.innerHTML = histogramSvg(c.histogram, 120, 24, "var(--jp-brand-color1, #1976d2)");
      tr.append(
        el("td", "jp-MixdistillMixer-sourceCell", c.source),
        el("td", "jp-MixdistillMixer-questions", int(c.questions)),
        el("td", "jp-MixdistillMixer-tokens", int(c.tokens)),
        el("td", "jp-MixdistillMixer-mean", (Math.round(c.meanTokens * 10) / 10).toLocaleString("en-US")),
        hist,
      );
      return tr;
    });
    const total = el("tr", "jp-MixdistillMixer-total");
    const t = state.composition.total;
    total.append(el("td", undefined, "total"), el("td", undefined, int(t.questions)), el("td", undefined, int(t.tokens)),
      el("td", undefined, state.composition.dropped ? `${int(state.composition.dropped)} dropped` : ""), el("td"));
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    tbody.append(...rows, total);
    this.table.replaceChildren(thead, tbody);
  }

  /** Writes the state into the output so that saving the notebook keeps it (and its fallbacks). */
  private persist(state: MixerState): void {
    const model = this.model;
    if (!model || !this.bundle) return;
    const data: Record<string, unknown> = { ...model.data };
    data[MIXER_MIME] = { ...this.bundle, state };
    data["text/plain"] = mixerText(state);
    data["text/html"] = mixerStaticHtml(state);
    model.setData({ data: data as IRenderMime.IMimeModel["data"] });
  }

  private setMode(mode: Mode, text: string): void {
    this.mode = mode;
    this.node.dataset.mode = mode;
    this.status.textContent = text;
    const disabled = mode !== "live";
    for (const s of this.sliderInputs) s.disabled = disabled;
    this.strategy.disabled = disabled;
    this.seed.disabled = disabled;
  }

  private showError(message: string): void {
    this.errorLine.textContent = message;
  }
}

/** Creates the renderer factory for one notebook (bound to its session), or for kernel-less views. */
export function mixerRendererFactory(sessionContext: ISessionContext | null): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [MIXER_MIME],
    defaultRank: 10,
    createRenderer: (options) => new MixerRenderer(sessionContext, options),
  };
}
