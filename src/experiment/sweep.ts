/**
 * A learnability-gap sweep: students x data variants x seeds, each cell trained and evaluated in a
 * worker process, finished cells stored under the hash of their full configuration and skipped on
 * re-run. Progress is reported per cell and overall; an AbortSignal stops the sweep and kills the
 * workers that are running.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { defaultWorkers, visibleGpus } from "../backend.js";
import { resolveMatMulEngine, type MatMulChoice } from "../model/blas.js";
import type { Budget, EvalExample, RunProgress, RunResult, RunSpec, StudentConfig, TrainConfig, TrainExample } from "../train/spec.js";
import { AVERAGE, ResultSet, type ResultRow } from "../gap/results.js";
import { formatParams } from "../gap/metrics.js";
import { hashOf } from "./hash.js";
import { resolveStudentConfig, trainFlopsPerToken } from "../model/config.js";
import { AbortError, WorkerPool, type CellRunner, type WorkerPoolOptions } from "./pool.js";
import { cellKey, ResultsStore, type CellConfig, type CellMeta, type StoredCell } from "./store.js";

/** One training set of the sweep: "long", "short", "mix-long", or a point of a ratio grid. */
export interface DataVariant {
  name: string;
  train: TrainExample[];
  /** Identifies the data in the store key; default the hash of `train`. Pass a mix manifest's hash when there is one. */
  manifestHash?: string;
  /** Mix weight of this variant's first part, for ratio ablations (accuracy against mix weight). */
  weight?: number;
  /** Decoding cap of this variant's evaluation (student tokens); default the sweep's `maxNewTokens`. */
  maxNewTokens?: number;
}

export interface SweepConfig {
  name?: string;
  /** Named sizes (src/model) or full configs, any order (results are ordered by parameter count). */
  students: Array<string | StudentConfig>;
  variants: DataVariant[];
  /** Training seeds; default [0, 1, 2]: differences under ~15 points need several seeds at toy scale. */
  seeds?: number[];
  /** Everything but the seed. `budget` is the budget rule: equal epochs, tokens or steps. */
  training: Omit<TrainConfig, "seed">;
  /**
   * Peak learning rate per student name, overriding `training.lr` (wider students want a lower one:
   * at 1e-2, `mini` and `small` diverge where `nano` and `micro` learn).
   */
  lrByStudent?: Record<string, number>;
  test: EvalExample[];
  maxNewTokens: number;
  /** Benchmark name for test examples without a `task`; default "test". */
  benchmark?: string;
  /** Requested tensor backend for the workers; part of every key. Default "auto". */
  backend?: string;
  /**
   * The wasm backend's matMul engine (src/model/blas.ts): "xnnpack" (default; bit-for-bit the same
   * on every machine, the committed study's engine), "openblas" (2-3x faster training where
   * native/openblas is built; its rounding depends on the CPU) or "auto" (openblas when built here).
   * OpenBLAS is part of every key, so a store never mixes the two; a worker that cannot use it fails.
   */
  matmul?: MatMulChoice;
}

export interface SweepCell {
  key: string;
  student: string;
  variant: string;
  seed: number;
  index: number;
}

export interface SweepCounts {
  total: number;
  done: number;
  cached: number;
  running: number;
  failed: number;
}

/** Training throughput of one run in its worker, tokens per second (undefined without timing). */
export function trainTokensPerSecond(r: RunResult): number | undefined {
  return r.trainSeconds !== undefined && r.trainSeconds > 0 ? r.trainTokens / r.trainSeconds : undefined;
}

const rate = (r: RunResult) => {
  const v = trainTokensPerSecond(r);
  return v === undefined ? {} : { trainTokensPerSecond: v };
};

export type SweepEvent =
  | { type: "start"; counts: SweepCounts; budget: string }
  | { type: "cell-start"; cell: SweepCell; counts: SweepCounts }
  | { type: "cell-progress"; cell: SweepCell; progress: RunProgress; counts: SweepCounts }
  | {
      type: "cell-done"; cell: SweepCell; cached: boolean; accuracy: number; seconds: number; counts: SweepCounts;
      /** Training tokens per second of the worker that ran the cell (trainTokens / trainSeconds), when the result has them. */
      trainTokensPerSecond?: number;
    }
  | { type: "cell-error"; cell: SweepCell; error: string; counts: SweepCounts }
  | { type: "end"; status: SweepStatus; counts: SweepCounts };

export type SweepStatus = "complete" | "aborted" | "failed";

export interface SweepRunOptions {
  /** Store directory (or an open store). */
  store: string | ResultsStore;
  /** Parallel cells; default the number of cores (one single-threaded worker each). */
  concurrency?: number;
  /** Runs one cell; default forked workers running this package's runTrainEval. */
  runner?: CellRunner;
  /** Options of the default worker pool. */
  pool?: Omit<WorkerPoolOptions, "size" | "backend" | "matmul">;
  signal?: AbortSignal;
  onProgress?: (e: SweepEvent) => void;
}

export interface CellOutcome extends SweepCell {
  cached: boolean;
  result?: RunResult;
  error?: string;
}

export interface SweepOutcome {
  status: SweepStatus;
  /** The budget rule every result was trained under. */
  budget: string;
  cells: CellOutcome[];
  counts: SweepCounts;
  /** Rows of the finished cells, one per (cell, benchmark), with per-example outcomes. */
  results: ResultSet;
}

const CLAIM_POLL_MS = 250;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Checks a run's result where it enters the sweep (it comes from another process); returns a problem or undefined. */
export function checkRunResult(x: unknown, nTest: number): string | undefined {
  if (typeof x !== "object" || x === null) return "result: expected an object";
  const r = x as Partial<RunResult>;
  if (typeof r.accuracy !== "number" || !(r.accuracy >= 0 && r.accuracy <= 1)) return `result.accuracy: expected a fraction in [0, 1], got ${JSON.stringify(r.accuracy)}`;
  if (!Array.isArray(r.examples)) return "result.examples: expected an array";
  if (r.examples.length !== nTest) return `result.examples: expected ${nTest} outcomes (one per test example), got ${r.examples.length}`;
  for (let i = 0; i < r.examples.length; i++) {
    const e = r.examples[i];
    if (typeof e?.id !== "string" || typeof e.correct !== "boolean") return `result.examples[${i}]: expected {id: string, correct: boolean}`;
  }
  const k = r.examples.filter((e) => e.correct).length;
  if (nTest > 0 && Math.abs(k / nTest - r.accuracy) > 1e-9) return `result.accuracy: ${r.accuracy} disagrees with the examples (${k}/${nTest})`;
  for (const f of ["trainTokens", "steps", "params", "seconds"] as const)
    if (typeof r[f] !== "number" || !Number.isFinite(r[f])) return `result.${f}: expected a number`;
  if (typeof r.backend !== "string") return "result.backend: expected a string";
  return undefined;
}

/** "epochs=2", "tokens=200000", "steps=300". */
export function budgetLabel(b: Budget): string {
  switch (b.kind) {
    case "epochs":
      return `epochs=${b.epochs}`;
    case "steps":
      return `steps=${b.steps}`;
    case "tokens":
      return `tokens=${b.tokens}`;
  }
}

const studentName = (s: string | StudentConfig): string =>
  typeof s === "string" ? s : (s.name ?? `d${s.dModel}-l${s.nLayers}-h${s.nHeads}`);

function validate(c: SweepConfig): void {
  const fail = (m: string): never => {
    throw new Error(`sweep config: ${m}`);
  };
  if (!Array.isArray(c.students) || c.students.length === 0) fail("students: expected at least one student");
  if (!Array.isArray(c.variants) || c.variants.length === 0) fail("variants: expected at least one data variant");
  const names = new Set<string>();
  c.variants.forEach((v, i) => {
    if (typeof v.name !== "string" || v.name === "") fail(`variants[${i}].name: expected a non-empty string`);
    if (names.has(v.name)) fail(`variants[${i}].name: duplicate variant ${JSON.stringify(v.name)}`);
    names.add(v.name);
    if (!Array.isArray(v.train) || v.train.length === 0) fail(`variants[${i}].train: expected a non-empty array of examples`);
    if (v.weight !== undefined && !(v.weight >= 0 && v.weight <= 1)) fail(`variants[${i}].weight: expected a number in [0, 1]`);
    if (v.maxNewTokens !== undefined && !(Number.isSafeInteger(v.maxNewTokens) && v.maxNewTokens > 0)) fail(`variants[${i}].maxNewTokens: expected a positive integer`);
  });
  const sn = new Set<string>();
  c.students.forEach((s, i) => {
    const n = studentName(s);
    if (sn.has(n)) fail(`students[${i}]: duplicate student ${JSON.stringify(n)}`);
    sn.add(n);
  });
  const seeds = c.seeds ?? [0, 1, 2];
  if (seeds.length === 0 || !seeds.every(Number.isSafeInteger) || new Set(seeds).size !== seeds.length) fail("seeds: expected distinct integers");
  if (!Array.isArray(c.test) || c.test.length === 0) fail("test: expected at least one evaluation example");
  if (!Number.isSafeInteger(c.maxNewTokens) || c.maxNewTokens <= 0) fail("maxNewTokens: expected a positive integer");
  if (!c.training || !c.training.budget) fail("training.budget: expected a budget rule (epochs, tokens or steps)");
  if (c.matmul !== undefined && c.matmul !== "xnnpack" && c.matmul !== "openblas" && c.matmul !== "auto") fail(`matmul: expected "xnnpack", "openblas" or "auto", got ${JSON.stringify(c.matmul)}`);
  for (const [name, lr] of Object.entries(c.lrByStudent ?? {})) {
    if (!sn.has(name)) fail(`lrByStudent.${name}: not one of the sweep's students (${[...sn].join(", ")})`);
    if (typeof lr !== "number" || !(lr > 0) || !Number.isFinite(lr)) fail(`lrByStudent.${name}: expected a positive learning rate, got ${JSON.stringify(lr)}`);
  }
}

/**
 * A cell's relative cost for scheduling: training FLOPs per token of the student at the variant's
 * mean sequence length, times the tokens its budget trains on (epochs x the variant's tokens; a
 * tokens or steps budget trains the same amount for every variant, so only the length counts).
 */
function cellCost(student: string | StudentConfig, v: DataVariant, budget: Budget): number {
  const tokens = epochTokens(v);
  const T = Math.max(1, Math.round(tokens / v.train.length));
  let flops: number;
  try {
    flops = trainFlopsPerToken(resolveStudentConfig(student, 64), T);
  } catch {
    // A student no size resolves to fails in its own cell, with the error recorded; here it only orders.
    flops = 1;
  }
  return flops * (budget.kind === "epochs" ? budget.epochs * tokens : T);
}

/** Training tokens of one epoch over a variant (what the trainer counts: prompt + response + 1). */
export function epochTokens(v: DataVariant): number {
  return v.train.reduce((s, e) => s + e.prompt.length + e.response.length + 1, 0);
}

interface PlannedCell extends SweepCell {
  config: CellConfig;
  meta: CellMeta;
  spec: RunSpec;
}

/** The grid, seed outermost, so a first full replicate of every (student, variant) finishes early. */
export function planSweep(c: SweepConfig): PlannedCell[] {
  validate(c);
  const test = hashOf(c.test);
  const backend = c.backend ?? "auto";
  const matmul = resolveMatMulEngine(c.matmul ?? "xnnpack");
  const budget = budgetLabel(c.training.budget);
  const dataHash = new Map(c.variants.map((v) => [v.name, v.manifestHash ?? hashOf(v.train)]));
  const out: PlannedCell[] = [];
  // Longest first within a replicate (largest student, most training tokens), so the
  // slowest cell does not start last and leave the other workers idle at the end.
  const order: Array<[string | StudentConfig, DataVariant, number]> = [];
  for (const student of c.students) for (const v of c.variants) order.push([student, v, cellCost(student, v, c.training.budget)]);
  order.sort((a, b) => b[2] - a[2]);
  for (const seed of c.seeds ?? [0, 1, 2]) {
    for (const [student, v] of order) {
      const lr = c.lrByStudent?.[studentName(student)];
      const training: TrainConfig = lr === undefined ? { ...c.training, seed } : { ...c.training, lr, seed };
      const maxNewTokens = v.maxNewTokens ?? c.maxNewTokens;
      const config: CellConfig = { data: dataHash.get(v.name)!, student, training, test, maxNewTokens, backend, ...(matmul === "openblas" ? { matmul } : {}) };
      const meta: CellMeta = { student: studentName(student), variant: v.name, seed, budget };
      if (c.name) meta.sweep = c.name;
      if (c.benchmark) meta.benchmark = c.benchmark;
      out.push({
        key: cellKey(config),
        student: meta.student,
        variant: v.name,
        seed,
        index: out.length,
        config,
        meta,
        spec: { student, training, train: v.train, test: c.test, maxNewTokens },
      });
    }
  }
  return out;
}

/** Result rows of one finished cell: one per benchmark (test task), with per-example outcomes. */
export function cellRows(cell: { student: string; variant: string; seed: number; key?: string }, r: RunResult, budget: string, defaultBenchmark = "test"): ResultRow[] {
  const byTask = new Map<string, RunResult["examples"]>();
  for (const e of r.examples) {
    const t = e.task ?? defaultBenchmark;
    let list = byTask.get(t);
    if (!list) byTask.set(t, (list = []));
    list.push(e);
  }
  return [...byTask].map(([benchmark, ex]) => {
    const k = ex.filter((e) => e.correct).length;
    const row: ResultRow = {
      student: cell.student,
      variant: cell.variant,
      benchmark,
      accuracy: (100 * k) / ex.length,
      n: ex.length,
      seed: cell.seed,
      examples: ex.map((e) => ({ id: e.id, correct: e.correct })),
      budget,
      source: cell.key ? `store:${cell.key.slice(0, 12)}` : "sweep",
    };
    if (r.params > 0) row.params = r.params;
    return row;
  });
}

/**
 * Runs (or resumes) a sweep. Cells already in the store are not run again. Resolves when every
 * cell has finished or failed ("complete" / "failed"), or when the signal aborts ("aborted":
 * running workers are killed; finished cells stay stored).
 */
export async function runSweep(config: SweepConfig, opts: SweepRunOptions): Promise<SweepOutcome> {
  const cells = planSweep(config);
  const budget = budgetLabel(config.training.budget);
  const store = typeof opts.store === "string" ? new ResultsStore(opts.store) : opts.store;
  store.clean();
  const backend = config.backend ?? "auto";
  // one worker per visible GPU when tfjs-node-gpu has one, else one per core
  const concurrency = Math.max(1, opts.concurrency ?? (opts.runner ? availableParallelism() : defaultWorkers(backend === "auto" || backend === "tensorflow" ? visibleGpus() : [])));
  // The engine planSweep resolved into the keys: the workers must multiply with the same one.
  const ownPool = opts.runner ? undefined : new WorkerPool({ ...opts.pool, size: concurrency, backend: config.backend ?? "auto", matmul: cells[0]?.config.matmul ?? "xnnpack" });
  const runner: CellRunner = opts.runner ?? ownPool!.run;
  const emit = (e: SweepEvent) => {
    try {
      opts.onProgress?.(e);
    } catch {
      // A failing progress display must not break the sweep.
    }
  };
  const counts: SweepCounts = { total: cells.length, done: 0, cached: 0, running: 0, failed: 0 };
  const snap = () => ({ ...counts });
  const outcomes: CellOutcome[] = [];
  const pending: PlannedCell[] = [];
  for (const c of cells) {
    const stored = store.get(c.key);
    const { config: _c, meta: _m, spec: _s, ...info } = c;
    if (stored) {
      counts.done++;
      counts.cached++;
      outcomes[c.index] = { ...info, cached: true, result: stored.result };
    } else pending.push(c);
  }
  emit({ type: "start", counts: snap(), budget });
  for (const o of outcomes) if (o) emit({ type: "cell-done", cell: infoOf(o), cached: true, accuracy: o.result!.accuracy, seconds: 0, counts: snap(), ...rate(o.result!) });

  const inner = new AbortController();
  const onAbort = () => inner.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) inner.abort();

  // Claims keep concurrent sweeps on one store (two notebooks) from computing the same cell twice.
  const token = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const queue = [...pending];
  const takeStored = (c: PlannedCell, stored: StoredCell) => {
    const { config: _c, meta: _m, spec: _s, ...info } = c;
    counts.done++;
    counts.cached++;
    outcomes[c.index] = { ...info, cached: true, result: stored.result };
    emit({ type: "cell-done", cell: info, cached: true, accuracy: stored.result.accuracy, seconds: 0, counts: snap(), ...rate(stored.result) });
  };
  /** The next cell this sweep may compute; undefined when the rest are held by other sweeps (or none are left). */
  const nextCell = (): PlannedCell | undefined => {
    for (let i = 0; i < queue.length; i++) {
      const c = queue[i];
      const stored = store.get(c.key);
      if (stored) {
        queue.splice(i--, 1);
        takeStored(c, stored);
        continue;
      }
      if (store.claim(c.key, token)) {
        queue.splice(i, 1);
        return c;
      }
    }
    return undefined;
  };
  const lane = async () => {
    while (!inner.signal.aborted) {
      const c = nextCell();
      if (!c) {
        if (queue.length === 0) return;
        await sleep(CLAIM_POLL_MS, inner.signal); // another sweep is computing the rest
        continue;
      }
      const { config: _c, meta: _m, spec, ...info } = c;
      counts.running++;
      emit({ type: "cell-start", cell: info, counts: snap() });
      const t0 = Date.now();
      let running = true;
      try {
        const result = await runner(spec, { key: c.key, signal: inner.signal, onProgress: (progress) => emit({ type: "cell-progress", cell: info, progress, counts: snap() }) });
        const problem = checkRunResult(result, spec.test.length);
        if (problem) throw new Error(`invalid run result: ${problem}`);
        store.put(c.config, c.meta, result);
        counts.running--;
        running = false;
        counts.done++;
        outcomes[c.index] = { ...info, cached: false, result };
        emit({ type: "cell-done", cell: info, cached: false, accuracy: result.accuracy, seconds: (Date.now() - t0) / 1000, counts: snap(), ...rate(result) });
      } catch (e) {
        if (running) counts.running--;
        if (inner.signal.aborted || e instanceof AbortError) {
          outcomes[c.index] = { ...info, cached: false, error: "aborted" };
          continue;
        }
        counts.failed++;
        const error = e instanceof Error ? e.message : String(e);
        outcomes[c.index] = { ...info, cached: false, error };
        emit({ type: "cell-error", cell: info, error, counts: snap() });
      } finally {
        store.release(c.key, token);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, pending.length)) }, lane));
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await ownPool?.close();
  }
  const status: SweepStatus = inner.signal.aborted ? "aborted" : counts.failed > 0 ? "failed" : "complete";
  emit({ type: "end", status, counts: snap() });
  for (const c of cells) {
    if (!outcomes[c.index]) {
      const { config: _c, meta: _m, spec: _s, ...info } = c;
      outcomes[c.index] = { ...info, cached: false, error: "not run (aborted)" };
    }
  }
  const rows = outcomes.filter((o) => o.result).flatMap((o) => cellRows(o, o.result!, budget, config.benchmark));
  const outcome: SweepOutcome = { status, budget, cells: outcomes, counts: snap(), results: new ResultSet(rows) };
  // Shown as a summary when it is a cell's last expression (not as the whole object).
  Object.defineProperty(outcome, Symbol.for("Jupyter.display"), { value: () => ({ "text/plain": formatSweepOutcome(outcome) }), enumerable: false });
  return outcome;
}

/** A summary: status, counts, budget, and mean accuracy (%) per student and variant over the finished seeds. */
export function formatSweepOutcome(o: SweepOutcome): string {
  const c = o.counts;
  const lines = [`sweep ${o.status}: ${c.done}/${c.total} cells done (${c.cached} from the store), ${c.failed} failed; budget ${o.budget}`];
  const rs = o.results;
  const variants = [...new Set(o.cells.map((x) => x.variant))];
  const head = ["student", "params", ...variants];
  const table = rs.students().map((s) => {
    const p = rs.params(s);
    return [
      s,
      p === undefined ? "" : formatParams(p),
      ...variants.map((v) => {
        const avg = rs.average(s, v);
        const seeds = o.cells.filter((x) => x.student === s && x.variant === v && x.result).length;
        return avg === undefined ? "-" : `${avg.toFixed(1)} (${seeds})`;
      }),
    ];
  });
  if (table.length > 0) {
    const w = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
    const line = (cells: string[]) => cells.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd();
    lines.push(`mean accuracy over ${rs.benchmarks().length > 1 ? `the ${rs.benchmarks().length} benchmarks (${AVERAGE})` : "the test set"}, % (finished seeds):`, line(head), ...table.map(line));
  }
  const errors = o.cells.filter((x) => x.error && x.error !== "aborted" && !x.error.startsWith("not run"));
  for (const e of errors.slice(0, 5)) lines.push(`failed: ${e.student} / ${e.variant} / seed ${e.seed}: ${e.error!.split("\n")[0]}`);
  if (errors.length > 5) lines.push(`... and ${errors.length - 5} more failures`);
  return lines.join("\n");
}

function infoOf(o: CellOutcome): SweepCell {
  return { key: o.key, student: o.student, variant: o.variant, seed: o.seed, index: o.index };
}

/** Every finished cell in a store as result rows (e.g. to analyse a sweep in a later session). */
export function storedResults(store: string | ResultsStore, filter: (c: StoredCell) => boolean = () => true): ResultSet {
  const s = typeof store === "string" ? new ResultsStore(store) : store;
  return new ResultSet(
    s
      .scan()
      .cells.filter(filter)
      .flatMap((c) => cellRows({ student: c.meta.student, variant: c.meta.variant, seed: c.meta.seed, key: c.key }, c.result, c.meta.budget, c.meta.benchmark)),
  );
}
