/**
 * `npm run bench -- decontaminate [--train 1000000] [--bench 10000]`: word 8-gram decontamination of
 * TRAIN generated training questions (~25-40 words each, math-word-problem vocabulary) against BENCH
 * benchmark questions, 1% of the training questions being copies (re-cased, re-spaced) of benchmark
 * ones. Reports the time to index the benchmark, to check every training question, and the hits
 * found against the number planted. The last line printed is one JSON object.
 */
import { Decontaminator, decontaminate } from "../src/data/decontaminate.js";
import { makeRng } from "../src/data/rng.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const nTrain = arg("train", 1_000_000);
const nBench = arg("bench", 10_000);

const VOCAB = (
  "the a of to and in is what find let be positive integer real number numbers sum product value how many ways " +
  "triangle circle square side length area radius point points line lines angle degrees prime divisor remainder " +
  "when divided by x y z n m k if then such that each every least greatest smallest largest total cost price apples " +
  "students class boxes hours minutes speed distance train car walks runs buys sells gives twice three four five seven"
).split(" ");

function question(rand: () => number, i: number): string {
  const len = 25 + Math.floor(rand() * 16);
  const w: string[] = [];
  for (let k = 0; k < len; k++) w.push(VOCAB[Math.floor(rand() * VOCAB.length)]!);
  w.splice(Math.floor(rand() * len), 0, String(i % 997), String(Math.floor(rand() * 10000)));
  return w.join(" ") + "?";
}

const rng = makeRng(12345, "decontaminate-bench");
const rand = () => rng.next();
const bench = Array.from({ length: nBench }, (_, i) => ({ file: "bench.jsonl", line: i + 1, text: question(rand, i) }));
const planted = Math.floor(nTrain / 100);
const train = Array.from({ length: nTrain }, (_, i) => {
  const q = i % 100 === 0 ? bench[(i / 100) % nBench]!.text.toUpperCase().replace(/ /g, "  ") : question(rand, i + 7);
  return { id: `t${i}`, question: q };
});

const t0 = performance.now();
const index = new Decontaminator(bench);
const t1 = performance.now();
const { report } = decontaminate(train, index, { policy: "flag" });
const t2 = performance.now();
const out = {
  bench: "decontaminate",
  train: nTrain,
  benchmark: nBench,
  ngrams_indexed: index.size,
  index_s: +((t1 - t0) / 1000).toFixed(2),
  check_s: +((t2 - t1) / 1000).toFixed(2),
  questions_per_s: Math.round(nTrain / ((t2 - t1) / 1000)),
  hits: report.hits.length,
  planted,
};
console.log(`indexed ${out.ngrams_indexed} benchmark 8-grams in ${out.index_s} s; checked ${nTrain} questions in ${out.check_s} s (${out.questions_per_s}/s); ${out.hits} hits, ${planted} planted`);
console.log(JSON.stringify(out));
