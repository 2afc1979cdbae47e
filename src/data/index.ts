export * from "./errors.js";
export * from "./validate.js";
export * from "./atomic.js";
export * from "./jsonl.js";
export * from "./corpus.js";
export { synth, SYNTH_TASKS, STYLES, FAMILIES, type SynthOptions, type SynthTask, type SynthStyle, type SynthKnobs, type FamilyName } from "./synth/index.js";
export * from "./decontaminate.js";
export * from "./reasoning.js";
