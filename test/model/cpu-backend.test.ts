import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../src/backend.js";
import { resolveStudentConfig } from "../../src/model/config.js";
import { usingFastKernels } from "../../src/model/kernels.js";
import { makeRng } from "../../src/data/rng.js";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { StudentModel, type TokenBatch } from "../../src/model/transformer.js";
import { Trainer } from "../../src/train/trainer.js";

// The generic (backend-independent) layer kernels are what tfjs-node-gpu runs; that backend
// cannot install here, so they run on the cpu backend, against the wasm fast kernels.
const cfg = resolveStudentConfig({ dModel: 16, nLayers: 2, nHeads: 2, maxLen: 12 }, 9);
const r = makeRng(5);
const B = 3, T = 10;
const batch: TokenBatch = {
  B, T,
  inputs: Int32Array.from({ length: B * T }, () => r.int(9)),
  targets: Int32Array.from({ length: B * T }, () => r.int(9)),
  weights: Float32Array.from({ length: B * T }, (_, i) => (i % 5 ? 1 : 0)),
};

function lossAndGrads(): { loss: number; grads: Float32Array[] } {
  const m = StudentModel.init(cfg, 3);
  try {
    return tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => m.loss(p, batch))(m.params);
      return { loss: value.dataSync()[0]!, grads: grads.map((g) => g.dataSync().slice() as Float32Array) };
    });
  } finally {
    m.dispose();
  }
}

describe("generic kernels on the cpu backend", () => {
  it("give the wasm fast kernels' loss and gradients for every parameter", async () => {
    await initBackend("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(usingFastKernels()).toBe(false);
    const cpu = lossAndGrads();
    await initBackend("wasm");
    expect(usingFastKernels()).toBe(true);
    const wasm = lossAndGrads();
    await initBackend("cpu");
    expect(Number.isFinite(cpu.loss)).toBe(true);
    expect(Math.abs(cpu.loss - wasm.loss)).toBeLessThan(1e-5);
    expect(cpu.grads).toHaveLength(wasm.grads.length);
    cpu.grads.forEach((g, i) => {
      let nz = 0;
      g.forEach((v, j) => {
        expect(Math.abs(v - wasm.grads[i]![j]!)).toBeLessThan(1e-5);
        if (v !== 0) nz++;
      });
      if (i !== 0) expect(nz, `parameter ${i} has a gradient`).toBeGreaterThan(0);
    });
  });

  it("train a student on cpu: the loss falls, micro-batches included, nothing leaks", async () => {
    await initBackend("cpu");
    const data = Array.from({ length: 24 }, (_, i) => ({ prompt: `${i % 7}+${i % 5}`, response: `=\\boxed{${(i % 7) + (i % 5)}}` }));
    const tok = StudentTokenizer.trainChar(data.flatMap((e) => [e.prompt, e.response]));
    const model = StudentModel.init(resolveStudentConfig({ dModel: 16, nLayers: 2, nHeads: 2, maxLen: 16 }, tok.vocabSize), 1);
    const trainer = Trainer.create(model, tok, data, { budget: { kind: "steps", steps: 30 }, batchSize: 8, lr: 1e-2, warmupSteps: 2, weightDecay: 0, gradClip: 1, seed: 0 });
    trainer.microBatchFloats = 3 * 1024 * 8; // forces several micro-batches a step
    expect(trainer.microBatches(trainer.batchAt(0)).length).toBeGreaterThan(1);
    await trainer.run({ untilStep: 2 });
    const n0 = tf.memory().numTensors;
    await trainer.run();
    expect(tf.memory().numTensors).toBe(n0);
    const first = trainer.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = trainer.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(last).toBeLessThan(first * 0.8);
    trainer.dispose();
    model.dispose();
  });
});
