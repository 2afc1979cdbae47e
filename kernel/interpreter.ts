/**
 * The interpreter seam (as ipykernel's do_execute/do_complete or xeus's xinterpreter): what a
 * request asks of the language, free of the wire. `Interpreter` is what the protocol layer
 * (kernel/protocol/dispatch.ts) calls; `TypeScriptInterpreter` implements it over the executor
 * (kernel/execute/executor.ts), the language service (kernel/intel) and the history.
 *
 * Positions are UTF-16 indices into the code (JavaScript's own); the protocol layer converts the
 * code points Jupyter sends.
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Completeness, isComplete } from "./execute/completeness.js";
import { type MimeBundle, toMimeBundle } from "./execute/display.js";
import { Executor, type ExecutorOptions } from "./execute/executor.js";
import { isNotAResult, settleProgressBars } from "./execute/globals.js";
import { warmUp as warmUpTransform } from "./execute/transform.js";
import { History, type HistoryQuery, type HistoryRow } from "./history.js";
import { IntelClient } from "./intel/client.js";
import type { CompletionResult } from "./intel/protocol.js";

export type { MimeBundle };

export interface ExecuteRequest {
  code: string;
  /** No execute_result, no history, no type check (a front end's own bookkeeping). */
  silent: boolean;
  storeHistory: boolean;
  /** The count this execution shows (the protocol layer counts executions that store history). */
  executionCount: number;
  /** Expressions to evaluate after the code ran without error, by name. */
  userExpressions: Record<string, string>;
  /** Sends warning text to this request's stderr, also after it has replied. */
  warn(text: string): void;
}

export type ExpressionResult =
  | { status: "ok"; data: MimeBundle; metadata: Record<string, unknown> }
  | { status: "error"; ename: string; evalue: string; traceback: string[] };

export type ExecuteResult =
  | { status: "ok"; /** The execute_result's bundle, when the cell has a value to show. */ data?: MimeBundle; userExpressions: Record<string, ExpressionResult> }
  | { status: "error"; ename: string; evalue: string; traceback: string[] };

/** Matches for the cursor; `start`/`end` (UTF-16) is the range they replace. */
export type Completion = CompletionResult;

/** kernel_info_reply's language part. */
export interface InterpreterInfo {
  implementation: string;
  implementationVersion: string;
  languageInfo: Record<string, unknown>;
  banner: string;
  helpLinks: Array<{ text: string; url: string }>;
}

export interface Interpreter {
  readonly info: InterpreterInfo;
  execute(req: ExecuteRequest): Promise<ExecuteResult>;
  complete(code: string, cursor: number): Promise<Completion>;
  /** A mime bundle describing what is at the cursor, or undefined when nothing is found. */
  inspect(code: string, cursor: number, detailLevel: number): Promise<MimeBundle | undefined>;
  isComplete(code: string): Promise<Completeness>;
  history(query: HistoryQuery): HistoryRow[];
  /**
   * Interrupt number `seq` (numbered by the I/O thread, which already answered the request): stops
   * the running execution, or the next one started before its code ran. Each number acts once.
   */
  interrupt(seq: number): void;
  /** Loads what the first cells need, off the start-up path (after the first kernel_info). Idempotent. */
  warmUp?(): void;
  close?(): Promise<void>;
}

function packageVersion(file: string): string {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * Holds every cell's type warnings back this long (ms), so that they certainly arrive after the cell's
 * reply: MIXDISTILL_TYPECHECK_DELAY_MS, for the tests of late warnings in front ends. Default 0.
 */
const WARNING_DELAY_MS = Math.max(0, Number(process.env.MIXDISTILL_TYPECHECK_DELAY_MS ?? 0) || 0);

export interface TypeScriptInterpreterOptions {
  cwd: string;
  /** Root of the mixdistill package (package.json, node_modules, dist/). */
  packageRoot: string;
  /** Run the TypeScript language service (completion, inspection, type warnings). Default true. */
  languageService?: boolean;
  /** Type-check cells and report type errors as warnings (default true; `kernel.typeCheck` changes it). */
  typeCheck?: boolean;
  /** The I/O thread's interrupt counter, for the executor (see ExecutorOptions). */
  interrupts?: Pick<ExecutorOptions, "interruptCount" | "interruptSpent" | "interruptConsumed" | "runningCellCode" | "awaitingCell" | "importing" | "signalWatched">;
  /**
   * What must be ready before the first cell runs (the widget globals); resolves to the names of
   * the globals it added, which are declared to the language service. Called once.
   */
  prepare?: () => Promise<readonly string[]>;
  log?: (line: string) => void;
}

/** TypeScript cells run by the executor; completion, inspection and type warnings from the language service. */
export class TypeScriptInterpreter implements Interpreter {
  readonly executor: Executor;
  /** The cells run with store_history (what history_request queries). */
  readonly records = new History();
  readonly info: InterpreterInfo;
  private readonly intel: IntelClient | undefined;
  private readonly log: (line: string) => void;
  private prepared: Promise<void> | undefined;
  typeCheck: boolean;

  constructor(private readonly opts: TypeScriptInterpreterOptions) {
    this.log = opts.log ?? (() => undefined);
    this.executor = new Executor({ cwd: opts.cwd, packageRoot: opts.packageRoot, ...opts.interrupts });
    this.typeCheck = opts.typeCheck !== false;
    this.intel = opts.languageService === false ? undefined : new IntelClient({ cwd: opts.cwd, packageRoot: opts.packageRoot, log: this.log });
    const version = packageVersion(join(opts.packageRoot, "package.json"));
    this.info = {
      implementation: "mixdistill",
      implementationVersion: version,
      languageInfo: {
        name: "typescript",
        version: packageVersion(join(opts.packageRoot, "node_modules", "typescript", "package.json")),
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        codemirror_mode: { name: "javascript", typescript: true },
        nbconvert_exporter: "script",
      },
      banner: `mixdistill ${version}: TypeScript on Node.js ${process.version}`,
      helpLinks: [
        { text: "mixdistill kernel", url: "https://github.com/mixdistill/mixdistill/blob/main/docs/kernel.md" },
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
        { text: "Node.js API", url: "https://nodejs.org/api/" },
      ],
    };
  }

  /** The AbortSignal of the running execution (what `kernel.signal` is). */
  get signal(): AbortSignal {
    return this.executor.signal;
  }

  signalWatched(): void {
    this.executor.signalWatched();
  }

  /** Whether an execute request is in progress (input requests are only allowed then). */
  get busy(): boolean {
    return this.executor.busy;
  }

  warmUp(): void {
    void warmUpTransform().catch((err: unknown) => this.log(`transpiler warm-up failed: ${String(err)}`));
    void this.prepare();
    void this.intel?.warmUp();
  }

  private prepare(): Promise<void> {
    this.prepared ??= (this.opts.prepare?.() ?? Promise.resolve([])).then(
      (names) => this.intel?.declareGlobals([...names]),
      (err: unknown) => this.log(`cell globals not prepared: ${(err as Error)?.stack ?? String(err)}`),
    );
    return this.prepared;
  }

  async execute(req: ExecuteRequest): Promise<ExecuteResult> {
    // From here on, an interrupt applies to this request, even before its code starts.
    this.executor.begin();
    try {
      return await this.run(req);
    } finally {
      this.executor.end();
    }
  }

  private async run(req: ExecuteRequest): Promise<ExecuteResult> {
    const { code, silent, storeHistory, executionCount } = req;
    await this.prepare();
    const filename = this.executor.cellName(storeHistory ? executionCount : undefined);
    // The type check runs (on the language service's thread) while the cell runs; it is not waited for.
    if (!silent && this.typeCheck && this.intel) this.typeCheckCell(code, filename, req.warn);
    let outcome = await this.executor.execute(code, filename);
    let data: MimeBundle | undefined;
    let output: string | null = null;
    if (outcome.status === "ok" && outcome.hasValue && outcome.value !== undefined && !isNotAResult(outcome.value) && !silent) {
      try {
        data = toMimeBundle(outcome.value, { raw: false });
        output = typeof data["text/plain"] === "string" ? data["text/plain"] : null;
      } catch (err) {
        outcome = this.executor.errorOutcome(err);
        data = undefined;
      }
    }
    settleProgressBars(outcome);
    if (storeHistory) this.records.add({ line: executionCount, input: code, output });
    // A cell that ran, even one that failed or was interrupted part-way (its earlier declarations
    // exist), is declared to the language service: later cells using its names get no false
    // "Cannot find name". Only a cell that did not compile is left out.
    this.intel?.recordCell(code, filename, outcome.status === "ok" || outcome.notRun !== true);
    if (outcome.status === "error") return { status: "error", ename: outcome.ename, evalue: outcome.evalue, traceback: outcome.traceback };
    const userExpressions: Record<string, ExpressionResult> = {};
    for (const [name, expr] of Object.entries(req.userExpressions)) userExpressions[name] = await this.evaluate(String(expr));
    return { status: "ok", data, userExpressions };
  }

  /**
   * Type-checks a cell off the path to its reply. Warnings ready while the cell's code runs come
   * before its result; later ones after the reply, still as that cell's output.
   */
  private typeCheckCell(code: string, filename: string, warn: (text: string) => void): void {
    void this.intel!.checkCell(code, filename).then(
      (warnings) => {
        if (!warnings.length) return;
        const text = warnings.map((w) => `${w}\n`).join("");
        if (WARNING_DELAY_MS > 0) setTimeout(() => warn(text), WARNING_DELAY_MS);
        else warn(text);
      },
      (err: unknown) => this.log(`type check of ${filename} failed: ${String(err)}`),
    );
  }

  private async evaluate(expr: string): Promise<ExpressionResult> {
    const o = await this.executor.execute(expr, this.executor.cellName(undefined));
    if (o.status === "error") return { status: "error", ename: o.ename, evalue: o.evalue, traceback: o.traceback };
    try {
      return { status: "ok", data: o.hasValue ? toMimeBundle(o.value, { raw: false }) : { "text/plain": "undefined" }, metadata: {} };
    } catch (err) {
      return { status: "error", ename: "Error", evalue: String(err), traceback: [] };
    }
  }

  async complete(code: string, cursor: number): Promise<Completion> {
    if (!this.intel) return { matches: [], start: cursor, end: cursor, types: [] };
    return this.intel.complete(code, cursor);
  }

  async inspect(code: string, cursor: number, detailLevel: number): Promise<MimeBundle | undefined> {
    return this.intel ? this.intel.inspect(code, cursor, detailLevel) : undefined;
  }

  isComplete(code: string): Promise<Completeness> {
    return isComplete(code);
  }

  history(query: HistoryQuery): HistoryRow[] {
    return this.records.query(query);
  }

  interrupt(seq: number): void {
    this.executor.interruptNumbered(seq);
  }

  /** A background error (timer, comm handler, rejection) as traceback text, cell positions mapped. */
  describeError(err: unknown): string {
    const o = this.executor.errorOutcome(err);
    return o.status === "error" ? o.traceback.join("\n") : String(err);
  }

  async close(): Promise<void> {
    await this.intel?.close();
  }
}
