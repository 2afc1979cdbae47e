/**
 * What a slider move costs in the kernel: the mixer's answer time (comm message in, validated,
 * composition recomputed, state message out) for a 7,500-question corpus, per strategy, through the
 * real MixerRegistry and the library's mixComposition over an in-memory comm.
 * Usage: npm run bench -- mixer [--n 7500] [--moves 200]
 */
import { MIXER_COMM_TARGET } from "../src/contract/index.js";
import { synth } from "../src/data/index.js";
import { MixerRegistry } from "../kernel/widgets/mixer.js";
import { mixComposition } from "../src/mix/mix.js";
import { FakeHost } from "../test/browser/fake-host.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("n", 7500);
const moves = arg("moves", 200);

const t0 = performance.now();
const corpus = synth({ task: "mixed", n, seed: 1 });
console.log(`corpus: ${n} questions (synth mixed) in ${(performance.now() - t0).toFixed(0)} ms`);

const host = new FakeHost();
const registry = new MixerRegistry(host, mixComposition);
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

for (const strategy of ["per-question", "interleave", "concat"] as const) {
  const t1 = performance.now();
  const m = registry.create(corpus, { sources: ["long", "short"], weight: 0.2, strategy });
  const createMs = performance.now() - t1;
  const comm = host.openFromFrontend(MIXER_COMM_TARGET, { comm_id: m.id });
  const times: number[] = [];
  for (let i = 0; i < moves; i++) {
    const w = Math.round((0.01 + (0.98 * i) / moves) * 100) / 100;
    const s = performance.now();
    comm.receive({ type: "update", request_id: `r${i}`, weights: [w, Math.round((1 - w) * 100) / 100] });
    times.push(performance.now() - s);
    const reply = comm.last();
    if (reply.type !== "state" || reply.request_id !== `r${i}`) throw new Error(`unexpected reply ${JSON.stringify(reply).slice(0, 200)}`);
  }
  console.log(
    `${strategy.padEnd(12)} first composition (tokenises the corpus) ${createMs.toFixed(0)} ms; ` +
      `slider move -> state reply: median ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms ` +
      `(${moves} moves; target < 200 ms)`,
  );
}
