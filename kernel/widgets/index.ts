import type { CorpusRecord } from "../../src/data/record.js";
import { mixComposition } from "../../src/mix/mix.js";
import type { InstallWidgets } from "./host.js";
import { MixerRegistry, type Mixer, type MixerOptions } from "./mixer.js";

export { Mixer, MixerError, MixerRegistry, normaliseWeights, type ComposeFn, type MixerChange, type MixerOptions } from "./mixer.js";
export { mixerStaticHtml, mixerText, histogramSvg } from "./static-view.js";

/** Cell globals provided by kernel-side widgets: `mixer(corpus, {sources, weight | weights, strategy, seed, weightBy, onChange})`. */
export const installWidgets: InstallWidgets = (host) => {
  const registry = new MixerRegistry(host, mixComposition);
  const mixer = (corpus: readonly CorpusRecord[], opts: MixerOptions = {}): Mixer => registry.create(corpus, opts);
  return { mixer };
};
