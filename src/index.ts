/**
 * mixdistill: the distillation library. Knows nothing of Jupyter; the kernel and notebooks use it
 * through this module (`import { ... } from "mixdistill"`).
 */
export * from "./contract/index.js";
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

