/** AdamW with global-norm gradient clipping, and the warmup + cosine learning-rate schedule. */
import * as tf from "@tensorflow/tfjs";
import { adamwFast } from "../model/kernels.js";

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.95;
export const ADAM_EPS = 1e-8;
/** The cosine decays to this fraction of the peak learning rate. */
export const MIN_LR_RATIO = 0.1;

/** Learning rate at `step` (0-based): linear warmup over `warmup` steps, then cosine to MIN_LR_RATIO * lr at `total`. */
export function learningRate(step: number, total: number, lr: number, warmup: number): number {
  if (warmup > 0 && step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  const min = lr * MIN_LR_RATIO;
  return min + 0.5 * (lr - min) * (1 + Math.cos(Math.PI * progress));
}

export class AdamW {
  /** Steps taken (bias correction uses it). */
  t = 0;
  m: tf.Tensor[];
  v: tf.Tensor[];
  constructor(
    shapes: number[][],
    readonly decay: boolean[],
    readonly weightDecay: number,
    readonly gradClip: number,
  ) {
    this.m = shapes.map((s) => tf.keep(tf.zeros(s)));
    this.v = shapes.map((s) => tf.keep(tf.zeros(s)));
  }

  /**
   * New parameter values from `params` and `grads` at learning rate `lr`, and the gradient norm
   * before clipping. Moments are replaced in place; nothing is read back from the device.
   */
  update(params: tf.Tensor[], grads: tf.Tensor[], lr: number): { params: tf.Tensor[]; gradNorm: tf.Scalar } {
    this.t += 1;
    const t = this.t;
    const fast = adamwFast(params, grads, this.m, this.v, this.decay, {
      lr, beta1: ADAM_BETA1, beta2: ADAM_BETA2, eps: ADAM_EPS, c1: 1 / (1 - ADAM_BETA1 ** t), c2: 1 / (1 - ADAM_BETA2 ** t), weightDecay: this.weightDecay, gradClip: this.gradClip,
    });
    if (fast) {
      for (const x of [...this.m, ...this.v]) x.dispose();
      this.m = fast.m.map((x) => tf.keep(x));
      this.v = fast.v.map((x) => tf.keep(x));
      return { params: fast.params, gradNorm: tf.scalar(fast.gradNorm) };
    }
    const out = tf.tidy(() => {
      let sq: tf.Tensor = tf.scalar(0);
      for (const g of grads) sq = tf.add(sq, tf.sum(tf.mul(g, g)));
      const norm = tf.sqrt(sq) as tf.Scalar;
      const scale = this.gradClip > 0 ? tf.minimum(1, tf.div(this.gradClip, tf.add(norm, 1e-6))) : tf.scalar(1);
      const c1 = 1 / (1 - ADAM_BETA1 ** t);
      const c2 = 1 / (1 - ADAM_BETA2 ** t);
      const m: tf.Tensor[] = [];
      const v: tf.Tensor[] = [];
      const next: tf.Tensor[] = [];
      params.forEach((p, i) => {
        const g = tf.mul(grads[i]!, scale);
        const mi = tf.add(tf.mul(this.m[i]!, ADAM_BETA1), tf.mul(g, 1 - ADAM_BETA1));
        const vi = tf.add(tf.mul(this.v[i]!, ADAM_BETA2), tf.mul(tf.mul(g, g), 1 - ADAM_BETA2));
        let upd = tf.div(tf.mul(mi, c1), tf.add(tf.sqrt(tf.mul(vi, c2)), ADAM_EPS));
        if (this.decay[i] && this.weightDecay > 0) upd = tf.add(upd, tf.mul(p, this.weightDecay));
        m.push(mi);
        v.push(vi);
        next.push(tf.sub(p, tf.mul(upd, lr)));
      });
      return { m, v, next, norm };
    });
    for (const x of this.m) x.dispose();
    for (const x of this.v) x.dispose();
    this.m = out.m.map((x) => tf.keep(x));
    this.v = out.v.map((x) => tf.keep(x));
    return { params: out.next, gradNorm: out.norm };
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
    this.m = [];
    this.v = [];
  }
}
