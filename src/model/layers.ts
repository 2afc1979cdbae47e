/**
 * The student's layers as tf.customGrad ops with hand-written backward passes. On wasm with XNNPACK
 * only a 2-D non-transposed matMul is fast, so every product here (forward and backward) is one, with
 * explicit transposes (src/model/kernels.ts); with OpenBLAS (src/model/blas.ts) the linear layer's
 * backward multiplies transposed operands directly. Reductions are matMuls with a row or column of ones.
 * Shapes: N = B*T rows (one per token), D model width, V vocabulary, H heads, hs = D/H.
 */
import * as tf from "@tensorflow/tfjs";
import { blasActive } from "./blas.js";
import { attentionBackwardLayouts, blockMatMul, causalAttentionFast, causalAttentionGradFast, embedGradFast, rowDots, blockTranspose, fromHeads, layerNormFast, layerNormGradFast, mergeQKVGrads, splitQKV, transpose2d } from "./kernels.js";

type Save = (t: tf.Tensor[]) => void;
type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type Custom = { value: tf.Tensor; gradFunc: GradFn };

const fill = (shape: number[], v: number) => tf.fill(shape, v);
/** Sum over rows: (N, C) -> (1, C). */
const sumRows = (x: tf.Tensor2D) => tf.matMul(fill([1, x.shape[0]], 1) as tf.Tensor2D, x);
/** Mean over columns: (N, C) -> (N, 1). */
const meanCols = (x: tf.Tensor2D) => tf.matMul(x, fill([x.shape[1], 1], 1 / x.shape[1]) as tf.Tensor2D);

/** y = x W + b.  x (N, K), W (K, M), b (M) -> (N, M). */
export const linear = tf.customGrad(((x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D, save: Save): Custom => {
  save([x, W]);
  return {
    value: tf.fused.matMul({ a: x, b: W, bias: b }),
    gradFunc: (dy, [xs, Ws]) => tf.tidy(() => {
      const g = dy as tf.Tensor2D;
      const xv = xs as tf.Tensor2D;
      const [N, K] = xv.shape;
      const M = g.shape[1];
      // OpenBLAS multiplies transposed operands in place: no explicit transposes.
      if (blasActive()) return [tf.matMul(g, Ws as tf.Tensor2D, false, true), tf.matMul(xv, g, true, false), sumRows(g).reshape([M])];
      const dx = tf.matMul(g, transpose2d(Ws as tf.Tensor2D)); // (N, K)
      // dW needs one (N, .) operand transposed and the other as the matMul's right operand, which
      // XNNPACK repacks (~2.5x the cost of a transpose a float): repack the narrower of x and dy.
      if (M > K) {
        const gT = transpose2d(g); // (M, N)
        const dWT = tf.matMul(gT, xv); // (M, K)
        return [dx, transpose2d(dWT as tf.Tensor2D), tf.matMul(gT, fill([N, 1], 1) as tf.Tensor2D).reshape([M])];
      }
      return [dx, tf.matMul(transpose2d(xv), g), sumRows(g).reshape([M])]; // (K, M), (M)
    }),
  };
}) as never) as (x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/** Layer normalisation over the last axis.  x (N, D), g (D), b (D) -> (N, D). */
export const layerNorm = tf.customGrad(((x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, save: Save): Custom => {
  const fast = layerNormFast(x, g, b, 1e-5); // wasm: one JavaScript pass per row
  if (fast) {
    save([fast.xhat, fast.rstd, g]);
    return {
      value: fast.y,
      gradFunc: (dy, [xh, rs, gs]) => tf.tidy(() => {
        const r = layerNormGradFast(dy as tf.Tensor2D, xh as tf.Tensor2D, rs as tf.Tensor2D, gs as tf.Tensor1D)!;
        return [r.dx, r.dg, r.db];
      }),
    };
  }
  const xc = tf.sub(x, meanCols(x)); // (N, D)
  const rstd = tf.rsqrt(tf.add(meanCols(tf.mul(xc, xc) as tf.Tensor2D), 1e-5)); // (N, 1)
  const xhat = tf.mul(xc, rstd) as tf.Tensor2D; // (N, D)
  save([xhat, rstd, g]);
  return {
    value: tf.add(tf.mul(xhat, g), b),
    gradFunc: (dy, [xh, rs, gs]) => tf.tidy(() => {
      const d = dy as tf.Tensor2D;
      const xhat2 = xh as tf.Tensor2D;
      const dxhat = tf.mul(d, gs!) as tf.Tensor2D; // (N, D)
      const D = d.shape[1];
      const dx = tf.mul(rs!, tf.sub(tf.sub(dxhat, meanCols(dxhat)), tf.mul(xhat2, meanCols(tf.mul(dxhat, xhat2) as tf.Tensor2D))));
      return [dx, sumRows(tf.mul(d, xhat2) as tf.Tensor2D).reshape([D]), sumRows(d).reshape([D])];
    }),
  };
}) as never) as (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D;

/** GELU, sigmoid form: x * sigmoid(1.702 x) (wasm's tanh and erf are slow; sigmoid is not). */
export const gelu = tf.customGrad(((x: tf.Tensor2D, save: Save): Custom => {
  const s = tf.sigmoid(tf.mul(x, 1.702));
  save([x, s]);
  return {
    value: tf.mul(x, s),
    // d/dx = s (1 + 1.702 x (1 - s))
    gradFunc: (dy, [xs, ss]) => tf.tidy(() => tf.mul(dy, tf.mul(ss!, tf.add(tf.mul(tf.mul(xs!, 1.702), tf.sub(1, ss!)), 1)))),
  };
}) as never) as (x: tf.Tensor2D) => tf.Tensor2D;

/** Additive causal mask (T, T): 0 on and below the diagonal, -1e9 above. */
export function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

/**
 * Causal multi-head self-attention on fused projections.  qkv (B*T, 3D) -> (B*T, D).
 * Per (batch, head) block: P = softmax(Q K^T / sqrt(hs) + mask), O = P V.
 */
export function attention(qkv: tf.Tensor2D, B: number, T: number, H: number): tf.Tensor2D {
  const D = qkv.shape[1] / 3;
  const scale = 1 / Math.sqrt(D / H);
  const f = tf.customGrad(((x: tf.Tensor2D, save: Save): Custom => {
    // wasm, T over one block: only the lower block triangle of each (T, T) matrix is computed
    const blocked = causalAttentionFast(x, B, T, H, scale);
    if (blocked) {
      save([x, blocked.q, blocked.p, blocked.o]);
      return {
        value: fromHeads(blocked.o, B, T, H),
        gradFunc: (dy, [xs, qs, ps, os]) => tf.tidy(() => causalAttentionGradFast(xs as tf.Tensor2D, dy as tf.Tensor2D, qs as tf.Tensor3D, ps as tf.Tensor1D, os as tf.Tensor3D, B, T, H, scale)),
      };
    }
    const { q, kT, v } = splitQKV(x, B, T, H, scale); // (BH, T, hs), (BH, hs, T), (BH, T, hs)
    // The (BH, T, T) matrices dominate the memory of a step at long contexts: each is disposed as
    // soon as the next one exists, so at most two are alive at once here.
    const s = blockMatMul(q, kT); // (BH, T, T)
    kT.dispose();
    const mask = causalMask(T);
    const sm = tf.add(s, mask);
    s.dispose();
    mask.dispose();
    const p = tf.softmax(sm) as tf.Tensor3D; // (BH, T, T)
    sm.dispose();
    const o = blockMatMul(p, v); // (BH, T, hs)
    v.dispose();
    save([x, q, p, o]);
    return {
      value: fromHeads(o, B, T, H), // (B*T, D)
      // The engine keeps a gradient function's intermediates until the whole backward pass ends;
      // the tidy and the disposals free each (BH, T, T) matrix as soon as it is used (at most three
      // alive at once), so a step's memory does not grow with layers x T^2.
      gradFunc: (dy, [xs, qs, ps, os]) => tf.tidy(() => {
        const P = ps as tf.Tensor3D;
        // k (BH, T, hs), vT (BH, hs, T), dO (BH, T, hs). The (T, T) matrices are transposed
        // explicitly: as the right operand of a matMul, XNNPACK would repack them, which costs
        // more than a transpose (and as much as the product itself when hs is small).
        const { k, vT, dO } = attentionBackwardLayouts(xs as tf.Tensor2D, dy as tf.Tensor2D, B, T, H);
        const dP = blockMatMul(dO, vT); // (BH, T, T)
        vT.dispose();
        const PT = blockTranspose(P);
        const dV = blockMatMul(PT, dO); // (BH, T, hs)
        PT.dispose();
        // softmax backward: dS = P * (dP - rowsum(dP * P)), where rowsum(dP * P) = rowsum(dO * O)
        // (dP = dO V^T and O = P V): a sum over hs instead of over T
        const diff = tf.sub(dP, rowDots(dO, os as tf.Tensor3D));
        dP.dispose();
        const dS = tf.mul(P, diff) as tf.Tensor3D; // (BH, T, T)
        diff.dispose();
        const dQ = blockMatMul(dS, k); // (BH, T, hs), gradient of the scaled q
        const dST = blockTranspose(dS);
        dS.dispose();
        const dK = blockMatMul(dST, qs as tf.Tensor3D); // (BH, T, hs)
        dST.dispose();
        return mergeQKVGrads(dQ, dK, dV, B, T, H, scale); // (B*T, 3D)
      }),
    };
  }) as never) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(qkv);
}

/** Float one-hot rows (N, V) of ids, or its transpose (V, N). */
export function oneHot(ids: ArrayLike<number>, V: number, transposed = false): tf.Tensor2D {
  const N = ids.length;
  const m = new Float32Array(N * V);
  for (let i = 0; i < N; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= V) throw new Error(`token id ${id} at position ${i} is outside the vocabulary (size ${V})`);
    m[transposed ? id * N + i : i * V + id] = 1;
  }
  return tf.tensor2d(m, transposed ? [V, N] : [N, V]);
}

/**
 * Token plus position embeddings.  wte (V, D), wpe (maxLen, D), ids of B sequences of length T
 * -> (B*T, D). Lookup as a one-hot matMul (wasm has no gradient for gather).
 */
export function embed(wte: tf.Tensor2D, wpe: tf.Tensor2D, ids: ArrayLike<number>, B: number, T: number): tf.Tensor2D {
  const [V, D] = wte.shape;
  const maxLen = wpe.shape[0];
  if (T > maxLen) throw new Error(`sequence length ${T} exceeds the model's context (${maxLen})`);
  const f = tf.customGrad(((te: tf.Tensor2D, pe: tf.Tensor2D): Custom => {
    const tok = tf.matMul(oneHot(ids, V), te); // (N, D)
    const pos = tf.slice(pe, [0, 0], [T, D]); // (T, D)
    return {
      value: tf.add(tok.reshape([B, T, D]), pos).reshape([B * T, D]),
      gradFunc: (dy) => tf.tidy(() => {
        const d = dy as tf.Tensor2D;
        const fast = embedGradFast(d, ids, V, T, maxLen); // wasm: one JavaScript pass over d
        if (fast) return [fast.dte, fast.dpe];
        const dte = tf.matMul(oneHot(ids, V, true), d); // (V, D)
        // The wasm backend caches packed matMul weights by tensor id whatever the shape, so d must
        // not be a right operand again under another shape: the sum over the batch uses a copy.
        const dRows = tf.add(d, 0).reshape([B, T * D]) as tf.Tensor2D; // (B, T*D)
        let dpe = tf.matMul(fill([1, B], 1) as tf.Tensor2D, dRows).reshape([T, D]); // (T, D)
        if (T < maxLen) dpe = tf.concat([dpe, tf.zeros([maxLen - T, D])], 0);
        return [dte, dpe];
      }),
    };
  }) as never) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
  return f(wte, wpe);
}

/**
 * Weighted mean cross-entropy.  logits (N, V), targets N ids, weights N (0 = not a target)
 * -> scalar sum_i w_i (-log p_i[target_i]) / sum_i w_i.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: ArrayLike<number>, weights: Float32Array): tf.Scalar {
  const [N, V] = logits.shape;
  let total = 0;
  for (let i = 0; i < N; i++) total += weights[i]!;
  if (total <= 0) throw new Error("crossEntropy: no target tokens in the batch (all weights are 0)");
  const w = new Float32Array(N);
  for (let i = 0; i < N; i++) w[i] = weights[i]! / total;
  const f = tf.customGrad(((lg: tf.Tensor2D, save: Save): Custom => {
    const p = tf.softmax(lg); // (N, V)
    const oh = oneHot(targets, V); // (N, V)
    const picked = tf.matMul(tf.mul(p, oh) as tf.Tensor2D, fill([V, 1], 1) as tf.Tensor2D); // (N, 1)
    const wt = tf.tensor2d(w, [1, N]);
    const loss = tf.neg(tf.matMul(wt, tf.log(tf.maximum(picked, 1e-30)))).reshape([]); // scalar
    save([p, oh, wt.reshape([N, 1])]);
    return {
      value: loss,
      gradFunc: (dy, [ps, ohs, ws]) => tf.tidy(() => tf.mul(tf.mul(tf.sub(ps!, ohs!), ws!), dy)),
    };
  }) as never) as (a: tf.Tensor2D) => tf.Scalar;
  return f(logits);
}
