export * from "./results.js";
export * from "./metrics.js";
export * from "./reference.js";
export * from "./import.js";
