/**
 * Supervised fine-tuning of a student on (prompt, response) pairs: loss on response tokens only,
 * AdamW with warmup + cosine, gradient clipping, length-bucketed batches, a budget in epochs,
 * steps or tokens. Deterministic by seed on a given backend; cancellable between steps (the model
 * is then exactly the model after the last completed step); checkpoints resume to the same result.
 */
import * as tf from "@tensorflow/tfjs";
import { StudentModel, paramSpecs } from "../model/transformer.js";
import { StudentTokenizer } from "../model/student-tokenizer.js";
import { resolveStudentConfig, type ResolvedStudentConfig } from "../model/config.js";
import { AdamW, learningRate } from "./optimizer.js";
import { batchTokens, encodeExamples, makeBatch, planEpoch, type EncodedSet } from "./batches.js";
import { readCheckpoint, writeCheckpoint, type CheckpointData } from "./checkpoint.js";
import type { TrainConfig, TrainExample } from "./spec.js";

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  tokens: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface TrainRunOptions {
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Write a checkpoint here every `checkpointEvery` steps and at the end (or on abort). */
  checkpointPath?: string;
  checkpointEvery?: number;
  /** Stop after this step (exclusive budget end stays `totalSteps`; used to split a run). */
  untilStep?: number;
}

export interface TrainSummary {
  status: "done" | "aborted" | "paused";
  steps: number;
  totalSteps: number;
  tokens: number;
  losses: number[];
  seconds: number;
  tokensPerSecond: number;
}

/** Validates a TrainConfig; errors name the field. */
export function validateTrainConfig(c: TrainConfig): TrainConfig {
  const where = "training config";
  if (!c || typeof c !== "object") throw new Error(`${where}: expected an object`);
  const num = (v: unknown, f: string, min: number, int = false) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || (int && !Number.isInteger(v))) {
      throw new Error(`${where}: ${f} must be ${int ? "an integer" : "a number"} >= ${min} (got ${JSON.stringify(v)})`);
    }
  };
  num(c.batchSize, "batchSize", 1, true);
  num(c.lr, "lr", 0);
  num(c.warmupSteps, "warmupSteps", 0, true);
  num(c.weightDecay, "weightDecay", 0);
  num(c.gradClip, "gradClip", 0);
  num(c.seed, "seed", 0, true);
  const b = c.budget;
  if (!b || typeof b !== "object") throw new Error(`${where}: budget must be {kind, ...}`);
  if (b.kind === "epochs") num(b.epochs, "budget.epochs", Number.MIN_VALUE);
  else if (b.kind === "steps") num(b.steps, "budget.steps", 1, true);
  else if (b.kind === "tokens") num(b.tokens, "budget.tokens", 1);
  else throw new Error(`${where}: budget.kind must be "epochs", "steps" or "tokens"`);
  return c;
}

/**
 * Estimated floats a training step holds at its peak per sequence of T tokens: per layer three
 * (heads, T, T) attention matrices (probabilities saved, their gradient, a transient) and about
 * 20 D + 6 dFF floats per token (activations saved for the backward pass and their gradients),
 * plus the logits and their gradient. An upper bound of what tf.profile measures (see docs/students.md).
 */
export function stepFloatsPerRow(c: ResolvedStudentConfig, T: number): number {
  return c.nLayers * (3 * c.nHeads * T * T + T * (20 * c.dModel + 6 * c.dFF)) + T * (3 * c.vocabSize + 4 * c.dModel);
}

/** Supervised fine-tuning of a student (AdamW, warmup + cosine, gradient clipping), resumable from checkpoints. */
export class Trainer {
  step = 0;
  tokens = 0;
  losses: number[] = [];
  readonly totalSteps: number;
  private readonly plans = new Map<number, number[][]>();
  private readonly batchesPerEpoch: number;

  /** Largest attention matrix of one micro-batch, in floats (rows x heads x T x T). */
  microBatchAttention = 1 << 24;
  /** Largest estimated working set of one micro-batch, in floats (see `stepFloatsPerRow`). */
  microBatchFloats = 96 * (1 << 20);

  private constructor(
    readonly model: StudentModel,
    readonly tokenizer: StudentTokenizer,
    readonly config: TrainConfig,
    readonly data: EncodedSet,
    readonly optimizer: AdamW,
  ) {
    this.batchesPerEpoch = Math.ceil(data.examples.length / config.batchSize);
    this.totalSteps = this.computeTotalSteps();
  }

  /** A trainer for `model` on `examples` (encoded with `tokenizer`, cut to the model's context). */
  static create(model: StudentModel, tokenizer: StudentTokenizer, examples: readonly TrainExample[], config: TrainConfig): Trainer {
    validateTrainConfig(config);
    if (tokenizer.vocabSize !== model.config.vocabSize) throw new Error(`tokenizer has ${tokenizer.vocabSize} symbols, model expects ${model.config.vocabSize}`);
    const data = encodeExamples(tokenizer, examples, model.config.maxLen);
    const opt = new AdamW(model.specs.map((s) => s.shape), model.specs.map((s) => s.decay), config.weightDecay, config.gradClip);
    return new Trainer(model, tokenizer, config, data, opt);
  }

  /** Resumes from a checkpoint written by `save`, on the same training examples. */
  static resume(path: string, examples: readonly TrainExample[]): Trainer {
    const ck = readCheckpoint(path);
    if (!ck.state) throw new Error(`${path}: a weights-only checkpoint cannot resume training`);
    const { model, tokenizer } = loadStudent(ck, path);
    const t = Trainer.create(model, tokenizer, examples, ck.state.train);
    if (t.data.fingerprint !== ck.state.dataFingerprint) {
      t.dispose();
      model.dispose();
      throw new Error(`${path}: the training examples differ from those the checkpoint was trained on`);
    }
    const byName = new Map(ck.tensors.map((x) => [x.name, x]));
    const moment = (kind: "m" | "v") =>
      model.specs.map((s) => {
        const x = byName.get(`adam.${kind}/${s.name}`);
        if (!x) throw new Error(`${path}: optimiser state adam.${kind}/${s.name} missing`);
        return tf.keep(tf.tensor(x.data, x.shape));
      });
    t.optimizer.dispose();
    t.optimizer.m = moment("m");
    t.optimizer.v = moment("v");
    t.optimizer.t = ck.state.adamT;
    t.step = ck.state.step;
    t.tokens = ck.state.tokens;
    t.losses = [...ck.state.losses];
    return t;
  }

  private computeTotalSteps(): number {
    const b = this.config.budget;
    if (b.kind === "steps") return b.steps;
    if (b.kind === "epochs") return Math.max(1, Math.round(b.epochs * this.batchesPerEpoch));
    let tokens = 0;
    let s = 0;
    while (tokens < b.tokens) tokens += batchTokens(this.data.examples, this.batchAt(s++));
    return s;
  }

  /** Example indices of the batch trained at `step`. */
  batchAt(step: number): number[] {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    let plan = this.plans.get(epoch);
    if (!plan) {
      if (this.plans.size > 4) this.plans.clear();
      plan = planEpoch(this.data.examples.map((e) => e.ids.length), this.config.batchSize, this.config.seed, epoch);
      this.plans.set(epoch, plan);
    }
    return plan[step % this.batchesPerEpoch]!;
  }

  /**
   * Splits a batch into micro-batches of equal size whose working set stays under both caps: the
   * attention matrix (rows x heads x T x T floats, `microBatchAttention`) and the whole step
   * (`stepFloatsPerRow` x rows, `microBatchFloats`). Autodiff keeps every activation and every
   * gradient of a micro-batch until its backward pass ends, so the step's memory grows with
   * layers x rows x (heads x T^2 + T x width); the wasm heap never shrinks, so the largest step
   * of a run sets the heap for the rest of it (4 GB at most).
   */
  microBatches(idx: readonly number[]): number[][] {
    const H = this.model.config.nHeads;
    const T = Math.max(...idx.map((i) => this.data.examples[i]!.ids.length));
    const cap = Math.max(1, Math.min(Math.floor(this.microBatchAttention / (H * T * T)), Math.floor(this.microBatchFloats / stepFloatsPerRow(this.model.config, T))));
    const parts = Math.ceil(idx.length / cap);
    const rows = Math.ceil(idx.length / parts);
    const out: number[][] = [];
    for (let i = 0; i < idx.length; i += rows) out.push(idx.slice(i, i + rows));
    return out;
  }

  /** One optimiser step on the next batch (gradients accumulated over its micro-batches); returns its loss. */
  trainStep(): number {
    const idx = this.batchAt(this.step);
    const lr = learningRate(this.step, this.totalSteps, this.config.lr, this.config.warmupSteps);
    const batches = this.microBatches(idx).map((m) => makeBatch(this.data.examples, m, this.tokenizer.padId));
    const targets = batches.map((b) => b.weights.reduce((a, w) => a + w, 0));
    const total = targets.reduce((a, b) => a + b, 0);
    let loss = 0;
    let grads: tf.Tensor[] | null = null;
    batches.forEach((batch, k) => {
      // the batch loss is the mean over all its targets: micro-batch k weighs targets[k] / total
      const share = targets[k]! / total;
      if (share === 0) return;
      const prev: tf.Tensor[] | null = grads;
      const r = tf.tidy(() => {
        const { value, grads: g } = tf.valueAndGrads((...p: tf.Tensor[]) => this.model.loss(p, batch))(this.model.params);
        const scaled = batches.length === 1 ? g : g.map((x, i) => (prev ? tf.add(prev[i]!, tf.mul(x, share)) : tf.mul(x, share)));
        return { value, scaled };
      });
      loss += r.value.dataSync()[0]! * share;
      r.value.dispose();
      if (prev) for (const t of prev) t.dispose();
      grads = r.scaled;
    });
    const g = grads as tf.Tensor[] | null;
    if (!g) throw new Error(`step ${this.step}: the batch has no response tokens`);
    const next = tf.tidy(() => this.optimizer.update(this.model.params, g, lr).params);
    for (const t of g) t.dispose();
    this.model.setParams(next);
    this.step += 1;
    this.tokens += batchTokens(this.data.examples, idx);
    this.losses.push(loss);
    return loss;
  }

  /** Trains until the budget (or `untilStep`) is reached or `signal` aborts. */
  async run(opts: TrainRunOptions = {}): Promise<TrainSummary> {
    const t0 = performance.now();
    const startStep = this.step;
    const startTokens = this.tokens;
    const end = Math.min(this.totalSteps, opts.untilStep ?? this.totalSteps);
    let status: TrainSummary["status"] = "done";
    while (this.step < end) {
      if (opts.signal?.aborted) {
        status = "aborted";
        break;
      }
      const loss = this.trainStep();
      if (opts.checkpointPath && opts.checkpointEvery && this.step % opts.checkpointEvery === 0) this.save(opts.checkpointPath);
      const secs = (performance.now() - t0) / 1000;
      const tps = (this.tokens - startTokens) / Math.max(secs, 1e-9);
      const perStep = secs / (this.step - startStep);
      opts.onProgress?.({
        step: this.step,
        totalSteps: this.totalSteps,
        epoch: this.step / this.batchesPerEpoch,
        loss,
        lr: learningRate(this.step - 1, this.totalSteps, this.config.lr, this.config.warmupSteps),
        tokens: this.tokens,
        tokensPerSecond: tps,
        etaSeconds: perStep * (end - this.step),
      });
      // Let timers and the kernel's interrupt (an AbortSignal) run between steps.
      await new Promise<void>((r) => setImmediate(r));
    }
    if (status === "done" && this.step < this.totalSteps) status = "paused";
    if (opts.checkpointPath) this.save(opts.checkpointPath);
    const seconds = (performance.now() - t0) / 1000;
    return {
      status,
      steps: this.step,
      totalSteps: this.totalSteps,
      tokens: this.tokens,
      losses: [...this.losses],
      seconds,
      tokensPerSecond: (this.tokens - startTokens) / Math.max(seconds, 1e-9),
    };
  }

  /** Everything needed to resume. */
  checkpoint(): CheckpointData {
    const specs = this.model.specs;
    const tensors = [
      ...specs.map((s, i) => ({ name: s.name, shape: s.shape, data: this.model.params[i]!.dataSync() as Float32Array })),
      ...specs.map((s, i) => ({ name: `adam.m/${s.name}`, shape: s.shape, data: this.optimizer.m[i]!.dataSync() as Float32Array })),
      ...specs.map((s, i) => ({ name: `adam.v/${s.name}`, shape: s.shape, data: this.optimizer.v[i]!.dataSync() as Float32Array })),
    ];
    return {
      config: this.model.config,
      tokenizer: this.tokenizer.toJSON(),
      tensors,
      state: {
        train: this.config,
        step: this.step,
        totalSteps: this.totalSteps,
        tokens: this.tokens,
        adamT: this.optimizer.t,
        dataFingerprint: this.data.fingerprint,
        losses: [...this.losses],
      },
    };
  }

  save(path: string): void {
    writeCheckpoint(path, this.checkpoint());
  }

  /** Frees the optimiser state (the model stays usable). */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** The model and tokenizer of a checkpoint. */
export function loadStudent(ck: CheckpointData | string, where = typeof ck === "string" ? ck : "checkpoint"): { model: StudentModel; tokenizer: StudentTokenizer } {
  const data = typeof ck === "string" ? readCheckpoint(ck) : ck;
  const tokenizer = StudentTokenizer.fromJSON(data.tokenizer, `${where}: tokenizer`);
  const config = resolveStudentConfig(data.config, data.config.vocabSize);
  const byName = new Map(data.tensors.map((x) => [x.name, x]));
  const params = paramSpecs(config).map((s) => {
    const x = byName.get(s.name);
    if (!x) throw new Error(`${where}: parameter ${s.name} missing`);
    if (x.shape.join() !== s.shape.join()) throw new Error(`${where}: parameter ${s.name} has shape [${x.shape}], config needs [${s.shape}]`);
    return tf.keep(tf.tensor(x.data, x.shape));
  });
  const model = new StudentModel(config, params);
  return { model, tokenizer };
}

/** Writes a weights-only checkpoint (config, tokenizer, weights). */
export function saveStudent(path: string, model: StudentModel, tokenizer: StudentTokenizer): void {
  writeCheckpoint(path, {
    config: model.config,
    tokenizer: tokenizer.toJSON(),
    tensors: model.specs.map((s, i) => ({ name: s.name, shape: s.shape, data: model.params[i]!.dataSync() as Float32Array })),
  });
}
