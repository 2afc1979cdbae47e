/**
 * One run of a study: train a student on (prompt, response) pairs, then evaluate it. This is what
 * the sweep runs in single-threaded worker processes; it needs nothing but plain strings.
 */
import { initBackend } from "../backend.js";
import { matMulInfo, parseEngine } from "../model/blas.js";
import { resolveStudentConfig, STUDENT_SIZES } from "../model/config.js";
import { StudentTokenizer } from "../model/student-tokenizer.js";
import { StudentModel } from "../model/transformer.js";
import { evaluateStudent } from "../eval/evaluate.js";
import { Trainer, validateTrainConfig } from "./trainer.js";
import type { RunOptions, RunResult, RunSpec } from "./spec.js";

/** Largest context a named size is stretched to when the data needs it. */
export const MAX_AUTO_CONTEXT = 4096;

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error("run aborted");
  e.name = "AbortError";
  return e;
}

/** Checks a RunSpec before anything runs; throws naming the field. */
export function validateRunSpec(spec: RunSpec): void {
  if (!spec || typeof spec !== "object") throw new Error("run spec: expected an object");
  if (!Array.isArray(spec.train) || spec.train.length === 0) throw new Error("run spec: train must be a non-empty array of {prompt, response}");
  spec.train.forEach((e, i) => {
    if (typeof e?.prompt !== "string" || typeof e?.response !== "string") throw new Error(`run spec: train[${i}] needs string prompt and response`);
  });
  if (!Array.isArray(spec.test)) throw new Error("run spec: test must be an array of {id, prompt, answer}");
  spec.test.forEach((e, i) => {
    if (typeof e?.id !== "string" || typeof e?.prompt !== "string" || typeof e?.answer !== "string") throw new Error(`run spec: test[${i}] needs string id, prompt and answer`);
  });
  if (!Number.isInteger(spec.maxNewTokens) || spec.maxNewTokens <= 0) throw new Error(`run spec: maxNewTokens must be a positive integer (got ${JSON.stringify(spec.maxNewTokens)})`);
  validateTrainConfig(spec.training);
  const t = spec.tokenizer;
  if (t !== undefined && !(t.kind === "char" || (t.kind === "bpe" && Number.isInteger(t.merges) && t.merges >= 0))) {
    throw new Error(`run spec: tokenizer must be {kind: "char"} or {kind: "bpe", merges: N} (got ${JSON.stringify(t)})`);
  }
}

/** Trains one student on one data variant and evaluates it: the unit of a sweep (see RunSpec). */
export async function runTrainEval(spec: RunSpec, opts: RunOptions = {}): Promise<RunResult> {
  validateRunSpec(spec);
  const t0 = performance.now();
  const backend = await initBackend();
  // A process asked for OpenBLAS (a sweep worker's cells are keyed by it) must not run on another engine.
  const asked = backend.name === "wasm" ? matMulInfo().requested : parseEngine(process.env.MIXDISTILL_MATMUL);
  if (asked === "openblas" && backend.matmul !== "openblas") {
    throw new Error(`OpenBLAS was asked for, but this process multiplies with ${backend.matmul ?? `the ${backend.name} backend`}: ${backend.name === "wasm" ? matMulInfo().reason : backend.reason}`);
  }
  const texts = [...spec.train.flatMap((e) => [e.prompt, e.response]), ...spec.test.map((e) => e.prompt)];
  const tokenizer = spec.tokenizer?.kind === "bpe" ? StudentTokenizer.trainBPE(texts, spec.tokenizer.merges) : StudentTokenizer.trainChar(texts);
  // Context: named sizes stretch to the longest example (train, or test prompt + decoding budget);
  // a custom config's maxLen is respected (longer examples are cut).
  let need = 0;
  for (const e of spec.train) need = Math.max(need, tokenizer.encode(e.prompt).length + tokenizer.encode(e.response).length + 2);
  for (const e of spec.test) need = Math.max(need, tokenizer.encode(e.prompt).length + 2 + spec.maxNewTokens);
  const named = typeof spec.student === "string";
  const maxLen = named ? Math.min(MAX_AUTO_CONTEXT, Math.max(64, Math.ceil(need / 64) * 64)) : undefined;
  if (named && !STUDENT_SIZES[spec.student as string]) resolveStudentConfig(spec.student, 1); // throws with the known names
  const config = resolveStudentConfig(spec.student, tokenizer.vocabSize, maxLen ? { maxLen } : {});
  const model = StudentModel.init(config, spec.training.seed);
  let trainer: Trainer | null = null;
  try {
    trainer = Trainer.create(model, tokenizer, spec.train, spec.training);
    const tTrain = performance.now();
    const summary = await trainer.run({
      signal: opts.signal,
      checkpointPath: opts.checkpointPath,
      checkpointEvery: opts.checkpointEvery,
      onProgress: (p) => opts.onProgress?.({ phase: "train", step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds }),
    });
    const trainSeconds = (performance.now() - tTrain) / 1000;
    if (summary.status === "aborted") throw abortError(opts.signal!);
    trainer.dispose();
    const report = await evaluateStudent(model, tokenizer, spec.test, {
      maxNewTokens: spec.maxNewTokens,
      batchSize: opts.evalBatchSize,
      signal: opts.signal,
      onProgress: (done, total) => opts.onProgress?.({ phase: "eval", step: done, totalSteps: total }),
    });
    const tail = summary.losses.slice(-Math.max(1, Math.ceil(summary.losses.length / 10)));
    return {
      accuracy: report.accuracy,
      examples: report.records.map((r) => ({
        id: r.id,
        correct: r.correct,
        extracted: r.extracted,
        generatedTokens: r.generatedTokens,
        stopped: r.stopped,
        output: r.output,
        ...(r.task !== undefined ? { task: r.task } : {}),
        ...(r.level !== undefined ? { level: r.level } : {}),
      })),
      perTask: report.perTask,
      perLevel: report.perLevel,
      trainTokens: summary.tokens,
      steps: summary.steps,
      params: model.numParams,
      backend: backend.name,
      ...(backend.matmul ? { matmul: backend.matmul } : {}),
      seconds: (performance.now() - t0) / 1000,
      finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
      lengths: report.lengths,
      studentConfig: { name: config.name, dModel: config.dModel, nLayers: config.nLayers, nHeads: config.nHeads, dFF: config.dFF, maxLen: config.maxLen, vocabSize: config.vocabSize },
      truncatedExamples: trainer.data.truncated,
      trainSeconds,
    };
  } finally {
    trainer?.dispose();
    model.dispose();
  }
}
