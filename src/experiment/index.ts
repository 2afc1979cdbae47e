export * from "./hash.js";
export * from "./store.js";
export * from "./pool.js";
export * from "./sweep.js";
export * from "./monitor.js";
export * from "./variants.js";
export * from "./cluster.js";
export * from "./study.js";
