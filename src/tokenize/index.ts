export * from "./tokenizer.js";
export * from "./stats.js";
export * from "./cutoff.js";
