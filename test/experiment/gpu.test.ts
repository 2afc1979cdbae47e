import { describe, expect, it } from "vitest";
import { availableParallelism } from "node:os";
import { defaultWorkers, enableGpuMemoryGrowth, visibleGpus } from "../../src/backend.js";

const SMI = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb)\n";
const fail = () => {
  throw new Error("nvidia-smi: not found");
};

describe("GPU sharing for sweep workers (tfjs-node-gpu)", () => {
  it("turns on TensorFlow's GPU memory growth unless the user set it", () => {
    const env: NodeJS.ProcessEnv = {};
    enableGpuMemoryGrowth(env);
    expect(env.TF_FORCE_GPU_ALLOW_GROWTH).toBe("true");
    const mine: NodeJS.ProcessEnv = { TF_FORCE_GPU_ALLOW_GROWTH: "false" };
    enableGpuMemoryGrowth(mine);
    expect(mine.TF_FORCE_GPU_ALLOW_GROWTH).toBe("false");
  });

  it("finds the GPUs from CUDA_VISIBLE_DEVICES or nvidia-smi, none without tfjs-node-gpu", () => {
    expect(visibleGpus({}, () => SMI, true)).toEqual(["0", "1"]);
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "2, 3" }, () => SMI, true)).toEqual(["2", "3"]);
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "1,-1,2" }, () => SMI, true)).toEqual(["1"]);
    expect(visibleGpus({ CUDA_VISIBLE_DEVICES: "" }, () => SMI, true)).toEqual([]);
    expect(visibleGpus({}, fail, true)).toEqual([]);
    expect(visibleGpus({}, () => SMI, false)).toEqual([]);
    expect(visibleGpus({ MIXDISTILL_BACKEND: "wasm" }, () => SMI, true)).toEqual([]);
    // this machine has no tfjs-node-gpu: the default path finds nothing and keeps one worker per core
    expect(visibleGpus()).toEqual([]);
  });

  it("defaults to one worker per GPU when there is one, else one per core", () => {
    expect(defaultWorkers(["0", "1"])).toBe(2);
    expect(defaultWorkers(["3"])).toBe(1);
    expect(defaultWorkers([])).toBe(availableParallelism());
  });
});
