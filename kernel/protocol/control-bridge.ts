/**
 * The main thread's side of the I/O thread: starts it, forwards control requests to a handler, and
 * hands it frames to send on control and IOPub. Messages between the threads are typed here.
 */
import process from "node:process";
import { setTimeout, clearTimeout, setInterval, clearInterval } from "node:timers";
import { Buffer } from "node:buffer";
import { Worker } from "node:worker_threads";
import type { ConnectionInfo, DecodeLimits, Header, Message } from "./wire.js";

export type FromControl =
  | { type: "ready" }
  | { type: "bind-error"; text: string }
  | { type: "log"; text: string }
  | { type: "interrupt"; seq: number }
  | { type: "request"; message: Message }
  | { type: "closed" };

/** Frames travel packed: `data` holds them back to back, `lengths` says where each ends. */
export type ToControl =
  | { type: "send" | "publish"; data: Uint8Array; lengths: number[] }
  | { type: "stream"; name: "stdout" | "stderr"; text: string; parent: Partial<Header> }
  /** The execute_request whose output a notice about a stuck main thread belongs to. */
  | { type: "parent"; parent: Partial<Header> }
  | { type: "flush" }
  | { type: "close" };

/** The frames of a packed message (views into its buffer, no copy). */
export function unpackFrames(data: Uint8Array, lengths: number[]): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  for (const n of lengths) {
    frames.push(Buffer.from(data.buffer, data.byteOffset + offset, n));
    offset += n;
  }
  return frames;
}

/** How often the main thread marks its event loop as turning (shared slot [6]). */
export const LIVENESS_MS = 50;

/** Values of the shared slot [4]: not stoppable; a cell awaits code that loops; no request runs. */
export const STOPPABLE_NO = 0;
export const STOPPABLE_CELL = 1;
export const STOPPABLE_IDLE = 2;
/** A cell awaits code that watches its AbortSignal: a long step is waited for, a second interrupt stops it. */
export const STOPPABLE_CELL_WATCHING = 4;
/** A cell's import is loading: stopping its module's top-level code would leave the module unloadable. */
export const STOPPABLE_NO_IMPORTING = 3;

export interface ControlHandlers {
  /** `seq`: the interrupt's number (the shared counter's value after it). */
  onInterrupt(seq: number): void;
  onRequest(message: Message): void;
  log(text: string): void;
}

/** Re-wraps a message that crossed the thread boundary (Buffers arrive as Uint8Arrays). */
function revive(m: Message): Message {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { ...m, identities: m.identities.map(buf), buffers: m.buffers.map(buf) };
}

/**
 * Holds the main thread this long, synchronously, between the end of the last request and marking
 * the kernel idle (tests only: the next interrupt_request then reaches the I/O thread in between,
 * the order a loaded machine can produce). Default 0.
 */
const IDLE_MARK_DELAY_MS = Math.max(0, Number(process.env.MIXDISTILL_IDLE_MARK_DELAY_MS ?? 0) || 0);

/** Raises the spent-interrupt slot [5] to `seq` (both threads write it: never lowered). */
export function markSpent(interrupts: Int32Array, seq: number): void {
  for (let cur = Atomics.load(interrupts, 5); cur < seq; ) {
    const was = Atomics.compareExchange(interrupts, 5, cur, seq);
    if (was === cur) return;
    cur = was;
  }
}

export class ControlBridge {
  /** Resolves once heartbeat, control and IOPub are bound; rejects when they cannot be. */
  readonly ready: Promise<void>;
  /**
   * Interrupt bookkeeping shared by the threads: [0] how many the I/O thread has received (it counts
   * before anything else), [1] the highest one the main thread has acted on, [2] 1 while the main
   * thread runs cell code under `breakOnSigint`, [3] when that started (ms, mod 2^31). SIGINT is only
   * sent while [2] is 1 and not in the first milliseconds (a signal that lands while Node starts its
   * SIGINT watchdog can hang the process), and again now and then until [1] catches up, so a signal
   * that landed just before the watchdog started is not lost. [4] whether code that holds the main
   * thread outside `breakOnSigint` (a loop after an `await`, in a timer) may be stopped by terminating
   * it through the inspector (`STOPPABLE_*`); the I/O thread acts on it when an interrupt stays
   * unconsumed. [5] the last interrupt the I/O thread carried out itself by stopping a timer's loop
   * while no request ran: the main thread marks it consumed and does not apply it to a cell that
   * starts next. [6] a counter the main thread advances every LIVENESS_MS while its event loop turns:
   * the I/O thread terminates nothing while it moves (a slow or starved thread is not a stuck one).
   * [7] 1 while shell requests are queued or handled (set as the first one arrives, before any of its
   * code runs): an interrupt the I/O thread receives while it is 0 is older than every request still
   * to come, so the I/O thread marks it spent in [5] at once and no cell that starts later takes it,
   * whichever of the interrupt's message and the next execute_request the main thread sees first.
   * Setting [7] to 0, the main thread marks spent every interrupt counted by then ([5] only rises).
   */
  readonly interrupts = new Int32Array(new SharedArrayBuffer(32));
  private readonly liveness: ReturnType<typeof setInterval>;

  private awaitingCell = false;
  private idle = true;
  private imports = 0;
  private watched = false;

  private updateStoppable(): void {
    const state = this.imports > 0 ? STOPPABLE_NO_IMPORTING : !this.asyncChecksOff() ? STOPPABLE_NO : this.awaitingCell ? (this.watched ? STOPPABLE_CELL_WATCHING : STOPPABLE_CELL) : this.idle ? STOPPABLE_IDLE : STOPPABLE_NO;
    Atomics.store(this.interrupts, 4, state);
  }

  /** The executor awaits a cell's promise (the only kernel work pending is that wait, which an interrupt ends). */
  awaiting(on: boolean): void {
    this.awaitingCell = on;
    if (!on) this.watched = false;
    this.updateStoppable();
  }

  /** The running cell's code took its AbortSignal (until the executor stops awaiting the cell). */
  signalWatched(): void {
    if (this.watched) return;
    this.watched = true;
    this.updateStoppable();
  }

  /** A cell's import starts (true) or has settled (false). */
  importing(on: boolean): void {
    this.imports = Math.max(0, this.imports + (on ? 1 : -1));
    this.updateStoppable();
  }

  /**
   * No request is being handled (what still runs is timers and callbacks of earlier cells). Going
   * idle, every interrupt received so far is spent: the last request's reply has gone out, so one
   * that came after it (while [7] still said busy) was not meant for a cell still to come.
   */
  setIdle(on: boolean): void {
    this.idle = on;
    if (on && IDLE_MARK_DELAY_MS > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, IDLE_MARK_DELAY_MS);
    Atomics.store(this.interrupts, 7, on ? 0 : 1);
    // After [7] is 0: an interrupt counted later is seen idle by the I/O thread, which marks it itself.
    if (on) markSpent(this.interrupts, Atomics.load(this.interrupts, 0));
    this.updateStoppable();
  }

  /** The running (or last) execute_request: a notice about a loop that cannot be stopped goes to its output. */
  setParent(parent: Partial<Header>): void {
    const msg: ToControl = { type: "parent", parent };
    this.worker.postMessage(msg);
  }

  /** The main thread is (not) running cell code under `breakOnSigint`. */
  runningCellCode(on: boolean): void {
    if (on) Atomics.store(this.interrupts, 3, Date.now() % 2 ** 31);
    Atomics.store(this.interrupts, 2, on ? 1 : 0);
  }

  /** The main thread has acted on interrupt `seq`. */
  consumed(seq: number): void {
    if (seq > Atomics.load(this.interrupts, 1)) Atomics.store(this.interrupts, 1, seq);
  }
  private readonly worker: Worker;
  private closedPromise: Promise<void> | undefined;

  /**
   * Starts the thread. Frames handed over before it is bound are sent once it is. `asyncChecksOff`:
   * whether Node's async-hook stack checks are off on this thread (terminating a timer callback
   * with them on aborts the process), see `disableAsyncHookChecks`.
   */
  constructor(info: ConnectionInfo, session: string, kernelId: string, limits: DecodeLimits, handlers: ControlHandlers, private readonly asyncChecksOff: () => boolean = () => false) {
    const worker = new Worker(new URL("./control-worker.js", import.meta.url), { workerData: { info, session, kernelId, limits, interrupts: this.interrupts, launcher: process.ppid } });
    this.worker = worker;
    this.liveness = setInterval(() => Atomics.add(this.interrupts, 6, 1), LIVENESS_MS);
    this.liveness.unref();
    this.ready = new Promise((resolve, reject) => {
      worker.on("message", (m: FromControl) => {
        switch (m.type) {
          case "ready":
            resolve();
            break;
          case "bind-error":
            reject(new Error(`cannot bind heartbeat/control/iopub: ${m.text}`));
            break;
          case "log":
            handlers.log(m.text);
            break;
          case "interrupt":
            handlers.onInterrupt(m.seq);
            break;
          case "request":
            handlers.onRequest(revive(m.message));
            break;
          case "closed":
            break;
        }
      });
      worker.on("error", (err) => {
        handlers.log(`I/O thread failed: ${err.stack ?? String(err)}`);
        reject(err);
      });
    });
    // The worker must not keep the process alive on its own once the main thread is done.
    worker.unref();
    this.updateStoppable();
  }

  /** A reply on the control channel. */
  send(frames: Buffer[]): void {
    this.post("send", frames);
  }

  /** A message on IOPub; it leaves even while the main thread is busy in a synchronous cell. */
  publish(frames: Buffer[]): void {
    this.post("publish", frames);
  }

  /** Text for a stream message; the I/O thread coalesces consecutive writes to the same stream and parent. */
  stream(name: "stdout" | "stderr", text: string, parent: Partial<Header>): void {
    const msg: ToControl = { type: "stream", name, text, parent };
    this.worker.postMessage(msg);
  }

  /** Sends pending stream text now. */
  flushStreams(): void {
    const msg: ToControl = { type: "flush" };
    this.worker.postMessage(msg);
  }

  /**
   * Small Buffers are views into Node's shared 8 KiB pool, and cloning a view clones its whole
   * ArrayBuffer: the frames are packed into one buffer of their own, which is transferred, not copied.
   */
  private post(type: "send" | "publish", frames: Buffer[]): void {
    let total = 0;
    for (const f of frames) total += f.length;
    const data = new Uint8Array(total);
    const lengths: number[] = [];
    let offset = 0;
    for (const f of frames) {
      data.set(f, offset);
      offset += f.length;
      lengths.push(f.length);
    }
    const msg: ToControl = { type, data, lengths };
    this.worker.postMessage(msg, [data.buffer]);
  }

  /** Sends what is queued, then closes the thread's sockets (a thread closed with open sockets aborts the process). */
  close(): Promise<void> {
    clearInterval(this.liveness);
    this.closedPromise ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.worker.on("message", (m: FromControl) => {
        if (m.type === "closed") {
          clearTimeout(timer);
          resolve();
        }
      });
      const msg: ToControl = { type: "close" };
      this.worker.postMessage(msg);
    });
    return this.closedPromise;
  }
}

/**
 * Turns off Node's async-hook stack check on this thread (as `--no-force-async-hooks-checks` does)
 * and returns a function telling whether it is still off. With the check on, stopping a timer or
 * immediate callback by terminating it leaves an entry on the async-id stack and Node aborts the
 * process ("async hook stack has become corrupted"); with it off the kernel carries on. It comes
 * back on while an async hook is enabled (`async_hooks.createHook(...).enable()`, AsyncLocalStorage),
 * and then such a loop cannot be stopped. Undefined fields (another runtime) count as "on".
 */
export function disableAsyncHookChecks(): () => boolean {
  let fields: Uint32Array | undefined;
  let kCheck = -1;
  const quiet = process.noDeprecation;
  try {
    // process.binding is deprecated (DEP0111) but the only way to these fields without a flag.
    process.noDeprecation = true;
    const binding = (process as unknown as { binding(name: string): { async_hook_fields?: Uint32Array; constants?: { kCheck?: number } } }).binding("async_wrap");
    if (binding.async_hook_fields instanceof Uint32Array && typeof binding.constants?.kCheck === "number") {
      fields = binding.async_hook_fields;
      kCheck = binding.constants.kCheck;
      fields[kCheck] = 0;
    }
  } catch {
    fields = undefined;
  } finally {
    process.noDeprecation = quiet;
  }
  return () => fields !== undefined && fields[kCheck] === 0;
}
