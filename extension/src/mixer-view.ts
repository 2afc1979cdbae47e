/**
 * The mixer's view: an anywidget front-end module (`export default { render({ model, el }) }`).
 * It is the one view of the mixer: bundled by esbuild (scripts/bundle-views.mjs) into the string the
 * kernel sends in the model's `_esm`, so JupyterLab, Notebook 7, VS Code and any anywidget host
 * render the same thing from the same state (`sources`, `weights`, `strategy`, `seed`, `weightBy`,
 * `composition`). It only reads the state and sets `weights`, `strategy` and `seed`; the kernel
 * validates, recomputes the composition and answers errors as `custom` messages `{type: "error"}`.
 * No dependencies beyond the shared contract; styles are scoped to `.mixdistill-mixer`.
 */
import { MIX_STRATEGIES, MIX_STRATEGY_DESCRIPTIONS, type MixComposition, type MixStrategyName } from "../../src/contract/index";
import { histogramSvg } from "../../src/contract/static-view";
import { formatPercent, formatRatio, rebalance, WEIGHT_DECIMALS } from "./weights";

/** The part of anywidget's model API the view uses. */
export interface AfmModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  off(event?: string | null, cb?: ((...args: unknown[]) => void) | null): void;
}

const CSS = `
.mixdistill-mixer { box-sizing: border-box; max-width: 100%; min-width: 0; padding: 8px 10px; font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, inherit); border: 1px solid var(--jp-border-color2, #ccc); border-radius: 4px; overflow-x: auto; }
.mixdistill-mixer *, .mixdistill-mixer *::before { box-sizing: border-box; }
.mixdistill-mixer-header { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; margin-bottom: 6px; }
.mixdistill-mixer-title { font-weight: 600; }
.mixdistill-mixer-ratio { font-family: var(--jp-code-font-family, monospace); }
.mixdistill-mixer-note { color: var(--jp-ui-font-color2, #666); font-size: var(--jp-ui-font-size0, 11px); }
.mixdistill-mixer-sliderRow { display: grid; grid-template-columns: minmax(4em, 9em) minmax(0, 1fr) 4.5em; gap: 8px; align-items: center; }
.mixdistill-mixer-slider { width: 100%; min-width: 0; margin: 2px 0; accent-color: var(--jp-brand-color1, #1976d2); }
.mixdistill-mixer-source { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mixdistill-mixer-weight { text-align: right; font-family: var(--jp-code-font-family, monospace); transition: background-color 0.6s; border-radius: 3px; padding: 0 2px; }
.mixdistill-mixer-weight.mixdistill-mixer-moved { background-color: var(--jp-warn-color3, #ffe9a8); }
.mixdistill-mixer-controls { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0; align-items: baseline; }
.mixdistill-mixer-controls select, .mixdistill-mixer-controls input { font: inherit; color: inherit; background: var(--jp-layout-color1, transparent);
  border: 1px solid var(--jp-border-color1, #999); border-radius: 2px; }
.mixdistill-mixer-seed { width: 6em; }
.mixdistill-mixer-strategyNote { flex-basis: 100%; color: var(--jp-ui-font-color2, #666); font-style: italic; }
.mixdistill-mixer-composition { border-collapse: collapse; width: 100%; max-width: 100%; table-layout: auto; }
.mixdistill-mixer-composition th, .mixdistill-mixer-composition td { padding: 2px 6px; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--jp-border-color2, #ddd); }
.mixdistill-mixer-composition th:first-child, .mixdistill-mixer-composition td:first-child { text-align: left; max-width: 10em; overflow: hidden; text-overflow: ellipsis; }
.mixdistill-mixer-composition th { font-weight: 600; white-space: normal; vertical-align: bottom; border-bottom-color: var(--jp-border-color1, #999); }
.mixdistill-mixer-hist svg { display: block; max-width: 100%; height: auto; }
.mixdistill-mixer-total td { font-weight: 600; }
.mixdistill-mixer-error { color: var(--jp-error-color1, #d32f2f); min-height: 1em; }
.mixdistill-mixer-lost { color: var(--jp-warn-color0, #b35900); font-weight: 600; }
.mixdistill-mixer[data-lost] .mixdistill-mixer-sliders, .mixdistill-mixer[data-lost] .mixdistill-mixer-controls { opacity: 0.5; }
`;

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
/** What the mixer says once its kernel side is gone. */
export const LOST_MESSAGE = "This mixer's kernel has restarted or stopped: re-run the cell that made it to use it again.";
const repeats = (s: MixStrategyName): boolean => s !== "per-question";

export function render({ model, el: root }: { model: AfmModel; el: HTMLElement }): () => void {
  const style = el("style");
  style.textContent = CSS;
  const node = el("div", "mixdistill-mixer");
  const ratio = el("span", "mixdistill-mixer-ratio");
  const header = el("div", "mixdistill-mixer-header");
  const note = el("span", "mixdistill-mixer-note");
  header.append(el("span", "mixdistill-mixer-title", "Mix"), ratio, note);
  const sliders = el("div", "mixdistill-mixer-sliders");
  const controls = el("div", "mixdistill-mixer-controls");
  const strategy = el("select", "mixdistill-mixer-strategy");
  for (const s of MIX_STRATEGIES) {
    const o = el("option", undefined, s);
    o.value = s;
    strategy.append(o);
  }
  strategy.setAttribute("aria-label", "mix strategy");
  const seed = el("input", "mixdistill-mixer-seed");
  seed.type = "number";
  seed.min = "0";
  seed.step = "1";
  seed.setAttribute("aria-label", "seed");
  const strategyNote = el("span", "mixdistill-mixer-strategyNote");
  const strategyLabel = el("label", undefined, "strategy ");
  strategyLabel.append(strategy);
  const seedLabel = el("label", undefined, "seed ");
  seedLabel.append(seed);
  controls.append(strategyLabel, seedLabel, strategyNote);
  const table = el("table", "mixdistill-mixer-composition");
  const errorLine = el("div", "mixdistill-mixer-error");
  errorLine.setAttribute("role", "status");
  node.append(header, sliders, controls, table, errorLine);
  root.replaceChildren(style, node);

  let inputs: HTMLInputElement[] = [];
  let builtFor = "";
  // The weights when the current gesture (a drag, a run of key presses) began: the others keep their
  // proportions of that, not of the rounded weights of the previous step.
  let anchor: number[] | null = null;
  let lastSent = "";
  const sources = (): string[] => (model.get("sources") as string[]) ?? [];
  const weightsNow = (): number[] => ((model.get("weights") as number[]) ?? []).slice();

  const commit = (name: string, value: unknown): void => {
    errorLine.textContent = "";
    model.set(name, value);
    model.save_changes();
  };

  const showWeights = (weights: readonly number[], skip: number, moved: readonly number[] = []): void => {
    inputs.forEach((input, i) => {
      const w = weights[i] ?? 0;
      if (i !== skip) input.value = String(w);
      const out = input.parentElement?.querySelector("output");
      if (out) {
        out.textContent = formatPercent(w);
        if (moved.includes(i)) {
          out.classList.add("mixdistill-mixer-moved");
          setTimeout(() => out.classList.remove("mixdistill-mixer-moved"), 700);
        }
      }
    });
    ratio.textContent = formatRatio(weights);
    node.dataset.weights = JSON.stringify(weights);
  };

  const buildSliders = (): void => {
    const names = sources();
    builtFor = JSON.stringify(names);
    inputs = names.map((source, i) => {
      const input = el("input", "mixdistill-mixer-slider");
      input.type = "range";
      input.min = "0";
      input.max = "1";
      input.step = String(10 ** -WEIGHT_DECIMALS);
      input.dataset.source = source;
      input.setAttribute("aria-label", `weight of ${source}`);
      const begin = (): void => {
        anchor ??= inputs.map((s) => Number(s.value));
      };
      input.addEventListener("pointerdown", begin);
      input.addEventListener("keydown", begin);
      input.addEventListener("blur", () => (anchor = null));
      input.addEventListener("input", () => {
        const before = inputs.map((s) => Number(s.value));
        const next = rebalance(anchor ?? before, i, Number(input.value));
        lastSent = JSON.stringify(next);
        const moved = next.map((w, j) => (j !== i && Math.abs(w - before[j]!) > 1e-9 ? j : -1)).filter((j) => j >= 0);
        showWeights(next, i, moved);
        commit("weights", next);
      });
      return input;
    });
    sliders.replaceChildren(
      ...inputs.map((input, i) => {
        const row = el("label", "mixdistill-mixer-sliderRow");
        row.append(el("span", "mixdistill-mixer-source", names[i]), input, el("output", "mixdistill-mixer-weight"));
        return row;
      }),
    );
    note.textContent =
      names.length > 2
        ? "moving one slider rescales the others in proportion, so the weights always sum to 100%"
        : "the two weights always sum to 100%";
  };

  const renderComposition = (): void => {
    const c = model.get("composition") as MixComposition | undefined;
    const s = model.get("strategy") as MixStrategyName;
    if (!c) return;
    const weights = weightsNow();
    const both = repeats(s);
    const heads = ["source", "weight", ...(both ? ["questions used", "examples written"] : ["questions"]), "tokens", "mean tokens", "lengths"];
    const head = el("tr");
    for (const h of heads) head.append(el("th", undefined, h));
    const names = sources();
    const rows = c.sources.map((src) => {
      const tr = el("tr");
      tr.dataset.source = src.source;
      const hist = el("td", "mixdistill-mixer-hist");
      hist.innerHTML = histogramSvg(src.histogram, 96, 22, "var(--jp-brand-color1, #1976d2)");
      tr.append(
        el("td", "mixdistill-mixer-sourceCell", src.source),
        el("td", "mixdistill-mixer-weightCell", formatPercent(weights[names.indexOf(src.source)] ?? 0)),
        // Within one source a question is used at most once: its questions are its examples.
        el("td", "mixdistill-mixer-questions", int(src.questions)),
        ...(both ? [el("td", "mixdistill-mixer-examples", int(src.questions))] : []),
        el("td", "mixdistill-mixer-tokens", int(src.tokens)),
        el("td", "mixdistill-mixer-mean", (Math.round(src.meanTokens * 10) / 10).toLocaleString("en-US")),
        hist,
      );
      return tr;
    });
    const total = el("tr", "mixdistill-mixer-total");
    const used = c.total.questionsUsed ?? c.total.questions;
    total.append(
      el("td", undefined, "total"),
      el("td"),
      el("td", "mixdistill-mixer-questions", int(both ? used : c.total.questions)),
      ...(both ? [el("td", "mixdistill-mixer-examples", int(c.total.questions))] : []),
      el("td", "mixdistill-mixer-tokens", int(c.total.tokens)),
      el("td", undefined, c.dropped ? `${int(c.dropped)} dropped` : ""),
      el("td"),
    );
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    tbody.append(...rows, total);
    table.replaceChildren(thead, tbody);
    node.dataset.questions = JSON.stringify(c.sources.map((x) => x.questions));
  };

  const showAll = (): void => {
    if (JSON.stringify(sources()) !== builtFor) buildSliders();
    // Weights that are not the ones this view sent (code, another view) start a new gesture.
    if (JSON.stringify(weightsNow()) !== lastSent) anchor = null;
    const active = inputs.indexOf(document.activeElement as HTMLInputElement);
    showWeights(weightsNow(), active);
    const s = model.get("strategy") as MixStrategyName;
    strategy.value = s;
    strategyNote.textContent = MIX_STRATEGY_DESCRIPTIONS[s] ?? "";
    if (document.activeElement !== seed) seed.value = String(model.get("seed"));
    renderComposition();
  };

  strategy.addEventListener("change", () => commit("strategy", strategy.value));
  const sendSeed = (): void => {
    const v = Number(seed.value);
    if (seed.value.trim() !== "" && Number.isSafeInteger(v) && v >= 0) commit("seed", v);
    else errorLine.textContent = `seed: expected a non-negative integer, got ${JSON.stringify(seed.value)}`;
  };
  seed.addEventListener("change", sendSeed);
  // Keys typed into the controls are theirs: the notebook's command-mode shortcuts must not see them.
  // Shift/Ctrl/Alt+Enter and Escape still reach the notebook.
  node.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement | null;
    if (!t || !/^(INPUT|SELECT)$/.test(t.tagName)) return;
    if (e.key === "Escape" || (e.key === "Enter" && (e.shiftKey || e.ctrlKey || e.altKey || e.metaKey))) return;
    e.stopPropagation();
    if (e.key === "Enter" && t === seed) sendSeed();
  });

  const onState = (): void => showAll();
  const onComposition = (): void => renderComposition();
  const onCustom = (content: unknown): void => {
    const m = content as { type?: unknown; message?: unknown } | null;
    if (m && m.type === "error" && typeof m.message === "string") {
      errorLine.textContent = m.message;
      node.dataset.error = m.message;
    }
  };
  for (const n of ["sources", "weights", "strategy", "seed"]) model.on(`change:${n}`, onState);
  model.on("change:composition", onComposition);
  model.on("msg:custom", onCustom);
  // The kernel side of the mixer is gone (the kernel restarted or stopped): say what to do and
  // disable the controls, which could no longer change anything. Widget managers built on
  // @jupyter-widgets/base, which anywidget's hosts are, fire "comm_live_update" when they mark a
  // model's comm dead (a model's comm is live from before its first view, so after render it only
  // goes dead) and "destroy" when the model is closed.
  const onLost = (): void => {
    if (node.dataset.lost !== undefined) return;
    node.dataset.lost = "";
    for (const c of [...inputs, strategy, seed]) c.disabled = true;
    const lost = el("div", "mixdistill-mixer-lost", LOST_MESSAGE);
    lost.setAttribute("role", "status");
    node.append(lost);
  };
  model.on("comm_live_update", onLost);
  model.on("destroy", onLost);
  showAll();
  return () => {
    for (const n of ["sources", "weights", "strategy", "seed"]) model.off(`change:${n}`, onState);
    model.off("change:composition", onComposition);
    model.off("msg:custom", onCustom);
    model.off("comm_live_update", onLost);
    model.off("destroy", onLost);
  };
}

export default { render };
