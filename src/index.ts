/**
 * mixdistill: the distillation library. Knows nothing of Jupyter; the kernel and notebooks use it
 * through this module (`import { ... } from "mixdistill"`).
 */
export * from "./contract.js";
export type { CorpusRecord } from "./data/record.js";
export * from "./train/spec.js";
export * from "./data/index.js";
export * from "./tokenize/index.js";
export * from "./mix/index.js";
export * from "./model/index.js";
export * from "./train/index.js";
export * from "./eval/index.js";
export * from "./gap/index.js";
export * from "./experiment/index.js";
export * from "./viz/index.js";

// Two areas name their length statistics alike: corpus lengths keep the plain name.
export { lengthStats, type LengthStats } from "./tokenize/index.js";
export { lengthStats as generationLengthStats, type LengthStats as GenerationLengthStats } from "./eval/index.js";
