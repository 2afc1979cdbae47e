/**
 * Static views of a mixer state: the text/plain and text/html fallbacks of the mixer's mime bundle.
 * They are what nbconvert's HTML export (and any front end without the extension) shows: the last
 * weights and the composition, with an inline-SVG histogram per source. No scripts, no styles
 * outside the element, so the HTML is safe to embed anywhere. Dependency-free: the JupyterLab
 * extension bundles this file too, to refresh the fallbacks when the slider moves.
 */
import { MIX_STRATEGY_DESCRIPTIONS, type MixerState, type SourceComposition } from "./index.js";

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const pct = (w: number): string => `${Math.round(w * 1000) / 10}%`;
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const mean = (n: number): string => (Math.round(n * 10) / 10).toLocaleString("en-US");

/** One line per source: weight, questions, tokens, mean length. */
export function mixerText(state: MixerState): string {
  const lines = [
    `Mixer (${state.strategy}, seed ${state.seed}, weights by ${state.weightBy}): ` +
      state.sources.map((s, i) => `${s}=${state.weights[i]!.toFixed(2)}`).join(", "),
  ];
  for (const c of state.composition.sources)
    lines.push(`  ${c.source}: ${int(c.questions)} questions, ${int(c.tokens)} tokens, mean ${mean(c.meanTokens)}`);
  const t = state.composition.total;
  lines.push(`  total: ${int(t.questions)} questions, ${int(t.tokens)} tokens` +
    (state.composition.dropped ? `, ${int(state.composition.dropped)} dropped` : ""));
  return lines.join("\n");
}

/** A small bar chart of a length histogram as inline SVG (width x height pixels). */
export function histogramSvg(h: SourceComposition["histogram"], width = 120, height = 28, color = "#1f77b4"): string {
  const n = h.counts.length;
  const max = Math.max(1, ...h.counts);
  const bw = n > 0 ? width / n : width;
  const bars = h.counts
    .map((c, i) => {
      const bh = (c / max) * (height - 1);
      const lo = h.edges[i] ?? 0;
      const hi = h.edges[i + 1] ?? lo;
      return `<rect x="${(i * bw).toFixed(2)}" y="${(height - bh).toFixed(2)}" width="${Math.max(0.5, bw - 1).toFixed(2)}" height="${bh.toFixed(2)}" fill="${color}"><title>${int(lo)}-${int(hi)} tokens: ${int(c)}</title></rect>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="length histogram">${bars}</svg>`;
}

/** The static HTML view: a caption with the mix parameters and a table of the composition. */
export function mixerStaticHtml(state: MixerState): string {
  const weightOf = new Map(state.sources.map((s, i) => [s, state.weights[i]!]));
  const cell = "padding:2px 8px;text-align:right;border-bottom:1px solid #ddd";
  const head = "padding:2px 8px;text-align:right;border-bottom:1px solid #999";
  const rows = state.composition.sources
    .map(
      (c) =>
        `<tr><td style="${cell};text-align:left">${escapeHtml(c.source)}</td>` +
        `<td style="${cell}">${pct(weightOf.get(c.source) ?? 0)}</td>` +
        `<td style="${cell}">${int(c.questions)}</td><td style="${cell}">${int(c.tokens)}</td>` +
        `<td style="${cell}">${mean(c.meanTokens)}</td><td style="${cell}">${histogramSvg(c.histogram)}</td></tr>`,
    )
    .join("");
  const t = state.composition.total;
  const caption =
    `Mix of ${state.sources.map(escapeHtml).join(" / ")}: strategy ${escapeHtml(state.strategy)}, seed ${state.seed}, ` +
    `weights by ${escapeHtml(state.weightBy)}` + (state.composition.dropped ? `, ${int(state.composition.dropped)} dropped` : "") +
    `<br><i>${escapeHtml(MIX_STRATEGY_DESCRIPTIONS[state.strategy] ?? "")}</i>`;
  return (
    `<div class="mixdistill-mixer-static" data-mixdistill-weights="${escapeHtml(JSON.stringify(state.weights))}">` +
    `<table style="border-collapse:collapse;font-size:0.9em"><caption style="text-align:left;padding-bottom:4px">${caption}</caption>` +
    `<thead><tr><th style="${head};text-align:left">source</th><th style="${head}">weight</th><th style="${head}">questions</th>` +
    `<th style="${head}">tokens</th><th style="${head}">mean tokens</th><th style="${head}">lengths</th></tr></thead>` +
    `<tbody>${rows}</tbody><tfoot><tr><td style="padding:2px 8px"><b>total</b></td><td></td>` +
    `<td style="padding:2px 8px;text-align:right"><b>${int(t.questions)}</b></td><td style="padding:2px 8px;text-align:right"><b>${int(t.tokens)}</b></td>` +
    `<td></td><td></td></tr></tfoot></table></div>`
  );
}
