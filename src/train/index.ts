export * from "./optimizer.js";
export * from "./batches.js";
export * from "./checkpoint.js";
export * from "./trainer.js";
export * from "./run.js";
