export * from "./tokenizer.js";
export * from "./stats.js";
