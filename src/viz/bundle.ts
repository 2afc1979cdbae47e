/**
 * Plots as Jupyter display bundles (DESIGN.md): the plotly figure under this package's mime type
 * and plotly's own, a text/html that draws offline in an nbconvert HTML export, and text/plain
 * with the numbers. Objects display through `[Symbol.for("Jupyter.display")]()`, so both
 * `display(plot)` and a cell's last expression work.
 *
 * plotly.js (~4.8 MB) does not go into notebooks: JupyterLab's mixdistill extension renders the plot
 * mime type with its own copy, and the HTML export gets plotly.js once, at export time, from the
 * `mixdistill` nbconvert template that `mixdistill install` provides (used by `npm run notebooks`
 * and by JupyterLab's File > Save and Export As > HTML on the servers `npm start` runs). Front ends
 * with neither can opt in: `configurePlots({ plotlyJs: "once" })` or display `plotlyInit()`.
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { PLOT_MIME, PLOTLY_MIME, type PlotFigure } from "../contract/index.js";

export type MimeBundle = Record<string, unknown>;

/** How text/html outputs carry plotly.js: once per kernel process (default), in every plot, or never. */
export type PlotlyInclusion = "once" | "every" | "none";

let inclusion: PlotlyInclusion = "none";
let shipped = false;
let counter = 0;
let plotlySource: string | undefined;

/** Chooses how plot HTML carries plotly.js ("none", the default: the front end or the HTML export provides it). */
export function configurePlots(opts: { plotlyJs?: PlotlyInclusion }): void {
  if (opts.plotlyJs !== undefined) {
    if (!["once", "every", "none"].includes(opts.plotlyJs)) throw new Error(`plotlyJs: expected once, every or none, got ${JSON.stringify(opts.plotlyJs)}`);
    inclusion = opts.plotlyJs;
  }
}

/** Forgets that plotly.js was shipped (a new notebook in the same process; tests). */
export function resetPlotlyInclusion(): void {
  shipped = false;
  counter = 0;
}

/** The plotly.js bundle from the plotly.js-dist-min package, made safe to inline in a <script>. */
export function plotlyJsSource(): string {
  if (plotlySource === undefined) {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve("plotly.js-dist-min/plotly.min.js"), "utf8");
    plotlySource = src.replace(/<\/script/gi, "<\\/script");
  }
  return plotlySource;
}

export function plotlyVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("plotly.js-dist-min/package.json") as { version: string }).version;
}

/** A <script> defining window.Plotly unless the page has it; module loaders (AMD/CommonJS) are hidden so it lands on window. */
function plotlyScript(): string {
  return `<script type="text/javascript">if (!window.Plotly) { (function (module, exports, define) {\n${plotlyJsSource()}\n}).call(window); }</script>`;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
/** JSON that cannot close a <script> element. */
const scriptJson = (x: unknown) => JSON.stringify(x).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

/** A bundle that loads plotly.js into the page (text/html) for later plots; marks it shipped. */
export function plotlyInit(): { [k: symbol]: () => MimeBundle; toString(): string } {
  const text = `plotly.js ${plotlyVersion()} loaded for offline plots`;
  return {
    [Symbol.for("Jupyter.display")]: () => {
      shipped = true;
      return { "text/plain": text, "text/html": `${plotlyScript()}<div style="display:none">${esc(text)}</div>` };
    },
    toString: () => text,
  };
}

/** A plot: a plotly figure and the numbers it shows as text. */
export class Plot {
  constructor(
    readonly figure: PlotFigure,
    /** The numbers, for text/plain and front ends that cannot draw. */
    readonly text: string,
    readonly title?: string,
  ) {}

  /** The display bundle. The first one built in this process carries plotly.js (see configurePlots). */
  toBundle(): MimeBundle {
    const fig = this.figure;
    const include = inclusion === "every" || (inclusion === "once" && !shipped);
    if (include) shipped = true;
    const digest = createHash("sha256").update(JSON.stringify(fig)).digest("hex").slice(0, 10);
    const id = `mixdistill-plot-${digest}-${++counter}`;
    const html =
      (include ? plotlyScript() : "") +
      `<div id="${id}" class="mixdistill-plot" style="width:100%;max-width:900px;height:${Number(fig.layout.height ?? 420)}px"></div>` +
      `<pre id="${id}-text" class="mixdistill-plot-text">${esc(this.text)}</pre>` +
      `<script type="text/javascript">(function () {` +
      `var el = document.getElementById(${JSON.stringify(id)}), txt = document.getElementById(${JSON.stringify(id + "-text")});` +
      `var fig = ${scriptJson(fig)};` +
      `if (window.Plotly) { window.Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false}).then(function () { txt.style.display = "none"; }); }` +
      ` else { el.style.height = "auto"; el.textContent = "plotly.js is not in this page (the numbers are below): export with the mixdistill nbconvert template (mixdistill install; nbconvert --template mixdistill), or display plotlyInit() once and re-run this cell."; }` +
      `})();</script>`;
    const data: MimeBundle = {
      [PLOT_MIME]: this.title ? { ...fig, title: this.title } : fig,
      [PLOTLY_MIME]: fig,
      "text/html": html,
      "text/plain": this.text,
    };
    return data;
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return this.toBundle();
  }

  toString(): string {
    return this.text;
  }
}

/** Rounds to 4 significant digits to keep figure JSON small. */
export function r4(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(4));
}
