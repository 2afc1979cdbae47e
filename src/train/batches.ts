/** Encoding SFT examples and planning length-bucketed batches, deterministic in the seed. */
import { createHash } from "node:crypto";
import { makeRng } from "../data/rng.js";
import type { StudentTokenizer } from "../model/student-tokenizer.js";
import type { TokenBatch } from "../model/transformer.js";
import type { TrainExample } from "./spec.js";

export interface EncodedExample {
  /** `<bos> prompt <resp> response <eos>`, cut to the context length. */
  ids: Int32Array;
  /** Index of the first response token in `ids`. */
  responseStart: number;
}

export interface EncodedSet {
  examples: EncodedExample[];
  /** Examples cut at the context length (their tail is not trained on). */
  truncated: number;
  /** Examples dropped because not one response token fit in the context. */
  dropped: number;
  /** sha256 of the encoded token ids: a checkpoint resumes only on the same data. */
  fingerprint: string;
}

/** Encodes examples; each is cut to `maxLen + 1` tokens (inputs and targets are shifted by one). */
export function encodeExamples(tok: StudentTokenizer, data: readonly TrainExample[], maxLen: number): EncodedSet {
  const examples: EncodedExample[] = [];
  let truncated = 0;
  let dropped = 0;
  const h = createHash("sha256");
  data.forEach((ex, i) => {
    if (typeof ex?.prompt !== "string" || typeof ex?.response !== "string") {
      throw new Error(`training example ${i}: prompt and response must be strings`);
    }
    const { ids, responseStart } = tok.encodeExample(ex.prompt, ex.response);
    if (responseStart >= maxLen + 1) {
      dropped++;
      return;
    }
    let cut = ids;
    if (ids.length > maxLen + 1) {
      cut = ids.slice(0, maxLen + 1);
      truncated++;
    }
    const arr = Int32Array.from(cut);
    h.update(new Uint8Array(arr.buffer));
    h.update(String(responseStart));
    examples.push({ ids: arr, responseStart });
  });
  if (examples.length === 0) throw new Error(`no training example fits the context of ${maxLen} tokens`);
  return { examples, truncated, dropped, fingerprint: h.digest("hex") };
}

/**
 * The batches of one epoch as lists of example indices: shuffled, grouped in windows of
 * 16 batches, sorted by length within a window (little padding), then the batches shuffled.
 */
export function planEpoch(lengths: readonly number[], batchSize: number, seed: number, epoch: number): number[][] {
  const rng = makeRng(seed, "epoch", epoch);
  const order = rng.shuffle(lengths.map((_, i) => i));
  const window = batchSize * 16;
  const batches: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const group = order.slice(w, w + window).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
    for (let b = 0; b < group.length; b += batchSize) batches.push(group.slice(b, b + batchSize));
  }
  return rng.shuffle(batches);
}

/** Pads the examples to the longest one; weights mark response targets (response tokens and <eos>). */
export function makeBatch(examples: readonly EncodedExample[], indices: readonly number[], padId: number): TokenBatch {
  const B = indices.length;
  const T = Math.max(...indices.map((i) => examples[i]!.ids.length)) - 1;
  const inputs = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(padId);
  const weights = new Float32Array(B * T);
  indices.forEach((ei, b) => {
    const { ids, responseStart } = examples[ei]!;
    for (let t = 0; t + 1 < ids.length; t++) {
      inputs[b * T + t] = ids[t]!;
      targets[b * T + t] = ids[t + 1]!;
      if (t + 1 >= responseStart) weights[b * T + t] = 1;
    }
  });
  return { B, T, inputs, targets, weights };
}

/** Tokens a batch trains on (non-padding inputs). */
export function batchTokens(examples: readonly EncodedExample[], indices: readonly number[]): number {
  let n = 0;
  for (const i of indices) n += examples[i]!.ids.length - 1;
  return n;
}
