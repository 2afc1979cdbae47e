export * from "./config.js";
export * from "./student-tokenizer.js";
export * from "./transformer.js";
export { setKernelMode, usingFastKernels, kernelSettings } from "./kernels.js";
export { initBackend, backendInfo, type BackendInfo, type BackendName } from "../backend.js";
export { initMatMul, matMulInfo, blasAvailable, type MatMulChoice, type MatMulEngine, type MatMulInfo } from "./blas.js";
