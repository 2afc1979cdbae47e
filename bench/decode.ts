/**
 * `npm run bench -- decode [--quick]`
 *
 * Greedy decoding with the KV cache for config A (D=128, 2 layers, 4 heads, context 128):
 * batch-1 tokens/s (target >= 1,000) and batched evaluation throughput (target >= 10x batch 1).
 * The last line is one JSON object.
 */
import { initBackend } from "../src/backend.js";
import { Decoder, generate } from "../src/eval/decoder.js";
import { resolveStudentConfig } from "../src/model/config.js";
import { Rng } from "../src/model/rng.js";
import { StudentModel } from "../src/model/transformer.js";

const quick = process.argv.includes("--quick");
const info = await initBackend("wasm");
console.log(`backend: ${info.name} (${info.reason})`);
const cfg = resolveStudentConfig({ dModel: 128, nLayers: 2, nHeads: 4, maxLen: 128 }, 64);
const model = StudentModel.init(cfg, 1);
const dec = new Decoder(model);
const rng = new Rng(1);
const PROMPT = 8;
const NEW = 120; // fills the 128-token context
const prompt = () => [1, ...Array.from({ length: PROMPT - 2 }, () => 5 + rng.int(59)), 2];

async function rate(n: number, batchSize: number): Promise<number> {
  const prompts = Array.from({ length: n }, prompt);
  await generate(dec, prompts.slice(0, Math.min(n, batchSize)), { maxNewTokens: 8, eosId: -1, batchSize }); // warm-up
  const t0 = performance.now();
  const gens = await generate(dec, prompts, { maxNewTokens: NEW, eosId: -1, batchSize });
  const s = (performance.now() - t0) / 1000;
  return gens.reduce((a, g) => a + g.tokens.length, 0) / s;
}

const single = await rate(quick ? 2 : 6, 1);
console.log(`batch 1: ${single.toFixed(0)} tok/s (target 1000)`);
const result: Record<string, unknown> = { backend: info.name, params: model.numParams, batch1TokensPerSecond: +single.toFixed(1) };
const batched: Record<string, number> = {};
for (const bs of quick ? [64] : [16, 64, 128]) {
  const r = await rate(quick ? 64 : 2 * bs, bs);
  batched[bs] = +r.toFixed(1);
  console.log(`batch ${bs}: ${r.toFixed(0)} tok/s = ${(r / single).toFixed(1)}x batch 1 (target 10x)`);
}
const best = Math.max(...Object.values(batched));
result.batched = batched;
result.bestBatchedOverBatch1 = +(best / single).toFixed(2);
result.targets = { batch1: 1000, batchedRatio: 10 };
dec.dispose();
model.dispose();
console.log(JSON.stringify(result));
