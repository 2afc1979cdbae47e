/**
 * The globals every cell sees: display and its helpers, clearOutput, a progress bar, prompt/input,
 * comms, and the AbortSignal of the running execution. They call an OutputSink the kernel provides.
 */
import { setTimeout, clearTimeout } from "node:timers";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { CommManager, DisplayHandle } from "../widgets/host.js";
import { type MimeBundle, type ProgressState, type ProgressStatus, html, json, markdown, png, progressBundle, svg, toMimeBundle } from "./display.js";

export interface OutputSink {
  stream(name: "stdout" | "stderr", text: string): void;
  displayData(bundle: MimeBundle, metadata: Record<string, unknown>, displayId: string | undefined, update: boolean): void;
  clearOutput(wait: boolean): void;
  /** input_request on stdin; rejects when the front end does not allow input or on interrupt. */
  input(prompt: string, password: boolean): Promise<string>;
  /** A pager payload on the execute_reply. */
  page(bundle: MimeBundle): void;
}

export interface DisplayOptions {
  id?: string;
  metadata?: Record<string, unknown>;
  /** Treat a plain object with mime-type keys as a value, not a bundle. */
  raw?: boolean;
}

export interface ProgressBar {
  readonly displayId: string;
  /** "running" until done(), fail() or an interrupt (or the cell's error) ends it. */
  readonly status: ProgressStatus;
  update(p: Partial<ProgressState> | number, message?: string): void;
  done(p?: Partial<ProgressState>): void;
  /** Ends the bar as failed, with the reason shown after "failed:". */
  fail(reason?: unknown): void;
}

/** How an execution ended, for the progress bars it left running. */
export type ExecutionEnd = { status: "ok" } | { status: "error"; ename: string; evalue: string; interrupted?: boolean };

const settlers = new Set<(end: ExecutionEnd) => void>();

/**
 * Called by the kernel when an execution has finished: bars the cell started and left running end as
 * "interrupted" (an interrupt) or "failed" (any other error), so a stopped cell never shows a bar
 * that looks as if it were still going. After a cell that succeeded, its running bars are left alone
 * (work it started may still update them).
 */
export function settleProgressBars(end: ExecutionEnd): void {
  for (const settle of settlers) settle(end);
}

function metadataOf(obj: unknown): Record<string, unknown> {
  const m = obj !== null && typeof obj === "object" ? (obj as { metadata?: unknown }).metadata : undefined;
  return m && typeof m === "object" && !Array.isArray(m) ? (m as Record<string, unknown>) : {};
}

/** Marks values (display handles, progress bars) that are not shown as a cell's result. */
export const NOT_A_RESULT = Symbol("mixdistill.notAResult");

export function isNotAResult(x: unknown): boolean {
  return x !== null && typeof x === "object" && NOT_A_RESULT in x;
}

export interface CellGlobalsDeps {
  sink: OutputSink;
  comms: CommManager;
  signal: () => AbortSignal;
  /** Cell code asked for the signal (`interruptSignal()`, `kernel.signal`): it stops by itself when interrupted. */
  signalWatched?: () => void;
  /** Whether cells are type-checked (warnings) before their reply. */
  typeCheck: { get(): boolean; set(on: boolean): void };
}

export function createCellGlobals({ sink, comms, signal, signalWatched, typeCheck }: CellGlobalsDeps): Record<string, unknown> {
  const watchedSignal = (): AbortSignal => {
    signalWatched?.();
    return signal();
  };
  const display = (obj: unknown, opts: DisplayOptions = {}): DisplayHandle => {
    const displayId = opts.id ?? randomUUID().replace(/-/g, "");
    sink.displayData(toMimeBundle(obj, { raw: opts.raw === true ? false : undefined }), { ...metadataOf(obj), ...(opts.metadata ?? {}) }, displayId, false);
    return {
      [NOT_A_RESULT]: true,
      displayId,
      update: (next: unknown) => sink.displayData(toMimeBundle(next), metadataOf(next), displayId, true),
    } as DisplayHandle;
  };
  const updateDisplay = (id: string, obj: unknown): void => {
    if (typeof id !== "string" || !id) throw new TypeError("updateDisplay(id, obj): id must be a non-empty string");
    sink.displayData(toMimeBundle(obj), metadataOf(obj), id, true);
  };
  const clearOutput = (opts: { wait?: boolean } = {}): void => sink.clearOutput(opts.wait === true);

  /** Running bars of the current execution (settled when it ends with an error). */
  const openBars = new Set<{ settle(status: ProgressStatus, reason?: string): void }>();

  /**
   * A progress bar shown once and updated in place, with elapsed and remaining time and the rate (as
   * tqdm shows them) and a visible end state. Updates are throttled to ~10 a second.
   */
  const progress = (opts: { total?: number; label?: string; unit?: string; minIntervalMs?: number } = {}): ProgressBar => {
    if (opts === null || typeof opts !== "object") throw new TypeError("progress(opts): opts must be an object such as { total: 100, label: \"train\" }");
    if (opts.total !== undefined && (typeof opts.total !== "number" || !(opts.total >= 0))) throw new TypeError(`progress({ total }): total must be a number >= 0, got ${String(opts.total)}`);
    const label = opts.label ?? "";
    const unit = opts.unit ?? "it";
    const minInterval = opts.minIntervalMs ?? 100;
    const state: ProgressState = { step: 0, totalSteps: opts.total ?? 0 };
    const started = performance.now();
    let status: ProgressStatus = "running";
    let reason: string | undefined;
    const bundle = (): MimeBundle => progressBundle(label, state, { status, elapsedSeconds: (performance.now() - started) / 1000, unit, reason });
    const handle = display({ [Symbol.for("Jupyter.display")]: bundle });
    let last = 0;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const render = (): void => {
      pending = undefined;
      last = Date.now();
      sink.displayData(bundle(), {}, handle.displayId, true);
    };
    const execSignal = signal();
    // Deferred: the interrupt is acknowledged to the I/O thread right after the abort's listeners run,
    // and drawing the bar must not hold that up (a late acknowledgement lets a stale SIGINT through).
    const onAbort = (): void => void setTimeout(() => entry.settle("interrupted"), 0);
    const entry = {
      settle(end: ProgressStatus, why?: string): void {
        if (status !== "running") return;
        status = end;
        reason = why;
        openBars.delete(entry);
        execSignal.removeEventListener("abort", onAbort);
        if (pending) clearTimeout(pending);
        render();
      },
    };
    openBars.add(entry);
    execSignal.addEventListener("abort", onAbort, { once: true });
    return {
      [NOT_A_RESULT]: true,
      displayId: handle.displayId,
      get status() {
        return status;
      },
      update(p: Partial<ProgressState> | number, message?: string) {
        if (status !== "running") return;
        if (typeof p === "number") state.step = p;
        else Object.assign(state, p);
        if (message !== undefined) state.message = message;
        const wait = minInterval - (Date.now() - last);
        if (wait <= 0) render();
        else pending ??= setTimeout(render, wait);
      },
      done(p?: Partial<ProgressState>) {
        if (status !== "running") return;
        if (p) Object.assign(state, p);
        if (state.totalSteps > 0 && state.step < state.totalSteps && !p?.step) state.step = state.totalSteps;
        entry.settle("done");
      },
      fail(why?: unknown) {
        entry.settle("failed", why === undefined ? undefined : why instanceof Error ? `${why.name}: ${why.message}` : String(why));
      },
    } as ProgressBar;
  };

  const input = (promptText = "", opts: { password?: boolean } = {}): Promise<string> => sink.input(String(promptText), opts.password === true);
  const page = (obj: unknown): void => sink.page(toMimeBundle(obj));

  const helpers = { display, updateDisplay, clearOutput, html, markdown, svg, png, json, progress, prompt: input, input, page, comms, interruptSignal: watchedSignal };
  // Every helper also lives on `kernel`, which the kernel's own code holds: a cell that declares
  // `json` or `display` shadows the global, not what `kernel.json` / `kernel.display` are.
  const kernel = {
    get signal() {
      return watchedSignal();
    },
    /** Type-check each cell and show type errors as warnings (default true; MIXDISTILL_TYPECHECK=0 turns it off). */
    get typeCheck() {
      return typeCheck.get();
    },
    set typeCheck(on: boolean) {
      typeCheck.set(on === true);
    },
  };
  for (const [name, value] of Object.entries(helpers)) {
    Object.defineProperty(kernel, name, { value, enumerable: true, writable: false, configurable: false });
  }
  const globals = { ...helpers, kernel };
  settlers.add((end) => {
    const bars = [...openBars];
    openBars.clear();
    if (end.status === "ok") return;
    for (const b of bars) b.settle(end.interrupted ? "interrupted" : "failed", end.interrupted ? undefined : `${end.ename}: ${end.evalue}`);
  });
  return globals;
}

/**
 * Adds helpers loaded later (widgets) to the `kernel` namespace object, read-only, then seals it
 * (a typo such as `kernel.typecheck = false` is then an error, not a silent new property).
 */
export function extendKernelNamespace(kernel: object, helpers: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(helpers)) {
    if (Object.prototype.hasOwnProperty.call(kernel, name)) continue;
    Object.defineProperty(kernel, name, { value, enumerable: true, writable: false, configurable: false });
  }
  Object.seal(kernel);
}

/** Puts the globals on globalThis (writable, so a cell may shadow one). */
export function installGlobals(globals: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
