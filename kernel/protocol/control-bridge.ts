/**
 * The main thread's side of the I/O thread: starts it, forwards control requests to a handler, and
 * hands it frames to send on control and IOPub. Messages between the threads are typed here.
 */
import { Worker } from "node:worker_threads";
import type { ConnectionInfo, DecodeLimits, Header, Message } from "./wire.js";

export type FromControl =
  | { type: "ready" }
  | { type: "bind-error"; text: string }
  | { type: "log"; text: string }
  | { type: "interrupt" }
  | { type: "request"; message: Message }
  | { type: "closed" };

/** Frames travel packed: `data` holds them back to back, `lengths` says where each ends. */
export type ToControl =
  | { type: "send" | "publish"; data: Uint8Array; lengths: number[] }
  | { type: "stream"; name: "stdout" | "stderr"; text: string; parent: Partial<Header> }
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

export interface ControlHandlers {
  onInterrupt(): void;
  onRequest(message: Message): void;
  log(text: string): void;
}

/** Re-wraps a message that crossed the thread boundary (Buffers arrive as Uint8Arrays). */
function revive(m: Message): Message {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { ...m, identities: m.identities.map(buf), buffers: m.buffers.map(buf) };
}

export class ControlBridge {
  /** Resolves once heartbeat, control and IOPub are bound; rejects when they cannot be. */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private closedPromise: Promise<void> | undefined;

  /** Starts the thread. Frames handed over before it is bound are sent once it is. */
  constructor(info: ConnectionInfo, session: string, kernelId: string, limits: DecodeLimits, handlers: ControlHandlers) {
    const worker = new Worker(new URL("./control-worker.js", import.meta.url), { workerData: { info, session, kernelId, limits } });
    this.worker = worker;
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
            handlers.onInterrupt();
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
