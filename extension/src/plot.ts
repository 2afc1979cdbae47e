/**
 * Renders PLOT_MIME outputs (a plotly figure) with plotly.js: follows JupyterLab's light/dark theme
 * (colors taken from the theme's CSS variables), resizes with its panel, and keeps the figure's own
 * hover templates so hovering shows the numbers. plotly.js is loaded on first use.
 */
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import { PLOT_MIME, parsePlotBundle, type PlotBundleData } from "../../src/contract/index";

type PlotlyModule = typeof import("plotly.js-dist-min");
let plotly: Promise<PlotlyModule> | null = null;
const loadPlotly = (): Promise<PlotlyModule> => (plotly ??= import("plotly.js-dist-min"));

/** Layout colors from the current JupyterLab theme. */
export function themeLayout(node: HTMLElement): Record<string, unknown> {
  const css = getComputedStyle(node);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  const font = v("--jp-ui-font-color1", "#1f1f1f");
  const grid = v("--jp-border-color2", "#e0e0e0");
  const axis = { gridcolor: grid, zerolinecolor: grid, linecolor: v("--jp-border-color1", "#bdbdbd"), color: font };
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: font, family: v("--jp-ui-font-family", "sans-serif") },
    xaxis: axis,
    yaxis: axis,
    legend: { font: { color: font } },
    hoverlabel: { bgcolor: v("--jp-layout-color0", "#fff"), font: { color: font }, bordercolor: grid },
  };
}

/** Deep-merges `over` (theme colors) under the figure's own settings: the figure wins where it says. */
function mergeUnder(theme: Record<string, unknown>, figure: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...theme };
  for (const [k, v] of Object.entries(figure)) {
    const t = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && t && typeof t === "object" && !Array.isArray(t)
        ? mergeUnder(t as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  // Axis keys beyond xaxis/yaxis (xaxis2, ...) get the same colors.
  for (const k of Object.keys(figure))
    if (/^[xy]axis\d+$/.test(k)) out[k] = mergeUnder(theme.xaxis as Record<string, unknown>, figure[k] as Record<string, unknown>);
  return out;
}

export class PlotRenderer extends Widget implements IRenderMime.IRenderer {
  private figure: PlotBundleData | null = null;
  private readonly plotNode = document.createElement("div");
  private readonly resizeObserver: ResizeObserver;
  private readonly themeObserver: MutationObserver;
  private drawn = false;
  private pendingResize = 0;

  constructor(readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass("jp-MixdistillPlot");
    this.plotNode.className = "jp-MixdistillPlot-figure";
    this.node.append(this.plotNode);
    this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
    this.resizeObserver.observe(this.node);
    // JupyterLab marks the theme on <body data-jp-theme-light="true|false" data-jp-theme-name="...">.
    this.themeObserver = new MutationObserver(() => void this.draw());
    this.themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const parsed = parsePlotBundle(model.data[PLOT_MIME]);
    if (!parsed.ok) {
      this.figure = null;
      this.plotNode.textContent = `invalid plot output: ${parsed.error}`;
      this.addClass("jp-MixdistillPlot-invalid");
      return;
    }
    this.removeClass("jp-MixdistillPlot-invalid");
    this.figure = parsed.value;
    await this.draw();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.resizeObserver.disconnect();
    this.themeObserver.disconnect();
    if (this.drawn) void loadPlotly().then((P) => P.purge(this.plotNode));
    super.dispose();
  }

  private async draw(): Promise<void> {
    const fig = this.figure;
    if (!fig || this.isDisposed) return;
    const P = await loadPlotly();
    if (this.isDisposed) return;
    const layout = mergeUnder(themeLayout(this.node), { autosize: true, ...fig.layout });
    // The figure's own height (Figure 1 with two panels is 820 px): the container takes it, so the
    // drawing is not cut to the stylesheet's default; the width follows the panel.
    const height = Number(fig.layout.height);
    this.plotNode.style.height = Number.isFinite(height) && height > 0 ? `${height}px` : "";
    this.node.dataset.theme = document.body.dataset.jpThemeLight === "false" ? "dark" : "light";
    await P.react(this.plotNode, fig.data, layout, { responsive: false, displaylogo: false });
    this.drawn = true;
  }

  private scheduleResize(): void {
    if (!this.drawn || this.pendingResize) return;
    this.pendingResize = requestAnimationFrame(() => {
      this.pendingResize = 0;
      if (!this.isDisposed && this.node.isConnected) void loadPlotly().then((P) => P.Plots.resize(this.plotNode));
    });
  }
}

export const plotRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [PLOT_MIME],
  defaultRank: 10,
  createRenderer: (options) => new PlotRenderer(options),
};
