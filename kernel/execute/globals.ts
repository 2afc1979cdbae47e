/**
 * The globals every cell sees: display and its helpers, clearOutput, a progress bar, prompt/input,
 * comms, and the AbortSignal of the running execution. They call an OutputSink the kernel provides.
 */
import { setTimeout, clearTimeout } from "node:timers";
import { randomUUID } from "node:crypto";
import type { CommManager, DisplayHandle } from "../widgets/host.js";
import { type MimeBundle, type ProgressState, html, json, markdown, png, progressBundle, svg, toMimeBundle } from "./display.js";

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
  update(p: Partial<ProgressState> | number, message?: string): void;
  done(p?: Partial<ProgressState>): void;
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
  /** Whether cells are type-checked (warnings) before their reply. */
  typeCheck: { get(): boolean; set(on: boolean): void };
}

export function createCellGlobals({ sink, comms, signal, typeCheck }: CellGlobalsDeps): Record<string, unknown> {
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

  /** A progress bar shown once and updated in place; updates are throttled to ~10 a second. */
  const progress = (opts: { total?: number; label?: string; minIntervalMs?: number } = {}): ProgressBar => {
    const label = opts.label ?? "";
    const minInterval = opts.minIntervalMs ?? 100;
    const state: ProgressState = { step: 0, totalSteps: opts.total ?? 0 };
    const handle = display({ [Symbol.for("Jupyter.display")]: () => progressBundle(label, state, false) });
    let last = 0;
    let finished = false;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const render = (): void => {
      pending = undefined;
      last = Date.now();
      sink.displayData(progressBundle(label, state, finished), {}, handle.displayId, true);
    };
    return {
      [NOT_A_RESULT]: true,
      displayId: handle.displayId,
      update(p: Partial<ProgressState> | number, message?: string) {
        if (finished) return;
        if (typeof p === "number") state.step = p;
        else Object.assign(state, p);
        if (message !== undefined) state.message = message;
        const wait = minInterval - (Date.now() - last);
        if (wait <= 0) render();
        else pending ??= setTimeout(render, wait);
      },
      done(p?: Partial<ProgressState>) {
        if (p) Object.assign(state, p);
        if (state.totalSteps > 0 && state.step < state.totalSteps && !p?.step) state.step = state.totalSteps;
        finished = true;
        if (pending) clearTimeout(pending);
        render();
      },
    } as ProgressBar;
  };

  const input = (promptText = "", opts: { password?: boolean } = {}): Promise<string> => sink.input(String(promptText), opts.password === true);
  const page = (obj: unknown): void => sink.page(toMimeBundle(obj));

  const helpers = { display, updateDisplay, clearOutput, html, markdown, svg, png, json, progress, prompt: input, input, page, comms, interruptSignal: signal };
  // Every helper also lives on `kernel`, which the kernel's own code holds: a cell that declares
  // `json` or `display` shadows the global, not what `kernel.json` / `kernel.display` are.
  const kernel = {
    get signal() {
      return signal();
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
  return { ...helpers, kernel };
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
