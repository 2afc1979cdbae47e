import * as tf from "@tensorflow/tfjs";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/backend.js";
import { resolveStudentConfig } from "../../src/model/config.js";
import { makeRng } from "../../src/data/rng.js";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { StudentModel } from "../../src/model/transformer.js";
import { batchTokens, encodeExamples, makeBatch, planEpoch } from "../../src/train/batches.js";
import { readCheckpoint } from "../../src/train/checkpoint.js";
import { AdamW, learningRate } from "../../src/train/optimizer.js";
import { setKernelMode } from "../../src/model/kernels.js";
import { runTrainEval } from "../../src/train/run.js";
import { loadStudent, saveStudent, Trainer } from "../../src/train/trainer.js";
import type { TrainConfig, TrainExample } from "../../src/train/spec.js";

let dir: string;
beforeAll(async () => {
  await initBackend("wasm");
  dir = mkdtempSync(join(tmpdir(), "md-train-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** a+b with a one-line "reasoning" response ending in \boxed{}. */
function addition(n: number, seed: number) {
  const r = makeRng(seed);
  return Array.from({ length: n }, () => {
    const a = r.int(10);
    const b = r.int(10);
    return { prompt: `${a}+${b}`, response: `${a}+${b}=\\boxed{${a + b}}`, answer: String(a + b) };
  });
}

const CFG = { dModel: 32, nLayers: 2, nHeads: 4, maxLen: 24 };
const TRAIN: TrainConfig = { budget: { kind: "steps", steps: 12 }, batchSize: 8, lr: 3e-3, warmupSteps: 3, weightDecay: 0.01, gradClip: 1, seed: 7 };

function setup(data: TrainExample[], train: TrainConfig = TRAIN) {
  const tok = StudentTokenizer.trainChar(data.flatMap((e) => [e.prompt, e.response]));
  const model = StudentModel.init(resolveStudentConfig(CFG, tok.vocabSize), train.seed);
  return { tok, model, trainer: Trainer.create(model, tok, data, train) };
}

const weights = (m: StudentModel) => m.params.map((p) => Array.from(p.dataSync()));

describe("training", () => {
  it("a tiny student learns a toy task: loss falls and accuracy rises", async () => {
    const data = addition(400, 1);
    const test = addition(60, 2).map((e, i) => ({ id: `t${i}`, prompt: e.prompt, answer: e.answer, task: "add", level: 1 + (i % 2) }));
    const spec = { student: CFG, train: data, test, maxNewTokens: 16 };
    const before = await runTrainEval({ ...spec, training: { ...TRAIN, budget: { kind: "steps", steps: 1 } } });
    const seen: number[] = [];
    const after = await runTrainEval({ ...spec, training: { ...TRAIN, batchSize: 16, warmupSteps: 20, budget: { kind: "steps", steps: 300 } } }, { onProgress: (p) => p.phase === "train" && seen.push(p.loss!) });
    expect(seen.length).toBe(300);
    const first = seen.slice(0, 10).reduce((a, b) => a + b) / 10;
    const last = seen.slice(-10).reduce((a, b) => a + b) / 10;
    expect(last).toBeLessThan(first * 0.3);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.3);
    expect(after.accuracy).toBeGreaterThan(0.5);
    expect(Object.keys(after.perLevel).sort()).toEqual(["1", "2"]);
    expect(after.perTask.add!.n).toBe(60);
    expect(after.lengths!.stoppedFraction).toBeGreaterThan(0.9);
    expect(after.backend).toBe("wasm");
    expect(after.examples[0]!.output).toMatch(/boxed/);
  });

  it("is deterministic by seed, and the seed matters", async () => {
    const data = addition(64, 3);
    const run = async (seed: number) => {
      const { model, trainer } = setup(data, { ...TRAIN, seed });
      const s = await trainer.run();
      const w = weights(model);
      trainer.dispose();
      model.dispose();
      return { losses: s.losses, w };
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(b.losses).toEqual(a.losses);
    expect(b.w).toEqual(a.w);
    expect(c.losses).not.toEqual(a.losses);
  });

  it("resumes from a checkpoint to exactly the uninterrupted result", async () => {
    const data = addition(64, 4);
    const full = setup(data);
    await full.trainer.run();
    const path = join(dir, "ck.mdckpt");
    const part = setup(data);
    const s1 = await part.trainer.run({ untilStep: 5, checkpointPath: path });
    expect(s1.status).toBe("paused");
    part.trainer.dispose();
    part.model.dispose();
    const resumed = Trainer.resume(path, data);
    expect(resumed.step).toBe(5);
    const s2 = await resumed.run();
    expect(s2.status).toBe("done");
    expect(s2.losses).toEqual(full.trainer.losses);
    expect(weights(resumed.model)).toEqual(weights(full.model));
    expect(() => Trainer.resume(path, addition(64, 99))).toThrow(/differ/);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    for (const t of [full, { trainer: resumed, model: resumed.model }]) {
      t.trainer.dispose();
      t.model.dispose();
    }
  });

  it("abort stops between steps and leaves the model of the last completed step", async () => {
    const data = addition(64, 5);
    const ref = setup(data);
    await ref.trainer.run({ untilStep: 4 });
    const ac = new AbortController();
    const x = setup(data);
    const s = await x.trainer.run({ signal: ac.signal, onProgress: (p) => p.step === 4 && ac.abort() });
    expect(s.status).toBe("aborted");
    expect(s.steps).toBe(4);
    expect(weights(x.model)).toEqual(weights(ref.model));
    // still usable: training continues from there to the same place as the reference
    await x.trainer.run({ untilStep: 6 });
    await ref.trainer.run({ untilStep: 6 });
    expect(weights(x.model)).toEqual(weights(ref.model));
    for (const t of [ref, x]) {
      t.trainer.dispose();
      t.model.dispose();
    }
  });

  it("runTrainEval rejects with AbortError when aborted", async () => {
    const ac = new AbortController();
    const data = addition(32, 6);
    const p = runTrainEval(
      { student: CFG, training: { ...TRAIN, budget: { kind: "steps", steps: 50 } }, train: data, test: [], maxNewTokens: 4 },
      { signal: ac.signal, onProgress: (q) => q.step === 2 && ac.abort() },
    );
    await expect(p).rejects.toThrow(/abort/i);
  });

  it("runTrainEval: BPE tokenizer option, context sized to the data, validation names the field", async () => {
    const data = addition(48, 9);
    const test = addition(4, 10).map((e, i) => ({ id: `t${i}`, prompt: e.prompt, answer: e.answer }));
    const base = { student: "nano", training: { ...TRAIN, budget: { kind: "steps" as const, steps: 2 } }, train: data, test, maxNewTokens: 8 };
    const n0 = tf.memory().numTensors;
    const c = await runTrainEval(base);
    const b = await runTrainEval({ ...base, tokenizer: { kind: "bpe", merges: 20 } });
    expect(tf.memory().numTensors).toBe(n0); // a run frees what it made
    expect(b.studentConfig!.vocabSize).toBeGreaterThan(c.studentConfig!.vocabSize);
    expect(c.studentConfig!.maxLen).toBe(64);
    expect(c.studentConfig!.dModel).toBe(32);
    expect(c.examples).toHaveLength(4);
    await expect(runTrainEval({ ...base, maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens/);
    await expect(runTrainEval({ ...base, train: [{ prompt: "x" } as never] })).rejects.toThrow(/train\[0\]/);
    await expect(runTrainEval({ ...base, student: "giant" })).rejects.toThrow(/unknown student size/);
  });

  it("micro-batches (memory cap on attention) give the same step as the whole batch", async () => {
    const data = addition(64, 11);
    const whole = setup(data);
    const split = setup(data);
    const T = Math.max(...split.trainer.batchAt(0).map((i) => split.trainer.data.examples[i]!.ids.length));
    split.trainer.microBatchAttention = 4 * T * T * 3; // 3 rows (of 8) per micro-batch
    expect(split.trainer.microBatches(split.trainer.batchAt(0)).length).toBe(3);
    await whole.trainer.run({ untilStep: 3 });
    await split.trainer.run({ untilStep: 3 });
    whole.trainer.losses.forEach((l, i) => expect(split.trainer.losses[i]).toBeCloseTo(l, 4));
    const a = weights(whole.model).flat();
    const b = weights(split.model).flat();
    let maxDiff = 0;
    a.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - b[i]!))));
    expect(maxDiff).toBeLessThan(1e-4);
    for (const t of [whole, split]) {
      t.trainer.dispose();
      t.model.dispose();
    }
  });

  it("keeps the tensor count flat across steps", async () => {
    const { model, trainer } = setup(addition(64, 7), { ...TRAIN, budget: { kind: "steps", steps: 30 } });
    await trainer.run({ untilStep: 3 });
    const n0 = tf.memory().numTensors;
    await trainer.run();
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
    model.dispose();
  });
});

describe("batches, budgets, schedule", () => {
  it("buckets by length, masks the prompt, pads", () => {
    const tok = StudentTokenizer.trainChar(["ab", "xyz"]);
    const data = [{ prompt: "a", response: "b" }, { prompt: "ab", response: "xyzxyz" }];
    const enc = encodeExamples(tok, data, 32);
    const b = makeBatch(enc.examples, [0, 1], tok.padId);
    expect(b.T).toBe(enc.examples[1]!.ids.length - 1);
    // row 0: <bos> a <resp> b <eos>: targets a, <resp>, b, <eos>; weights on b and <eos> only
    expect(Array.from(b.weights.slice(0, 5))).toEqual([0, 0, 1, 1, 0]);
    expect(b.inputs[4]).toBe(tok.padId);
    const lengths = Array.from({ length: 200 }, (_, i) => 5 + ((i * 37) % 100));
    const plan = planEpoch(lengths, 10, 1, 0);
    expect(plan.flat().sort((x, y) => x - y)).toEqual(lengths.map((_, i) => i));
    const spread = plan.map((ix) => Math.max(...ix.map((i) => lengths[i]!)) - Math.min(...ix.map((i) => lengths[i]!)));
    expect(spread.reduce((a, c) => a + c) / spread.length).toBeLessThan(20); // random batches would spread ~80
    expect(planEpoch(lengths, 10, 1, 1)).not.toEqual(plan);
  });

  it("truncates to the context and drops examples whose response does not fit", () => {
    const tok = StudentTokenizer.trainChar(["abcdefghij"]);
    const enc = encodeExamples(tok, [{ prompt: "ab", response: "cdefghij" }, { prompt: "abcdefghij", response: "a" }], 6);
    expect(enc.truncated).toBe(1);
    expect(enc.dropped).toBe(1);
    expect(enc.examples[0]!.ids.length).toBe(7);
  });

  it("budgets in epochs, steps and tokens", () => {
    const data = addition(40, 8);
    const mk = (budget: TrainConfig["budget"]) => {
      const s = setup(data, { ...TRAIN, budget });
      const n = s.trainer.totalSteps;
      s.trainer.dispose();
      s.model.dispose();
      return n;
    };
    expect(mk({ kind: "epochs", epochs: 2 })).toBe(10);
    expect(mk({ kind: "steps", steps: 3 })).toBe(3);
    // A tokens budget trains until the batches' tokens reach it: exactly the first three batches' tokens is three steps, one more is four.
    const s = setup(data, { ...TRAIN, budget: { kind: "steps", steps: 3 } });
    const three = [0, 1, 2].reduce((n, i) => n + batchTokens(s.trainer.data.examples, s.trainer.batchAt(i)), 0);
    s.trainer.dispose();
    s.model.dispose();
    expect(mk({ kind: "tokens", tokens: three })).toBe(3);
    expect(mk({ kind: "tokens", tokens: three + 1 })).toBe(4);
    expect(() => setup(data, { ...TRAIN, batchSize: 0 })).toThrow(/batchSize/);
    expect(() => setup(data, { ...TRAIN, budget: { kind: "weeks" } as never })).toThrow(/budget.kind/);
  });

  it("AdamW: the wasm JavaScript update equals the tensor-op update, clipping included", () => {
    const shapes = [[3, 4], [5]];
    const r = makeRng(1);
    const mk = (scale: number) => shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b) }, () => r.normal() * scale), s));
    const params = mk(1);
    const grads = mk(3); // norm well above the clip of 1
    const run = (mode: "auto" | "generic") => {
      setKernelMode(mode);
      try {
        const opt = new AdamW(shapes, [true, false], 0.1, 1);
        let p = params;
        const norms: number[] = [];
        for (let i = 0; i < 3; i++) {
          const u = opt.update(p, grads, 0.01);
          norms.push(u.gradNorm.dataSync()[0]!);
          p = u.params;
        }
        return { p: p.map((t) => Array.from(t.dataSync())), m: opt.m.map((t) => Array.from(t.dataSync())), norms };
      } finally {
        setKernelMode("auto");
      }
    };
    const a = run("auto");
    const b = run("generic");
    a.norms.forEach((n, i) => expect(n).toBeCloseTo(b.norms[i]!, 4));
    a.p.flat().forEach((v, i) => expect(v).toBeCloseTo(b.p.flat()[i]!, 5));
    a.m.flat().forEach((v, i) => expect(v).toBeCloseTo(b.m.flat()[i]!, 5));
    // moved against the clipped gradient
    expect(a.p[1]![0]! - params[1]!.dataSync()[0]!).not.toBe(0);
  });

  it("warmup then cosine", () => {
    expect(learningRate(0, 100, 1, 10)).toBeCloseTo(0.1);
    expect(learningRate(9, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(10, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(55, 100, 1, 10)).toBeCloseTo(0.55);
    expect(learningRate(100, 100, 1, 10)).toBeCloseTo(0.1);
  });
});

describe("checkpoints", () => {
  it("weights-only round trip, and clear errors on damaged files", () => {
    const tok = StudentTokenizer.trainChar(["0123456789+=\\boxed{}"]);
    const model = StudentModel.init(resolveStudentConfig(CFG, tok.vocabSize), 3);
    const p = join(dir, "w.mdckpt");
    saveStudent(p, model, tok);
    const { model: m2, tokenizer: t2 } = loadStudent(p);
    expect(weights(m2)).toEqual(weights(model));
    expect(t2.vocab).toEqual(tok.vocab);
    expect(readCheckpoint(p).state).toBeUndefined();
    expect(() => Trainer.resume(p, [])).toThrow(/weights-only/);
    const bad = join(dir, "bad.mdckpt");
    writeFileSync(bad, "hello");
    expect(() => readCheckpoint(bad)).toThrow(/bad magic/);
    writeFileSync(bad, readCheckpoint.length ? Buffer.concat([Buffer.from("MDSTUDENT1\n"), Buffer.from([5, 0, 0, 0]), Buffer.from("{oops")]) : "");
    expect(() => readCheckpoint(bad)).toThrow(/not JSON/);
    expect(existsSync(p)).toBe(true);
    model.dispose();
    m2.dispose();
  });
});
