import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/backend.js";
import { Decoder, decoderSettings, generate } from "../../src/eval/decoder.js";
import { evaluateStudent, generationLengthStats } from "../../src/eval/evaluate.js";
import { resolveStudentConfig } from "../../src/model/config.js";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { StudentModel } from "../../src/model/transformer.js";

let model: StudentModel;
let tok: StudentTokenizer;
beforeAll(async () => {
  await initBackend("wasm");
  tok = StudentTokenizer.trainChar(["0123456789+=\\boxed{}"]);
  // Random weights with a large scale make the argmax sensitive to any numeric disagreement.
  model = StudentModel.init(resolveStudentConfig({ dModel: 32, nLayers: 2, nHeads: 4, maxLen: 48 }, tok.vocabSize), 11);
  model.setParams(model.params.map((p, i) => (model.specs[i]!.init.kind === "normal" ? tf.mul(p, 8) : tf.clone(p))));
});

/** Greedy decoding without a cache: the full forward pass over the whole sequence every step. */
function greedyNoCache(prompt: number[], n: number): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = tf.tidy(() => {
      const logits = model.forward(model.params, seq, 1, seq.length);
      return logits.slice([seq.length - 1, 0], [1, tok.vocabSize]).argMax(1).dataSync()[0]!;
    });
    if (next === tok.eosId) break;
    out.push(next);
    seq.push(next);
  }
  return out;
}

describe("decoding with a KV cache", () => {
  it.each([8, 1])("gives the same logits as the full forward pass, row by row (matMul from %i rows)", (rows) => {
    decoderSettings.tensorRows = rows;
    try {
      const ids = tok.encodePrompt("12+34=5");
      const full = tf.tidy(() => model.forward(model.params, ids, 1, ids.length).dataSync());
      const dec = new Decoder(model);
      const cache = dec.newCache();
      // prefill half in one call (backend matMul), then one token at a time (JavaScript with rows=8)
      const half = 8;
      const pre = dec.forward(ids.slice(0, half).map((token) => ({ cache, token })));
      for (let j = 0; j < tok.vocabSize; j++) expect(pre[(half - 1) * tok.vocabSize + j]).toBeCloseTo(full[(half - 1) * tok.vocabSize + j]!, 3);
      for (let t = half; t < ids.length; t++) {
        const l = dec.forward([{ cache, token: ids[t]! }]);
        for (let j = 0; j < tok.vocabSize; j++) expect(l[j]).toBeCloseTo(full[t * tok.vocabSize + j]!, 3);
      }
      dec.dispose();
    } finally {
      decoderSettings.tensorRows = null;
    }
  });

  it("greedy generation equals generation without a cache, batched or not", async () => {
    const prompts = ["1+2", "33+4", "9", "5+5+5+5"].map((p) => tok.encodePrompt(p));
    const dec = new Decoder(model);
    const single = await generate(dec, prompts, { maxNewTokens: 20, eosId: tok.eosId, batchSize: 1 });
    const batched = await generate(dec, prompts, { maxNewTokens: 20, eosId: tok.eosId, batchSize: 4 });
    expect(batched).toEqual(single);
    prompts.forEach((p, i) => expect(single[i]!.tokens).toEqual(greedyNoCache(p, 20).slice(0, single[i]!.tokens.length)));
    for (const g of single) expect(g.stopped || g.tokens.length === 20).toBe(true);
    dec.dispose();
  });

  it("stops at the length limit, and at the context size", async () => {
    const dec = new Decoder(model);
    const [g] = await generate(dec, [tok.encodePrompt("1+1")], { maxNewTokens: 3, eosId: -1 });
    expect(g!.tokens.length).toBe(3);
    expect(g!.stopped).toBe(false);
    const [h] = await generate(dec, [tok.encodePrompt("1+1")], { maxNewTokens: 1000, eosId: -1 });
    // 5 prompt tokens and 43 fed-back tokens fill the 48 positions; the 44th is generated from the last
    expect(h!.tokens.length).toBe(48 - 5 + 1);
    dec.dispose();
  });

  it("keeps the end of an over-long prompt, and stops mid-chunk on abort", async () => {
    const dec = new Decoder(model);
    const long = [tok.bosId, ...tok.encode("1+2+3+4+5+6+7+8+9+1+2+3+4+5+6+7+8+9+1+2+3+4+5+6+7+8+9"), tok.respId];
    expect(long.length).toBeGreaterThan(48);
    const [g] = await generate(dec, [long], { maxNewTokens: 5, eosId: -1 });
    // the last 47 prompt tokens are kept; one generated token fills position 48, one more comes from it
    expect(g!.tokens.length).toBe(2);
    const ac = new AbortController();
    const p = generate(dec, [tok.encodePrompt("1")], { maxNewTokens: 40, eosId: -1, signal: ac.signal });
    setImmediate(() => ac.abort(new Error("interrupted")));
    await expect(p).rejects.toThrow(/interrupted/);
    dec.dispose();
  });

  it("samples with temperature, reproducibly by seed", async () => {
    const dec = new Decoder(model);
    const p = [tok.encodePrompt("1+2"), tok.encodePrompt("7+7")];
    const a = await generate(dec, p, { maxNewTokens: 12, eosId: -1, temperature: 1, seed: 3 });
    const b = await generate(dec, p, { maxNewTokens: 12, eosId: -1, temperature: 1, seed: 3 });
    const c = await generate(dec, p, { maxNewTokens: 12, eosId: -1, temperature: 1, seed: 4 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    dec.dispose();
  });
});

describe("evaluation", () => {
  it("scores records, groups per task and level, and reports lengths", async () => {
    const ex = [
      { id: "a", prompt: "1+1", answer: "2", task: "add", level: 1 },
      { id: "b", prompt: "2+2", answer: "4", task: "add", level: 2 },
    ];
    const r = await evaluateStudent(model, tok, ex, { maxNewTokens: 10 });
    expect(r.n).toBe(2);
    expect(r.records.map((x) => x.id)).toEqual(["a", "b"]);
    expect(r.perTask.add!.n).toBe(2);
    expect(Object.keys(r.perLevel).sort()).toEqual(["1", "2"]);
    for (const rec of r.records) expect(rec.output).toBe(tok.decode(tok.encode(rec.output)));
    expect(generationLengthStats([{ generatedTokens: 4, stopped: true }, { generatedTokens: 10, stopped: false }])).toEqual({ mean: 7, median: 10, p90: 10, max: 10, stoppedFraction: 0.5 });
  });
});

// Cache attention reads query dimensions in chunks of 16 when the head size allows; the model above
// (head size 8) only takes the remainder loop. These check both paths together at head sizes 16 and 24.
describe.each([
  { dModel: 64, nHeads: 4 },
  { dModel: 48, nHeads: 2 },
])("cache attention at head size $dModel / $nHeads", ({ dModel, nHeads }) => {
  it("gives the same logits as the full forward pass, token by token", () => {
    const m = StudentModel.init(resolveStudentConfig({ dModel, nLayers: 2, nHeads, maxLen: 48 }, tok.vocabSize), 5);
    m.setParams(m.params.map((p, i) => (m.specs[i]!.init.kind === "normal" ? tf.mul(p, 8) : tf.clone(p))));
    const ids = tok.encodePrompt("98+76=174 and 5+5");
    const full = tf.tidy(() => m.forward(m.params, ids, 1, ids.length).dataSync());
    const dec = new Decoder(m);
    const cache = dec.newCache();
    for (let t = 0; t < ids.length; t++) {
      const l = dec.forward([{ cache, token: ids[t]! }]);
      for (let j = 0; j < tok.vocabSize; j++) expect(l[j]).toBeCloseTo(full[t * tok.vocabSize + j]!, 3);
    }
    dec.dispose();
    m.dispose();
  });
});
