import type { CorpusRecord } from "../../src/index.js";
import { mixComposition } from "../../src/mix/index.js"; // the "mixdistill/mix" entry point (the full entry loads the model code)
import type { InstallWidgets } from "./host.js";
import { MixerRegistry, type Mixer, type MixerOptions } from "./mixer.js";
import { WidgetRegistry } from "./model.js";
import { widgetsApi } from "./controls.js";

export { Mixer, MixerError, MixerRegistry, MIXER_ANYWIDGET_ID, type ComposeFn, type MixerChange, type MixerOptions } from "./mixer.js";
export { WidgetModel, WidgetRegistry, splitBuffers, joinBuffers, type Change } from "./model.js";
export * as controls from "./controls.js";
export { mixerStaticHtml, mixerText, histogramSvg } from "../../src/contract/static-view.js";

/**
 * Cell globals provided by kernel-side widgets: `mixer(corpus, {sources, weight | weights, strategy, seed, weightBy, onChange})`
 * and `widgets` (IntSlider, FloatSlider, Dropdown, ToggleButtons, Text, Checkbox, Button, HBox, VBox, Output, anywidget)
 * on the Jupyter widget protocol 2.1.
 */
export const installWidgets: InstallWidgets = (host) => {
  const widgetRegistry = new WidgetRegistry(host);
  const registry = new MixerRegistry(widgetRegistry, mixComposition);
  const mixer = (corpus: readonly CorpusRecord[], opts: MixerOptions = {}): Mixer => registry.create(corpus, opts);
  const widgets = widgetsApi(widgetRegistry);
  return { mixer, widgets };
};
