import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/backend.js";
import { resolveStudentConfig, STUDENT_SIZE_NAMES } from "../../src/model/config.js";
import { makeRng } from "../../src/data/rng.js";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { StudentModel } from "../../src/model/transformer.js";
import { stepFloatsPerRow, Trainer } from "../../src/train/trainer.js";

beforeAll(async () => {
  await initBackend("wasm");
});

/** The context the study's long traces are trained at (their longest trace plus prompt fits 512). */
const T = 512;
const B = 16;

function heapBytes(): number {
  const be = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return be.wasm!.HEAPU8.buffer.byteLength;
}

/** B examples of exactly T + 1 tokens (`<bos> prompt <resp> response <eos>`): every batch is full length. */
function fullLength(seed: number) {
  const r = makeRng(seed);
  const digits = () => String(r.int(10));
  return Array.from({ length: B }, () => {
    const prompt = Array.from({ length: 20 }, digits).join("");
    return { prompt, response: Array.from({ length: T + 1 - 20 - 3 }, digits).join("") };
  });
}

describe("training memory at the longest context", () => {
  // Autodiff keeps a micro-batch's activations and gradients until its backward pass ends, and the
  // wasm heap never shrinks: before the step's working set was capped, mini reached 2.4 GB here
  // (and views of the heap broke past 2 GiB), base ran out of the 4 GB heap.
  it("every named student trains a full-length batch of 16 within its estimate, the wasm heap under 1 GiB", async () => {
    const data = fullLength(3);
    const tok = StudentTokenizer.trainChar(data.flatMap((e) => [e.prompt, e.response]));
    for (const name of STUDENT_SIZE_NAMES) {
      const model = StudentModel.init(resolveStudentConfig(name, tok.vocabSize, { maxLen: T }), 0);
      const trainer = Trainer.create(model, tok, data, { budget: { kind: "steps", steps: 1 }, batchSize: B, lr: 1e-3, warmupSteps: 0, weightDecay: 0, gradClip: 1, seed: 0 });
      expect(trainer.data.truncated).toBe(0);
      expect(Math.max(...trainer.data.examples.map((e) => e.ids.length))).toBe(T + 1);
      const parts = trainer.microBatches(trainer.batchAt(0));
      expect(parts.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: B }, (_, i) => i));
      const rows = Math.max(...parts.map((p) => p.length));
      const before = tf.memory().numBytes;
      const tensors = tf.memory().numTensors;
      let loss = NaN;
      const prof = await tf.profile(() => void (loss = trainer.trainStep()));
      expect(Number.isFinite(loss)).toBe(true);
      expect(tf.memory().numTensors).toBe(tensors);
      // the step's peak above what lives between steps (weights, moments) is within the estimate the
      // micro-batches are sized by, plus the accumulated gradients and the optimiser's new weights and moments
      const params = model.numParams;
      expect(prof.peakBytes - before, name).toBeLessThanOrEqual(4 * (rows * stepFloatsPerRow(model.config, T) + 6 * params));
      expect(heapBytes(), name).toBeLessThan(2 ** 30);
      trainer.dispose();
      model.dispose();
    }
  }, 600_000);
});
