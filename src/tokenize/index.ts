export * from "./token-counter.js";
export * from "./stats.js";
export * from "./cutoff.js";
