/**
 * The main thread's side of the control worker: starts it, forwards control requests to a handler,
 * and sends replies back through it. Messages between the threads are typed here.
 */
import { Worker } from "node:worker_threads";
import type { ConnectionInfo, DecodeLimits, Message } from "./wire.js";

export type FromControl =
  | { type: "ready" }
  | { type: "bind-error"; text: string }
  | { type: "log"; text: string }
  | { type: "interrupt" }
  | { type: "request"; message: Message }
  | { type: "closed" };

export type ToControl = { type: "send"; frames: Uint8Array[] } | { type: "close" };

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
  private readonly worker: Worker;
  private closedPromise: Promise<void> | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
  }

  static start(info: ConnectionInfo, session: string, limits: DecodeLimits, handlers: ControlHandlers): Promise<ControlBridge> {
    const worker = new Worker(new URL("./control-worker.js", import.meta.url), { workerData: { info, session, limits } });
    const bridge = new ControlBridge(worker);
    return new Promise((resolve, reject) => {
      worker.on("message", (m: FromControl) => {
        switch (m.type) {
          case "ready":
            resolve(bridge);
            break;
          case "bind-error":
            reject(new Error(`cannot bind heartbeat/control: ${m.text}`));
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
        handlers.log(`control worker failed: ${err.stack ?? String(err)}`);
        reject(err);
      });
      // The worker must not keep the process alive on its own once the main thread is done.
      worker.unref();
    });
  }

  send(frames: Buffer[]): void {
    const msg: ToControl = { type: "send", frames };
    this.worker.postMessage(msg);
  }

  /** Closes the worker's sockets (closing a thread that holds open sockets aborts the process). */
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
