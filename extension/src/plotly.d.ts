/** The part of plotly.js's API the plot renderer uses (plotly.js-dist-min ships no types). */
declare module "plotly.js-dist-min" {
  export interface PlotlyHTMLElement extends HTMLElement {
    on(event: string, handler: (e: unknown) => void): void;
  }
  export function react(
    root: HTMLElement,
    data: Array<Record<string, unknown>>,
    layout: Record<string, unknown>,
    config?: Record<string, unknown>,
  ): Promise<PlotlyHTMLElement>;
  export function purge(root: HTMLElement): void;
  export const Plots: { resize(root: HTMLElement): Promise<void> | void };
  const Plotly: { react: typeof react; purge: typeof purge; Plots: typeof Plots };
  export default Plotly;
}
