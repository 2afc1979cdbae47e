import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendInfo, initBackend } from "../../src/backend.js";
import { addonPath, blasActive, blasAvailable, initMatMul, matMulInfo, resolveMatMulEngine } from "../../src/model/blas.js";
import { resolveStudentConfig } from "../../src/model/config.js";
import { makeRng } from "../../src/data/rng.js";
import { StudentModel, type TokenBatch } from "../../src/model/transformer.js";
import { AdamW } from "../../src/train/optimizer.js";
import { planSweep, type SweepConfig } from "../../src/experiment/sweep.js";

// scripts/setup.sh builds native/openblas (libopenblas-dev comes with the set-up's Debian packages).
beforeAll(async () => {
  await initBackend("wasm");
});
afterAll(() => {
  initMatMul("xnnpack");
});

function randn(shape: number[], seed: number): tf.Tensor {
  const r = makeRng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape);
}

/** Runs f once on each engine and returns both results. */
function onBoth<T>(f: () => T): { xnnpack: T; openblas: T } {
  initMatMul("xnnpack");
  const xnnpack = f();
  expect(initMatMul("openblas").engine).toBe("openblas");
  const openblas = f();
  initMatMul("xnnpack");
  return { xnnpack, openblas };
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst, label).toBeLessThan(tol);
}

describe("OpenBLAS matMul engine", () => {
  it("is built, loads, and reports its configuration", () => {
    expect(addonPath(), "native/openblas/build/Release/mixdistill_blas.node (npm run build:blas)").not.toBeNull();
    const a = blasAvailable();
    expect(a.ok).toBe(true);
    expect(a.ok && a.config).toMatch(/OpenBLAS/);
    const info = initMatMul("openblas");
    expect(info.engine).toBe("openblas");
    expect(info.reason).toMatch(/OpenBLAS \(1 thread\)/);
    expect(info.requested).toBe("openblas");
    expect(blasActive()).toBe(true);
    expect(backendInfo().matmul).toBe("openblas"); // the engine now, not the one chosen with the backend
    expect(initMatMul("xnnpack").engine).toBe("xnnpack");
    expect(blasActive()).toBe(false);
    expect(backendInfo().matmul).toBe("xnnpack");
    expect(JSON.parse(JSON.stringify(backendInfo())).matmul).toBe("xnnpack");
    expect(resolveMatMulEngine("auto")).toBe("openblas");
  });

  it("gives XNNPACK's products for every transpose, odd sizes, batches and broadcasts", () => {
    const cases: Array<[number[], number[], boolean, boolean]> = [
      [[1, 1], [1, 1], false, false],
      [[7, 13], [13, 5], false, false],
      [[13, 7], [13, 5], true, false],
      [[7, 13], [5, 13], false, true],
      [[13, 7], [5, 13], true, true],
      [[65, 129], [129, 33], false, false],
      [[3, 9, 4], [3, 4, 6], false, false],
      [[3, 4, 9], [3, 6, 4], true, true],
      [[2, 3, 5, 4], [2, 3, 4, 7], false, false],
      [[4, 9, 4], [4, 6], false, false], // b broadcast over a's batch
      [[9, 4], [3, 4, 6], false, false], // a broadcast over b's batch
      [[1, 9, 4], [3, 4, 6], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const label = `${sa}x${sb} ta=${ta} tb=${tb}`;
      const a = randn(sa, sa.length * 100 + sa[0]!), b = randn(sb, sb.length * 100 + sb[0]! + 1);
      const r = onBoth(() => {
        const o = tf.matMul(a, b, ta, tb);
        const v = { shape: o.shape, data: o.dataSync().slice() };
        o.dispose();
        return v;
      });
      expect(r.openblas.shape, label).toEqual(r.xnnpack.shape);
      expectClose(r.openblas.data, r.xnnpack.data, 1e-5, label);
      a.dispose();
      b.dispose();
    }
  });

  it("adds the bias of a fused product and leaves activations to the backend's own kernel", () => {
    const x = randn([6, 5], 1) as tf.Tensor2D, w = randn([5, 7], 2) as tf.Tensor2D, bias = randn([7], 3) as tf.Tensor1D;
    for (const activation of ["linear", "relu"] as const) {
      const r = onBoth(() => tf.tidy(() => tf.fused.matMul({ a: x, b: w, bias, activation }).dataSync().slice()));
      expectClose(r.openblas, r.xnnpack, 1e-5, activation);
    }
    // the reference, by hand
    const want = tf.tidy(() => tf.add(tf.matMul(x, w), bias).dataSync().slice());
    initMatMul("openblas");
    const got = tf.tidy(() => tf.fused.matMul({ a: x, b: w, bias }).dataSync().slice());
    initMatMul("xnnpack");
    expectClose(got, want, 1e-5, "x W + b");
  });

  it("trains a student to the same losses as XNNPACK, step by step", () => {
    const cfg = resolveStudentConfig({ dModel: 32, nLayers: 2, nHeads: 4, maxLen: 64 }, 20);
    const r = makeRng(5);
    const B = 4, T = 48;
    const batch: TokenBatch = { B, T, inputs: Int32Array.from({ length: B * T }, () => r.int(20)), targets: Int32Array.from({ length: B * T }, () => r.int(20)), weights: new Float32Array(B * T).fill(1) };
    const losses = onBoth(() => {
      const model = StudentModel.init(cfg, 3);
      const opt = new AdamW(model.specs.map((s) => s.shape), model.specs.map((s) => s.decay), 0.01, 1);
      const out: number[] = [];
      for (let i = 0; i < 6; i++) {
        const { loss, next } = tf.tidy(() => {
          const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => model.loss(p, batch))(model.params);
          return { loss: value, next: opt.update(model.params, grads, 3e-3).params };
        });
        out.push(loss.dataSync()[0]!);
        loss.dispose();
        model.setParams(next);
      }
      model.dispose();
      opt.dispose();
      return out;
    });
    expect(losses.xnnpack[5]!).toBeLessThan(losses.xnnpack[0]!); // it learns
    expectClose(losses.openblas, losses.xnnpack, 1e-4, "losses");
  });

  it("checks every operand against the heap before touching memory", () => {
    const lib = createRequire(import.meta.url)(addonPath()!) as {
      gemm: (...a: unknown[]) => void;
      gemmMany: (...a: unknown[]) => void;
    };
    const heap = new ArrayBuffer(4 * 64);
    const f = new Float32Array(heap);
    f.set([1, 2, 3, 4], 0); // A (2x2)
    f.set([5, 6, 7, 8], 4); // B (2x2)
    lib.gemm(heap, 2, 2, 2, 0, 16, 32, false, false, 0);
    expect(Array.from(f.subarray(8, 12))).toEqual([19, 22, 43, 50]);
    lib.gemm(heap, 2, 2, 2, 0, 16, 32, true, false, 0);
    expect(Array.from(f.subarray(8, 12))).toEqual([26, 30, 38, 44]);
    expect(() => lib.gemm(heap, 2, 2, 2, 0, 16, 4 * 62, false, false, 0)).toThrow(/C at byte 248 \(4 floats\) is outside the 256-byte heap/);
    expect(() => lib.gemm(heap, 2, 2, 2, 2, 16, 32, false, false, 0)).toThrow(/A at byte 2 .*unaligned/);
    expect(() => lib.gemm(heap, -1, 2, 2, 0, 16, 32, false, false, 0)).toThrow(/M must be a non-negative integer/);
    expect(() => lib.gemm(new Float32Array(4), 1, 1, 1, 0, 0, 0, false, false, 0)).toThrow(/heap\) must be an ArrayBuffer/);
    expect(() => lib.gemmMany(heap, 2, 2, 2, new Float64Array([0, 16, 32, 0, 16, 400]), false, false)).toThrow(/C at byte 400/);
    expect(() => lib.gemmMany(heap, 2, 2, 2, new Float64Array([0, 16]), false, false)).toThrow(/Float64Array of \(aOff, bOff, cOff\) triples/);
    // a rejected batch writes nothing, not even its valid first product
    f.fill(0, 8, 12);
    expect(() => lib.gemmMany(heap, 2, 2, 2, new Float64Array([0, 16, 32, 0, 16, 400]), false, false)).toThrow();
    expect(Array.from(f.subarray(8, 12))).toEqual([0, 0, 0, 0]);
  });

  it("keeps XNNPACK's cell keys and gives OpenBLAS cells keys of their own", () => {
    const ex = { id: "q1", prompt: "1+1=", response: "2", answer: "2" };
    const base: SweepConfig = { students: ["nano"], variants: [{ name: "short", train: [ex] }], seeds: [0], training: { budget: { kind: "steps", steps: 1 }, batchSize: 1, lr: 1e-3 }, test: [{ id: "t1", prompt: "1+1=", answer: "2" }], maxNewTokens: 4 };
    const plain = planSweep(base)[0]!;
    const xnn = planSweep({ ...base, matmul: "xnnpack" })[0]!;
    const blas = planSweep({ ...base, matmul: "openblas" })[0]!;
    const auto = planSweep({ ...base, matmul: "auto" })[0]!;
    expect(xnn.key).toBe(plain.key);
    expect(plain.config.matmul).toBeUndefined();
    expect(blas.key).not.toBe(plain.key);
    expect(blas.config.matmul).toBe("openblas");
    expect(auto.key).toBe(blas.key); // auto resolves before the keys are made
    expect(() => planSweep({ ...base, matmul: "mkl" as never })).toThrow(/sweep config: matmul: expected "xnnpack", "openblas" or "auto", got "mkl"/);
  });

  it("rejects an unknown MIXDISTILL_MATMUL with the variable named", () => {
    const old = process.env.MIXDISTILL_MATMUL;
    process.env.MIXDISTILL_MATMUL = "fast";
    try {
      expect(() => initMatMul()).toThrow(/MIXDISTILL_MATMUL must be one of xnnpack, openblas, auto \(got "fast"\)/);
    } finally {
      if (old === undefined) delete process.env.MIXDISTILL_MATMUL;
      else process.env.MIXDISTILL_MATMUL = old;
    }
    expect(matMulInfo().engine).toBe("xnnpack");
  });
});
