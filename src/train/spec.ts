/**
 * The contract between the student/training part and the experiment (sweep) part:
 * one run = train a student on a list of (prompt, response) pairs, then evaluate it.
 */

/** A decoder-only transformer student. Named sizes live in src/model. */
export interface StudentConfig {
  name?: string;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Hidden width of the MLP; default 4 * dModel. */
  dFF?: number;
  /** Context length in student tokens (prompt + response). */
  maxLen: number;
}

/** How long to train. The budget rule of a study is stated with every result. */
export type Budget =
  | { kind: "epochs"; epochs: number }
  | { kind: "steps"; steps: number }
  | { kind: "tokens"; tokens: number };

export interface TrainConfig {
  budget: Budget;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  seed: number;
}

export interface TrainExample {
  prompt: string;
  response: string;
}

export interface EvalExample {
  id: string;
  prompt: string;
  /** Reference answer, compared with the last \boxed{} of the generation. */
  answer: string;
  task?: string;
  level?: number;
}

export interface RunSpec {
  /** A named size (see src/model) or a full config. */
  student: string | StudentConfig;
  training: TrainConfig;
  train: TrainExample[];
  test: EvalExample[];
  /** Decoding budget in student tokens for the response. */
  maxNewTokens: number;
  /** Student tokenizer trained on the run's text: character-level (default) or a small BPE. */
  tokenizer?: { kind: "char" } | { kind: "bpe"; merges: number };
}

export interface ExampleResult {
  id: string;
  correct: boolean;
  extracted: string | null;
  generatedTokens: number;
  /** Whether generation stopped at the end marker (false: hit the length limit). */
  stopped: boolean;
  task?: string;
  level?: number;
  /** The decoded response (for inspection). */
  output?: string;
}

export interface RunResult {
  accuracy: number;
  examples: ExampleResult[];
  perTask: Record<string, { n: number; accuracy: number }>;
  perLevel: Record<string, { n: number; accuracy: number }>;
  trainTokens: number;
  steps: number;
  params: number;
  backend: string;
  /** The wasm backend's matMul engine ("xnnpack" or "openblas"); absent on other backends and in earlier results. */
  matmul?: string;
  seconds: number;
  /** Mean training loss of the last 10% of steps. */
  finalLoss?: number;
  /** Generated-length statistics in student tokens; stoppedFraction < 1 means some never stopped. */
  lengths?: { mean: number; median: number; p90: number; max: number; stoppedFraction: number };
  /** Student config actually used (maxLen sized to the data for named sizes). */
  studentConfig?: StudentConfig & { vocabSize: number };
  /** Training examples cut at the context length. */
  truncatedExamples?: number;
  /** Seconds spent training (the rest is evaluation and setup). */
  trainSeconds?: number;
}

export interface RunProgress {
  phase: "train" | "eval";
  step: number;
  totalSteps: number;
  loss?: number;
  tokensPerSecond?: number;
  etaSeconds?: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  /** Checkpoint the training here (every `checkpointEvery` steps and at the end). */
  checkpointPath?: string;
  checkpointEvery?: number;
  /** Sequences decoded together during evaluation (default 32). */
  evalBatchSize?: number;
}
