import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend, backendInfo } from "../../src/backend.js";
import { countParams, resolveStudentConfig, STUDENT_SIZES } from "../../src/model/config.js";
import { blockTranspose, causalBlocks, kernelSettings, setKernelMode, transpose2d, usingFastKernels } from "../../src/model/kernels.js";
import { attention, layerNorm, linear, gelu, crossEntropy, embed } from "../../src/model/layers.js";
import { makeRng } from "../../src/data/rng.js";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { StudentModel, type TokenBatch } from "../../src/model/transformer.js";

beforeAll(async () => {
  await initBackend("wasm");
});

function randn(shape: number[], seed: number, scale = 1): tf.Tensor {
  const r = makeRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => r.normal() * scale), shape);
}

describe("transposes on wasm", () => {
  it("transpose2d and blockTranspose equal tf.transpose, across band edges and column remainders", () => {
    for (const [R, C] of [[1, 1], [3, 5], [64, 4], [65, 7], [130, 129], [200, 66]] as const) {
      const x = randn([R, C], R * 1000 + C) as tf.Tensor2D;
      expect(Array.from(transpose2d(x).dataSync()), `${R}x${C}`).toEqual(Array.from(tf.transpose(x).dataSync()));
      const x3 = randn([3, R, C], R + C) as tf.Tensor3D;
      expect(Array.from(blockTranspose(x3).dataSync()), `3x${R}x${C}`).toEqual(Array.from(tf.transpose(x3, [0, 2, 1]).dataSync()));
    }
  });
});

/** Central-difference gradient of scalar f at a few entries of input i. */
function numericGrad(f: (xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], i: number, entries: number[], eps = 1e-2): number[] {
  const base = xs[i]!.dataSync().slice();
  return entries.map((j) => {
    const val = (d: number) => {
      const v = base.slice();
      v[j]! += d;
      const args = xs.slice();
      args[i] = tf.tensor(v, xs[i]!.shape);
      return tf.tidy(() => f(args).dataSync()[0]!);
    };
    return (val(eps) - val(-eps)) / (2 * eps);
  });
}

/** Checks analytic gradients of every input against numerical ones, and fast kernels against generic. */
function checkGrads(f: (xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], tol = 2e-2) {
  const analytic = (mode: "auto" | "generic") => {
    setKernelMode(mode);
    try {
      return tf.tidy(() => tf.grads((...a: tf.Tensor[]) => f(a))(xs).map((g) => g.dataSync().slice()));
    } finally {
      setKernelMode("auto");
    }
  };
  const fast = analytic("auto");
  const generic = analytic("generic");
  xs.forEach((x, i) => {
    for (let j = 0; j < x.size; j++) expect(Math.abs(fast[i]![j]! - generic[i]![j]!)).toBeLessThan(1e-4);
    const entries = [0, Math.floor(x.size / 3), x.size - 1];
    const num = numericGrad(f, xs, i, entries);
    entries.forEach((j, k) => expect(Math.abs(fast[i]![j]! - num[k]!)).toBeLessThan(tol * Math.max(1, Math.abs(num[k]!))));
  });
}

// A random projection makes every output element matter in the scalar being differentiated.
const project = (y: tf.Tensor, seed: number) => tf.sum(tf.mul(y, randn(y.shape, seed))) as tf.Scalar;

describe("backend", () => {
  it("reports the chosen backend and why", () => {
    const info = backendInfo();
    expect(info.name).toBe("wasm");
    expect(info.reason).toMatch(/wasm/);
    expect(usingFastKernels()).toBe(true);
  });
});

describe("custom-gradient layers", () => {
  it("linear", () => checkGrads(([x, w, b]) => project(linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D), 9), [randn([6, 5], 1), randn([5, 7], 2), randn([7], 3)]));
  it("layerNorm", () => checkGrads(([x, g, b]) => project(layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D), 9), [randn([4, 8], 1), randn([8], 2), randn([8], 3)]));
  it("gelu", () => checkGrads(([x]) => project(gelu(x as tf.Tensor2D), 9), [randn([4, 6], 1)]));
  it("attention (causal, 2 heads)", () => {
    const B = 2, T = 5, H = 2, D = 8;
    checkGrads(([qkv]) => project(attention(qkv as tf.Tensor2D, B, T, H), 9), [randn([B * T, 3 * D], 1)]);
  });
  it("attention is causal: later tokens do not change earlier outputs", () => {
    const B = 1, T = 6, H = 2, D = 8;
    const a = randn([B * T, 3 * D], 1);
    const v = a.dataSync().slice();
    for (let j = 5 * 3 * D; j < 6 * 3 * D; j++) v[j] = 100;
    const y1 = attention(a as tf.Tensor2D, B, T, H).dataSync();
    const y2 = attention(tf.tensor2d(v, [B * T, 3 * D]), B, T, H).dataSync();
    for (let j = 0; j < 5 * D; j++) expect(y2[j]).toBeCloseTo(y1[j]!, 5);
  });
  it("causal attention in row blocks gives the full masked computation's values and gradients, bit for bit", () => {
    // T = 200 over blocks of 64: three full blocks and one of 8 rows; T = 129 ends in a block of one
    // row (a 1-row product); T = 64 is one block (the full path)
    for (const [B, T, H, D] of [[2, 200, 2, 32], [1, 130, 4, 32], [1, 129, 2, 16], [3, 64, 2, 16]] as const) {
      const qkv = randn([B * T, 3 * D], T, 0.5);
      const weights = randn([B * T, D], T + 1);
      const run = (rows: number) => {
        const saved = kernelSettings.attentionBlockRows;
        kernelSettings.attentionBlockRows = rows;
        try {
          expect(causalBlocks(T).length - 1).toBe(rows ? Math.ceil(T / rows) : 1);
          return tf.tidy(() => {
            const f = (x: tf.Tensor) => tf.sum(tf.mul(attention(x as tf.Tensor2D, B, T, H), weights)) as tf.Scalar;
            const { value, grad } = tf.valueAndGrad(f)(qkv);
            return { y: attention(qkv as tf.Tensor2D, B, T, H).dataSync().slice(), loss: value.dataSync()[0]!, grad: grad.dataSync().slice() };
          });
        } finally {
          kernelSettings.attentionBlockRows = saved;
        }
      };
      const blocked = run(64);
      const full = run(0);
      expect(blocked.y).toEqual(full.y);
      expect(blocked.loss).toBe(full.loss);
      expect(blocked.grad).toEqual(full.grad);
      expect(full.grad.some((g) => g !== 0)).toBe(true);
    }
  });
  it("causal attention in row blocks matches the generic kernels and numerical gradients", () => {
    const B = 1, T = 70, H = 2, D = 8;
    const saved = kernelSettings.attentionBlockRows;
    kernelSettings.attentionBlockRows = 32; // blocks of 32, 32 and 6 rows
    try {
      expect(causalBlocks(T)).toEqual([0, 32, 64, 70]);
      checkGrads(([qkv]) => project(attention(qkv as tf.Tensor2D, B, T, H), 9), [randn([B * T, 3 * D], 1)]);
    } finally {
      kernelSettings.attentionBlockRows = saved;
    }
  });
  it("embedding and cross-entropy", () => {
    const ids = [1, 3, 0, 2, 2, 1];
    checkGrads(([te, pe]) => project(embed(te as tf.Tensor2D, pe as tf.Tensor2D, ids, 2, 3), 9), [randn([4, 5], 1), randn([4, 5], 2)]);
    const w = Float32Array.from([1, 0, 1, 1, 0, 1]);
    checkGrads(([lg]) => crossEntropy(lg as tf.Tensor2D, ids, w), [randn([6, 4], 3)]);
  });
  it("cross-entropy ignores zero-weight positions", () => {
    const lg = randn([3, 4], 1) as tf.Tensor2D;
    const a = crossEntropy(lg, [0, 1, 2], Float32Array.from([1, 1, 0])).dataSync()[0]!;
    const b = crossEntropy(lg, [0, 1, 3], Float32Array.from([1, 1, 0])).dataSync()[0]!;
    expect(a).toBeCloseTo(b, 6);
  });
});

describe("student model", () => {
  it("whole-model gradients match between fast and generic kernels, and numerically", () => {
    const cfg = resolveStudentConfig({ dModel: 16, nLayers: 2, nHeads: 2, maxLen: 8 }, 7);
    const m = StudentModel.init(cfg, 1);
    const r = makeRng(2);
    const B = 2, T = 6;
    const batch: TokenBatch = { B, T, inputs: Int32Array.from({ length: B * T }, () => r.int(7)), targets: Int32Array.from({ length: B * T }, () => r.int(7)), weights: Float32Array.from({ length: B * T }, (_, i) => (i % 4 ? 1 : 0)) };
    // every parameter tensor: fast == generic, and 2 numerical entries of a few
    const f = (ps: tf.Tensor[]) => m.loss(ps, batch);
    const grads = (mode: "auto" | "generic") => {
      setKernelMode(mode);
      try {
        return tf.tidy(() => tf.grads((...p: tf.Tensor[]) => f(p))(m.params).map((g) => g.dataSync().slice()));
      } finally {
        setKernelMode("auto");
      }
    };
    const a = grads("auto");
    const g = grads("generic");
    a.forEach((x, i) => x.forEach((v, j) => expect(Math.abs(v - g[i]![j]!)).toBeLessThan(1e-5)));
    for (const i of [0, 1, 4, 8, 12]) {
      const num = numericGrad(f, m.params, i, [0, 3], 1e-2);
      num.forEach((n, k) => expect(Math.abs(a[i]![[0, 3][k]!]! - n)).toBeLessThan(3e-3));
    }
    m.dispose();
  });

  it("named sizes span two orders of magnitude and countParams matches the tensors", () => {
    const counts = Object.keys(STUDENT_SIZES).map((n) => {
      const cfg = resolveStudentConfig(n, 64);
      const m = StudentModel.init({ ...cfg }, 0);
      const real = m.params.reduce((s, p) => s + p.size, 0);
      m.dispose();
      expect(countParams(cfg)).toBe(real);
      return real;
    });
    expect(counts[0]).toBeLessThan(120_000);
    expect(counts[counts.length - 1]! / counts[0]!).toBeGreaterThan(50);
  });

  it("rejects bad configs with the field named", () => {
    expect(() => resolveStudentConfig({ dModel: 30, nLayers: 1, nHeads: 4, maxLen: 8 }, 5)).toThrow(/divisible/);
    expect(() => resolveStudentConfig({ dModel: 32, nLayers: 0, nHeads: 4, maxLen: 8 }, 5)).toThrow(/nLayers/);
    expect(() => resolveStudentConfig("huge", 5)).toThrow(/known: nano/);
  });
});

describe("student tokenizer", () => {
  it("char-level round trip with markers", () => {
    const tok = StudentTokenizer.trainChar(["12+3=\\boxed{15}", "abc"]);
    const { ids, responseStart } = tok.encodeExample("12+3", "=\\boxed{15}");
    expect(ids[0]).toBe(tok.bosId);
    expect(ids[responseStart - 1]).toBe(tok.respId);
    expect(ids[ids.length - 1]).toBe(tok.eosId);
    expect(tok.decode(ids)).toBe("12+3=\\boxed{15}");
    expect(tok.encode("z")).toEqual([tok.unkId]);
    const back = StudentTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.encode("12+3")).toEqual(tok.encode("12+3"));
    expect(() => StudentTokenizer.fromJSON({ kind: "char", vocab: ["a"] })).toThrow(/vocab\[0\]/);
  });
  it("BPE learns merges, shortens text and round-trips", () => {
    const texts = Array.from({ length: 50 }, (_, i) => `step ${i}: we add ${i} and ${i + 1} to get ${2 * i + 1}. check: ok`);
    const tok = StudentTokenizer.trainBPE(texts, 40);
    expect(tok.kind).toBe("bpe");
    expect(tok.merges.length).toBeGreaterThan(10);
    const s = "step 7: we add 7 and 8 to get 15. check: ok";
    expect(tok.encode(s).length).toBeLessThan([...s].length * 0.7);
    expect(tok.decode(tok.encode(s))).toBe(s);
    const back = StudentTokenizer.fromJSON(tok.toJSON());
    expect(back.encode(s)).toEqual(tok.encode(s));
  });
});
