export * from "./options.js";
export { planMix, exactCounts, QuestionDrawer, type Plan, type CorpusView } from "./plan.js";
export * from "./mix.js";
export * from "./export.js";
export * from "./stream.js";
export * from "./manifest.js";
export { fileDigest } from "./digest.js";
export * from "./build.js";
