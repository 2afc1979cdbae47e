/**
 * Runs transformed cells in the kernel's own global scope (vm.runInThisContext: no second realm, so
 * `instanceof` and typed arrays behave across cells and libraries). Knows nothing of ZeroMQ.
 *
 * Interrupts: synchronous code runs with `breakOnSigint`, so the SIGINT the control thread sends
 * stops it; pending async work is abandoned by rejecting the cell's promise, and the cell's
 * AbortSignal is aborted so library code (training loops) can stop cleanly. Code that loops after
 * the cell's first `await` is stopped by the I/O thread (control-worker.ts) while this awaits it.
 */
import { createRequire, isBuiltin, SourceMap } from "node:module";
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import { resolveOwnExport, resolvePackage } from "./resolve.js";
import { sigintWatchdogBeforeCell } from "./sigint-watchdog.js";
import { CellSyntaxError, type ColumnAnchors, RUNTIME, type TransformedCell, transformCell, unshiftColumn } from "./transform.js";

export type ExecOutcome =
  | { status: "ok"; hasValue: boolean; value?: unknown }
  | { status: "error"; ename: string; evalue: string; traceback: string[]; interrupted: boolean; notRun?: true };

export class InterruptedError extends Error {
  constructor() {
    super("execution interrupted");
    this.name = "Interrupted";
  }
}

export interface ExecutorOptions {
  /** Directory relative imports and bare package names are resolved from (the notebook's). */
  cwd: string;
  /** Root of the mixdistill package: its package.json's "exports" map serves `mixdistill/...` imports. */
  packageRoot: string;
  /** How many interrupts the I/O thread has received (a counter shared between the threads). */
  interruptCount?: () => number;
  /** The last interrupt the I/O thread carried out itself (it stopped a loop while no request ran). */
  interruptSpent?: () => number;
  /** Called when interrupt `seq` has been acted on (the I/O thread stops re-signalling). */
  interruptConsumed?: (seq: number) => void;
  /** Called with true just before cell code starts under `breakOnSigint`, false once it returned. */
  runningCellCode?: (on: boolean) => void;
  /**
   * Called with true while the executor awaits a cell's promise (what holds the main thread then is
   * the cell's own code after an `await`, or a timer: the I/O thread may stop it), false after.
   */
  awaitingCell?: (on: boolean) => void;
  /** The running cell's code asked for its AbortSignal (it watches for interrupts and stops by itself). */
  signalWatched?: () => void;
  /** Called with true when a cell's import starts and false when it settled (its module's code must not be stopped). */
  importing?: (on: boolean) => void;
}

interface CellRecord {
  map: SourceMap | undefined;
  /** Length of the prefix the rewrite put on line 1. */
  prefix: number;
  /** How the rewrite moved columns on each line. */
  columns: ColumnAnchors;
  /** The script's last line: the call of the cell's async wrapper, not cell code. */
  lastLine: number;
}

/** The object the rewritten cells call (`__mixdistill_rt.import(...)`). */
export interface Runtime {
  global: typeof globalThis;
  import(spec: string): Promise<Record<string, unknown>>;
  defaultExport(mod: Record<string, unknown>): unknown;
  namedExport(mod: Record<string, unknown>, name: string, spec: string): unknown;
  /** What `import.meta` means in a cell: a module in the notebook's directory. */
  importMeta: { url: string; dirname: string; filename: string };
  /** Makes top-level consts of a cell read-only globals: assigning one is a TypeError, as in a module. */
  freeze(names: string[]): void;
  /** Runs `fn` when the running cell has finished (re-publishes its functions' final values). */
  atEnd(fn: () => void): void;
}

/** Getters of frozen consts (so a later declaration of the name can make it writable again). */
const constGetters = new WeakSet<object>();

function freezeGlobal(name: string): void {
  const g = globalThis as Record<string, unknown>;
  const d = Object.getOwnPropertyDescriptor(g, name);
  if (!d || !d.configurable) return;
  const value = g[name];
  const get = (): unknown => value;
  constGetters.add(get);
  Object.defineProperty(g, name, {
    get,
    set: () => {
      throw new TypeError("Assignment to constant variable.");
    },
    enumerable: true,
    configurable: true,
  });
}

/**
 * Before a cell runs, the names it declares become writable globals (undefined when new, a former
 * const keeps its value until the cell assigns it), as a module's hoisting does; enums start empty.
 */
function declareGlobals(names: readonly string[], enums: readonly string[]): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(g, name);
    if (!d) Object.defineProperty(g, name, { value: undefined, writable: true, enumerable: true, configurable: true });
    else if (d.get && constGetters.has(d.get)) Object.defineProperty(g, name, { value: d.get(), writable: true, enumerable: true, configurable: true });
  }
  for (const name of enums) g[name] = undefined;
}

export class Executor {
  private endHooks: Array<() => void> = [];
  private readonly cells = new Map<string, CellRecord>();
  private controller: AbortController | undefined;
  private readonly cwdRequire: NodeJS.Require;
  private readonly kernelRequire: NodeJS.Require;
  private readonly opts: ExecutorOptions;

  constructor(opts: ExecutorOptions) {
    this.opts = opts;
    this.cwdRequire = createRequire(join(opts.cwd, "__cell__.js"));
    this.kernelRequire = createRequire(join(opts.packageRoot, "package.json"));
    const runtime: Runtime = {
      global: globalThis,
      import: async (spec) => {
        this.opts.importing?.(true);
        try {
          return await this.importModule(spec);
        } finally {
          this.opts.importing?.(false);
        }
      },
      defaultExport: (mod) => ("default" in mod ? mod.default : mod),
      namedExport: (mod, name) => {
        if (name in mod) return mod[name];
        const d = mod.default;
        // CommonJS modules whose exports the lexer could not see: read them off module.exports.
        if (d !== null && (typeof d === "object" || typeof d === "function") && name in (d as object)) {
          return (d as Record<string, unknown>)[name];
        }
        // A type-only name imported without `import type`: it has no value, as in TypeScript.
        return undefined;
      },
      importMeta: { url: pathToFileURL(join(opts.cwd, "notebook.ts")).href, dirname: opts.cwd, filename: join(opts.cwd, "notebook.ts") },
      freeze: (names) => {
        for (const n of names) freezeGlobal(n);
      },
      atEnd: (fn) => {
        this.endHooks.push(fn);
      },
    };
    Object.defineProperty(globalThis, RUNTIME, { value: runtime, enumerable: false, configurable: true, writable: false });
    Object.defineProperty(globalThis, "require", { value: this.cwdRequire, enumerable: false, configurable: true, writable: true });
  }

  /** The AbortSignal of the running execution (aborted by an interrupt); a never-aborted one when idle. */
  get signal(): AbortSignal {
    return (this.controller ?? new AbortController()).signal;
  }

  get busy(): boolean {
    return this.controller !== undefined;
  }

  /** Cell code took the running execution's signal (see ExecutorOptions.signalWatched). */
  signalWatched(): void {
    if (this.controller) this.opts.signalWatched?.();
  }

  /** Aborts the running execution, if any. Returns whether there was one. */
  interrupt(): boolean {
    if (!this.controller) return false;
    this.controller.abort(new InterruptedError());
    return true;
  }

  /**
   * Interrupts from the I/O thread are numbered (a shared counter it increments before it sends
   * SIGINT). Each is consumed once, by whichever path sees it first: this message, the check just
   * before a cell's code starts, or the SIGINT stopping synchronous code. So an interrupt that lands
   * between a request's start and its code still stops it, and a late message never hits the next cell.
   */
  interruptNumbered(seq: number): void {
    // Every interrupt the I/O thread has received by now is acted on at once: two presses while a
    // cell holds the thread (the second one stopping it) end that cell, and the later message of
    // the pair finds itself consumed instead of interrupting the cell that runs next.
    const latest = Math.max(seq, this.opts.interruptCount?.() ?? 0);
    if (latest <= this.lastInterrupt) return;
    this.lastInterrupt = latest;
    if (latest > (this.opts.interruptSpent?.() ?? 0)) this.interrupt();
    this.opts.interruptConsumed?.(latest);
  }

  /** Highest interrupt number consumed. */
  private lastInterrupt = 0;

  private observeInterrupts(): void {
    const seq = this.opts.interruptCount?.() ?? 0;
    if (seq > this.lastInterrupt) this.interruptNumbered(seq);
  }

  /** Marks the start of a request: interrupts from now on apply to it, even before its code runs. */
  begin(): void {
    this.controller ??= new AbortController();
  }

  /** Marks the end of a request (its executions clear this themselves; this covers early exits). */
  end(): void {
    this.controller = undefined;
    // Interrupts received while this request ran were meant for it: once it is over they are spent
    // (with no execution left to abort), even if their message has not reached this thread yet, so
    // none can stop the next request.
    this.observeInterrupts();
  }

  /** Resolves a cell's import: `mixdistill`, node builtins, paths, and packages (ESM or CJS). */
  async importModule(spec: string): Promise<Record<string, unknown>> {
    if (spec === "mixdistill" || spec.startsWith("mixdistill/")) {
      // Through the package's own "exports" map, as Node resolves a package importing itself.
      const file = resolveOwnExport(spec, this.opts.packageRoot);
      if (!existsSync(file)) throw new Error(`cannot import "${spec}": ${file} does not exist (run \`npm run build\`)`);
      return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    }
    if (isBuiltin(spec)) return (await import(spec)) as Record<string, unknown>;
    if (spec.startsWith(".") || isAbsolute(spec)) {
      return (await import(pathToFileURL(resolvePath(this.opts.cwd, spec)).href)) as Record<string, unknown>;
    }
    if (/^[a-z]+:/i.test(spec)) return (await import(spec)) as Record<string, unknown>;
    for (const req of [this.cwdRequire, this.kernelRequire]) {
      let resolved: string | undefined;
      try {
        resolved = req.resolve(spec);
      } catch {
        continue;
      }
      return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
    }
    // ESM-only packages (no "require" export condition): follow their "exports" map ourselves.
    for (const from of [this.opts.cwd, this.opts.packageRoot]) {
      const file = resolvePackage(spec, from);
      if (file) return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    }
    return (await import(spec)) as Record<string, unknown>;
  }

  private filenameCounter = 0;

  /** A unique script name for a cell: `In[3]` for history cells, `<silent-N>` otherwise. */
  cellName(executionCount: number | undefined): string {
    this.filenameCounter++;
    const base = executionCount === undefined ? `<silent-${this.filenameCounter}>` : `In[${executionCount}]`;
    return this.cells.has(base) ? `${base}#${this.filenameCounter}` : base;
  }

  async execute(code: string, filename: string): Promise<ExecOutcome> {
    const controller = this.controller ?? new AbortController();
    this.controller = controller;
    try {
      let cell: TransformedCell;
      try {
        cell = await transformCell(code, filename);
      } catch (err) {
        if (err instanceof CellSyntaxError) return this.syntaxOutcome(err, filename);
        throw err;
      }
      this.cells.set(filename, { map: cell.map ? new SourceMap(cell.map as never) : undefined, prefix: cell.prefix, columns: cell.columns, lastLine: cell.script.split("\n").length });
      let script: vm.Script;
      try {
        script = new vm.Script(cell.script, {
          filename,
          importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
        });
      } catch (err) {
        return this.errorOutcome(err);
      }
      // An interrupt that came since the request started stops the cell before its code runs.
      this.observeInterrupts();
      if (controller.signal.aborted) return this.errorOutcome(new InterruptedError());
      const interrupted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener("abort", () => reject(new InterruptedError()), { once: true });
      });
      interrupted.catch(() => undefined);
      let result: unknown;
      try {
        let pending: Promise<{ value: unknown } | undefined>;
        // Outside the window in which the I/O thread signals: nothing but the cell's code runs there.
        declareGlobals(cell.declared, cell.enums);
        this.opts.runningCellCode?.(true);
        try {
          // Interrupts that came in the meantime, now that the I/O thread will signal for new ones.
          this.observeInterrupts();
          if (controller.signal.aborted) return this.errorOutcome(new InterruptedError());
          sigintWatchdogBeforeCell();
          pending = script.runInThisContext({ breakOnSigint: true, displayErrors: false }) as Promise<{ value: unknown } | undefined>;
        } finally {
          this.opts.runningCellCode?.(false);
        }
        this.opts.awaitingCell?.(true);
        try {
          result = await Promise.race([pending, interrupted]);
        } finally {
          this.opts.awaitingCell?.(false);
          const hooks = this.endHooks;
          this.endHooks = [];
          for (const h of hooks) h();
        }
      } catch (err) {
        if (isSigintError(err)) {
          this.observeInterrupts();
          return this.errorOutcome(new InterruptedError());
        }
        return this.errorOutcome(err);
      }
      if (cell.hasResult && result && typeof result === "object" && "value" in result) {
        return { status: "ok", hasValue: true, value: (result as { value: unknown }).value };
      }
      return { status: "ok", hasValue: false };
    } finally {
      if (this.controller === controller) this.controller = undefined;
    }
  }

  private syntaxOutcome(err: CellSyntaxError, filename: string): ExecOutcome {
    const traceback = [`SyntaxError: ${err.message}`, `    at ${filename}:${err.line}:${err.column + 1}`];
    if (err.lineText) traceback.push(`    ${err.lineText}`, `    ${" ".repeat(err.column)}^`);
    return { status: "error", ename: "SyntaxError", evalue: err.message, traceback, interrupted: false, notRun: true };
  }

  errorOutcome(err: unknown): ExecOutcome {
    const interrupted = err instanceof InterruptedError;
    if (err instanceof Error || (typeof err === "object" && err !== null && "message" in err)) {
      const e = err as Error;
      const ename = typeof e.name === "string" && e.name ? e.name : "Error";
      const evalue = String(e.message ?? "");
      const traceback = interrupted ? [`${ename}: ${evalue}`] : this.formatStack(e, ename, evalue);
      return { status: "error", ename, evalue, traceback, interrupted };
    }
    const evalue = typeof err === "string" ? err : safeString(err);
    return { status: "error", ename: "Uncaught", evalue, traceback: [`Uncaught ${evalue}`], interrupted };
  }

  /** The stack with cell positions mapped back to the cell's own lines, kernel frames removed. */
  formatStack(err: Error, ename: string, evalue: string): string[] {
    const stack = typeof err.stack === "string" ? err.stack : `${ename}: ${evalue}`;
    const lines = stack.split("\n");
    const out: string[] = [];
    let inFrames = false;
    for (const line of lines) {
      const isFrame = /^\s+at /.test(line);
      if (!isFrame) {
        if (!inFrames) out.push(line);
        continue;
      }
      inFrames = true;
      if (line.includes("/dist/kernel/") || line.includes("node:internal") || line.includes("node:vm")) continue;
      const mapped = this.mapFrame(line);
      if (mapped !== undefined) out.push(mapped);
    }
    if (out.length === 0) out.push(`${ename}: ${evalue}`);
    return out;
  }

  /** Rewrites `name:line:col` positions of known cells in one stack frame line; undefined drops it. */
  mapFrame(line: string): string | undefined {
    for (const [name, rec] of this.cells) {
      const m = new RegExp(`${escapeRegExp(name)}:(\\d+):(\\d+)`).exec(line);
      if (!m) continue;
      if (Number(m[1]) === rec.lastLine) return undefined;
      const pos = this.mapPosition(rec, Number(m[1]), Number(m[2]));
      return line.replace(m[0], `${name}:${pos.line}:${pos.column}`);
    }
    return line;
  }

  private mapPosition(rec: CellRecord, line: number, column: number): { line: number; column: number } {
    // Back through the rewrite's column shifts (`return { value: (`, dropped `const`, ...), then esbuild's map.
    const col0 = unshiftColumn(rec.columns, line - 1, Math.max(0, (line === 1 ? column - rec.prefix : column) - 1));
    if (!rec.map) return { line, column: col0 + 1 };
    const entry = rec.map.findEntry(line - 1, col0) as { generatedLine?: number; generatedColumn?: number; originalLine?: number; originalColumn?: number };
    if (entry && typeof entry.originalLine === "number") {
      // The nearest mapping at or before the position; within the same generated line, the distance carries over.
      const delta = entry.generatedLine === line - 1 && typeof entry.generatedColumn === "number" ? col0 - entry.generatedColumn : 0;
      return { line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + Math.max(0, delta) + 1 };
    }
    return { line, column: col0 + 1 };
  }
}

function isSigintError(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function safeString(x: unknown): string {
  try {
    return String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}
