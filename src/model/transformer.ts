/**
 * The student: a decoder-only transformer (GPT-2 style, pre-LayerNorm), readable top to bottom.
 *
 *   x = wte[ids] + wpe[0..T)                          (N, D)    N = B*T tokens
 *   for each block:
 *     x = x + proj(attention(qkv(ln1(x))))            (N, D)
 *     x = x + fc2(gelu(fc1(ln2(x))))                  (N, D)
 *   logits = head(lnf(x))                             (N, V)
 *
 * Parameters are plain tensors in a fixed order (PARAM names below); training passes them in
 * explicitly, so the optimiser, checkpoints and the decoder all see the same list.
 */
import * as tf from "@tensorflow/tfjs";
import { countParams, type ResolvedStudentConfig } from "./config.js";
import { attention, crossEntropy, embed, gelu, layerNorm, linear } from "./layers.js";
import { makeRng } from "../data/rng.js";

export interface ParamSpec {
  name: string;
  shape: number[];
  /** How it starts: normal(0, std), zeros or ones. */
  init: { kind: "normal"; std: number } | { kind: "zeros" } | { kind: "ones" };
  /** Whether AdamW decays it (matrices yes; biases, gains no). */
  decay: boolean;
}

/** The parameter list of a config, in order. */
export function paramSpecs(c: ResolvedStudentConfig): ParamSpec[] {
  const D = c.dModel;
  const std = 0.02;
  const residStd = 0.02 / Math.sqrt(2 * c.nLayers); // GPT-2: scale the projections into the residual
  const mat = (name: string, shape: number[], s = std): ParamSpec => ({ name, shape, init: { kind: "normal", std: s }, decay: true });
  const zeros = (name: string, n: number): ParamSpec => ({ name, shape: [n], init: { kind: "zeros" }, decay: false });
  const ones = (name: string, n: number): ParamSpec => ({ name, shape: [n], init: { kind: "ones" }, decay: false });
  const specs: ParamSpec[] = [mat("wte", [c.vocabSize, D]), mat("wpe", [c.maxLen, D], 0.01)];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `h${l}.`;
    specs.push(
      ones(p + "ln1.g", D), zeros(p + "ln1.b", D),
      mat(p + "qkv.w", [D, 3 * D]), zeros(p + "qkv.b", 3 * D),
      mat(p + "proj.w", [D, D], residStd), zeros(p + "proj.b", D),
      ones(p + "ln2.g", D), zeros(p + "ln2.b", D),
      mat(p + "fc1.w", [D, c.dFF]), zeros(p + "fc1.b", c.dFF),
      mat(p + "fc2.w", [c.dFF, D], residStd), zeros(p + "fc2.b", D),
    );
  }
  specs.push(ones("lnf.g", D), zeros("lnf.b", D), mat("head.w", [D, c.vocabSize]), zeros("head.b", c.vocabSize));
  return specs;
}

/** A batch of B token sequences of equal length T (padded), with per-position loss weights. */
export interface TokenBatch {
  B: number;
  T: number;
  /** Inputs, B*T ids, row-major. */
  inputs: Int32Array;
  /** Next-token targets, B*T ids. */
  targets: Int32Array;
  /** 1 where the target is a response token (or <eos>), else 0. */
  weights: Float32Array;
}

/** A toy decoder-only transformer student: parameters, forward pass and loss on TensorFlow.js. */
export class StudentModel {
  readonly config: ResolvedStudentConfig;
  readonly specs: ParamSpec[];
  /** Current values, in `specs` order. Owned by the model (kept outside any tidy scope). */
  params: tf.Tensor[];

  constructor(config: ResolvedStudentConfig, params: tf.Tensor[]) {
    this.config = config;
    this.specs = paramSpecs(config);
    if (params.length !== this.specs.length) throw new Error(`expected ${this.specs.length} parameter tensors, got ${params.length}`);
    params.forEach((p, i) => {
      const want = this.specs[i]!.shape;
      if (p.shape.join() !== want.join()) throw new Error(`parameter ${this.specs[i]!.name}: shape [${p.shape}] where [${want}] was expected`);
    });
    this.params = params;
  }

  /** Fresh weights, deterministic in `seed`. */
  static init(config: ResolvedStudentConfig, seed: number): StudentModel {
    const rng = makeRng(seed, "init");
    const params = paramSpecs(config).map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const v = new Float32Array(n);
      if (s.init.kind === "ones") v.fill(1);
      else if (s.init.kind === "normal") for (let i = 0; i < n; i++) v[i] = rng.normal() * s.init.std;
      return tf.keep(tf.tensor(v, s.shape));
    });
    return new StudentModel(config, params);
  }

  get numParams(): number {
    return countParams(this.config);
  }

  /** Logits (B*T, V) for B sequences of T ids, with the given parameter values. */
  forward(params: tf.Tensor[], ids: ArrayLike<number>, B: number, T: number): tf.Tensor2D {
    const c = this.config;
    let i = 0;
    const next = <R extends tf.Tensor>() => params[i++] as R;
    let x = embed(next<tf.Tensor2D>(), next<tf.Tensor2D>(), ids, B, T); // (N, D)
    for (let l = 0; l < c.nLayers; l++) {
      const [ln1g, ln1b, qkvW, qkvB, projW, projB, ln2g, ln2b, fc1W, fc1B, fc2W, fc2B] = params.slice(i, i + 12) as [
        tf.Tensor1D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D,
        tf.Tensor1D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D,
      ];
      i += 12;
      const qkv = linear(layerNorm(x, ln1g, ln1b), qkvW, qkvB); // (N, 3D)
      x = tf.add(x, linear(attention(qkv, B, T, c.nHeads), projW, projB)); // (N, D)
      const h = gelu(linear(layerNorm(x, ln2g, ln2b), fc1W, fc1B)); // (N, dFF)
      x = tf.add(x, linear(h, fc2W, fc2B)); // (N, D)
    }
    const lnfg = next<tf.Tensor1D>();
    const lnfb = next<tf.Tensor1D>();
    const headW = next<tf.Tensor2D>();
    const headB = next<tf.Tensor1D>();
    return linear(layerNorm(x, lnfg, lnfb), headW, headB); // (N, V)
  }

  /** Mean cross-entropy over the batch's response targets. */
  loss(params: tf.Tensor[], batch: TokenBatch): tf.Scalar {
    return crossEntropy(this.forward(params, batch.inputs, batch.B, batch.T), batch.targets, batch.weights);
  }

  /** Replaces the parameters (disposing the old ones). */
  setParams(next: tf.Tensor[]): void {
    const old = this.params;
    this.params = next.map((t) => tf.keep(t));
    for (const t of old) if (!this.params.includes(t)) t.dispose();
  }

  /** Copies of the weights as Float32Arrays, in `specs` order. */
  weightsSync(): Float32Array[] {
    return this.params.map((p) => p.dataSync() as Float32Array).map((a) => new Float32Array(a));
  }

  dispose(): void {
    for (const t of this.params) t.dispose();
    this.params = [];
  }
}
