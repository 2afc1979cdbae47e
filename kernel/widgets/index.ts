import type { CorpusRecord } from "../../src/index.js";
import { mixComposition } from "../../src/mix/index.js"; // the "mixdistill/mix" entry point (the full entry loads the model code)
import type { InstallWidgets } from "./host.js";
import { MixerRegistry, type Mixer, type MixerOptions } from "./mixer.js";
import { WidgetRegistry } from "./model.js";
import { widgetsApi } from "./controls.js";

export { Mixer, MixerError, MixerRegistry, normaliseWeights, type ComposeFn, type MixerChange, type MixerOptions } from "./mixer.js";
export { WidgetModel, WidgetRegistry, splitBuffers, joinBuffers, type Change } from "./model.js";
export * as controls from "./controls.js";
export { mixerStaticHtml, mixerText, histogramSvg } from "../../src/contract/static-view.js";

/**
 * Cell globals provided by kernel-side widgets: `mixer(corpus, {sources, weight | weights, strategy, seed, weightBy, onChange})`
 * and `widgets` (IntSlider, FloatSlider, Dropdown, ToggleButtons, Text, Checkbox, Button, HBox, VBox, Output, anywidget)
 * on the Jupyter widget protocol 2.1.
 */
export const installWidgets: InstallWidgets = (host) => {
  const registry = new MixerRegistry(host, mixComposition);
  const mixer = (corpus: readonly CorpusRecord[], opts: MixerOptions = {}): Mixer => registry.create(corpus, opts);
  const widgets = widgetsApi(new WidgetRegistry(host));
  return { mixer, widgets };
};

/**
 * Declarations of the globals above for the kernel's language service (completion, diagnostics):
 * without them a cell using `mixer` gets "Cannot find name 'mixer'" warnings.
 */
export const WIDGET_GLOBALS_DTS = `
type MixdistillStrategy = "per-question" | "interleave" | "concat";
interface MixdistillMixerChange { weights: number[]; strategy: MixdistillStrategy; seed: number; origin: "frontend" | "code" }
interface MixdistillMixer {
  /** The weights, one per source, summing to 1; setting them (or a number: the first of two) moves the slider. */
  get value(): number[];
  set value(v: number[] | number);
  strategy: MixdistillStrategy;
  seed: number;
  readonly sources: readonly string[];
  readonly composition: import("mixdistill").MixComposition;
  readonly state: import("mixdistill").MixerState;
  readonly mixOptions: import("mixdistill").MixOptions;
  readonly views: number;
  readonly lastComputeMs: number;
  /** Displays the mixer with a display id: later changes also update that output. */
  show(): { readonly displayId: string; update(obj: unknown): void };
  close(): void;
}
/** The mixing slider widget: display(mixer(corpus, { sources: ["long", "short"], weight: 0.2 })). */
declare function mixer(
  corpus: readonly import("mixdistill").CorpusRecord[],
  opts?: {
    sources?: string[]; weight?: number; weights?: number[]; strategy?: MixdistillStrategy; seed?: number;
    weightBy?: "examples" | "tokens"; bins?: number; mixOptions?: Record<string, unknown>;
    onChange?: (change: MixdistillMixerChange, mixer: MixdistillMixer) => void;
  },
): MixdistillMixer;
`;
