export * from "./results.js";
export * from "./metrics.js";
export * from "./reference.js";
export * from "./import.js";
export * from "./lmeval-samples.js";
export * from "./runs.js";
