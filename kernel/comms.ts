/**
 * The comm registry: targets the library and widgets register, comms opened from either side.
 * Implements the CommManager of kernel/widgets/host.ts. Handler exceptions are reported through
 * `onHandlerError` and never escape into the kernel.
 */
import { randomUUID } from "node:crypto";
import type { Comm, CommManager } from "./widgets/host.js";

export interface CommTransport {
  /** Publishes a comm_open / comm_msg / comm_close on IOPub. */
  publish(
    msgType: "comm_open" | "comm_msg" | "comm_close",
    content: Record<string, unknown>,
    metadata?: Record<string, unknown>,
    buffers?: readonly Uint8Array[],
  ): void;
}

type Handler = (data: unknown, buffers: readonly Uint8Array[]) => void;

class KernelComm implements Comm {
  private msgHandlers: Handler[] = [];
  private closeHandlers: Handler[] = [];
  private isClosed = false;

  constructor(
    readonly id: string,
    readonly target: string,
    private readonly manager: Comms,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  send(data: unknown, metadata: Record<string, unknown> = {}, buffers: readonly Uint8Array[] = []): void {
    if (this.isClosed) throw new Error(`comm ${this.id} (${this.target}) is closed`);
    this.manager.transport.publish("comm_msg", { comm_id: this.id, data: data ?? {} }, metadata, buffers);
  }

  close(data: unknown = {}): void {
    if (this.isClosed) return;
    this.manager.transport.publish("comm_close", { comm_id: this.id, data: data ?? {} });
    this.closedByPeer(data, false);
  }

  onMsg(handler: Handler): void {
    this.msgHandlers.push(handler);
  }

  onClose(handler: Handler): void {
    this.closeHandlers.push(handler);
  }

  /** A comm_msg from the front end. */
  deliver(data: unknown, buffers: readonly Uint8Array[] = []): void {
    for (const h of this.msgHandlers) this.manager.guard(`comm ${this.target} message handler`, () => h(data, buffers));
  }

  closedByPeer(data: unknown, notify = true): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.manager.forget(this.id);
    if (notify || this.closeHandlers.length) {
      for (const h of this.closeHandlers) this.manager.guard(`comm ${this.target} close handler`, () => h(data, []));
    }
  }
}

export class Comms implements CommManager {
  private readonly targets = new Map<string, (comm: Comm, openData: unknown, buffers: readonly Uint8Array[]) => void>();
  private readonly comms = new Map<string, KernelComm>();

  constructor(
    readonly transport: CommTransport,
    private readonly onHandlerError: (where: string, err: unknown) => void,
  ) {}

  registerTarget(target: string, handler: (comm: Comm, openData: unknown, buffers: readonly Uint8Array[]) => void): void {
    if (typeof target !== "string" || !target) throw new TypeError("registerTarget: target must be a non-empty string");
    if (typeof handler !== "function") throw new TypeError("registerTarget: handler must be a function");
    this.targets.set(target, handler);
  }

  unregisterTarget(target: string): void {
    this.targets.delete(target);
  }

  open(target: string, data: unknown = {}, metadata: Record<string, unknown> = {}, buffers: readonly Uint8Array[] = []): Comm {
    const comm = new KernelComm(randomUUID().replace(/-/g, ""), target, this);
    this.comms.set(comm.id, comm);
    this.transport.publish("comm_open", { comm_id: comm.id, target_name: target, data: data ?? {} }, metadata, buffers);
    return comm;
  }

  get(id: string): Comm | undefined {
    return this.comms.get(id);
  }

  /** Open comms, optionally of one target: what comm_info_reply lists. */
  list(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const c of this.comms.values()) {
      if (targetName === undefined || c.target === targetName) out[c.id] = { target_name: c.target };
    }
    return out;
  }

  /**
   * comm_open from the front end. Returns false when the target is unknown (the caller closes it);
   * throws when a comm with that id is open (the live comm is kept, not silently replaced).
   */
  handleOpen(commId: string, target: string, data: unknown, buffers: readonly Uint8Array[] = []): boolean {
    const live = this.comms.get(commId);
    if (live) throw new Error(`comm_open: comm ${commId} is already open (target ${JSON.stringify(live.target)}); the open is refused`);
    const handler = this.targets.get(target);
    if (!handler) return false;
    const comm = new KernelComm(commId, target, this);
    this.comms.set(commId, comm);
    this.guard(`comm target ${target} open handler`, () => handler(comm, data, buffers));
    return true;
  }

  handleMsg(commId: string, data: unknown, buffers: readonly Uint8Array[] = []): boolean {
    const comm = this.comms.get(commId);
    if (!comm) return false;
    comm.deliver(data, buffers);
    return true;
  }

  handleClose(commId: string, data: unknown): boolean {
    const comm = this.comms.get(commId);
    if (!comm) return false;
    comm.closedByPeer(data);
    return true;
  }

  forget(id: string): void {
    this.comms.delete(id);
  }

  /** Runs a handler; exceptions (and rejected promises it returns) are reported, not thrown. */
  guard(where: string, fn: () => unknown): void {
    try {
      const r = fn();
      if (r && typeof (r as Promise<unknown>).then === "function") {
        (r as Promise<unknown>).then(undefined, (err: unknown) => this.onHandlerError(where, err));
      }
    } catch (err) {
      this.onHandlerError(where, err);
    }
  }
}
