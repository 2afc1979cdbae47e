/**
 * `mixdistill/advanced`: everything the library's areas export, for advanced use and extensions
 * (line readers, planners, the streaming mix's parts, the student's kernels and tokenizer internals,
 * checkpoints, worker pools, plot helpers). The curated API is `mixdistill` (src/index.ts); names
 * here may change between versions.
 */
export * from "./contract/index.js";
export type { CorpusRecord } from "./data/record.js";
export * from "./train/spec.js";
export * from "./data/index.js";
export * from "./tokenize/index.js";
export * from "./mix/index.js";
export { planMix, exactCounts, QuestionDrawer, StreamingPlanner, type Plan, type CorpusView } from "./mix/plan.js";
export { ExportWriter } from "./mix/export.js";
export * from "./model/index.js";
export * from "./train/index.js";
export * from "./eval/index.js";
export * from "./gap/index.js";
export { binomial, normal, quantile } from "./gap/random.js";
export { makeRng, deriveSeed, type Rng as SeededRng } from "./data/rng.js";
export * from "./experiment/index.js";
export * from "./viz/index.js";
