export * from "./bundle.js";
export * from "./plots.js";
