/**
 * The kernel's sockets: shell and stdin on the main thread (kernel/protocol/sockets.ts), heartbeat,
 * control and IOPub on the I/O thread (kernel/protocol/control-bridge.ts). Receive loops hand
 * frames to a sink (the protocol layer); the Outlet side sends what the protocol layer signed.
 */
import type { Buffer } from "node:buffer";
import { setTimeout } from "node:timers";
import type * as zmq from "zeromq";
import { ControlBridge } from "./protocol/control-bridge.js";
import type { Channel, Outlet } from "./protocol/dispatch.js";
import { type MainSockets, SerialSender, bindMainSockets, closeMainSockets } from "./protocol/sockets.js";
import type { ConnectionInfo, DecodeLimits, Header, Message } from "./protocol/wire.js";

export interface TransportOptions {
  info: ConnectionInfo;
  session: string;
  kernelId: string;
  limits: DecodeLimits;
  log: (line: string) => void;
  /** Whether Node's async-hook stack checks are off (see disableAsyncHookChecks). */
  asyncChecksOff?: () => boolean;
}

/** Where received traffic goes (the protocol layer). */
export interface TransportSink {
  /** Raw frames from shell or stdin (the sink verifies them). */
  receive(frames: Buffer[], channel: "shell" | "stdin"): void;
  /** A control request, verified and forwarded by the I/O thread. */
  request(msg: Message, channel: Channel): void;
  /** Interrupt number `seq` (the I/O thread answered the request and signalled). */
  interrupt(seq: number): void;
}

export class Transport implements Outlet {
  /** The I/O thread: heartbeat, control and IOPub. */
  readonly control: ControlBridge;
  /** Resolves once heartbeat, control and IOPub are bound; rejects when they cannot be. */
  readonly controlReady: Promise<void>;
  private sink: TransportSink | undefined;
  private sockets: MainSockets | undefined;
  private shellOut: SerialSender | undefined;
  private stdinOut: SerialSender | undefined;
  private closing = false;

  /**
   * Starts the I/O thread. Shell does not wait for it (start-up time): what is published before it
   * has bound IOPub is sent once it has.
   */
  constructor(private readonly opts: TransportOptions) {
    this.control = new ControlBridge(opts.info, opts.session, opts.kernelId, opts.limits, {
      onInterrupt: (seq) => this.sink?.interrupt(seq),
      onRequest: (msg) => this.sink?.request(msg, "control"),
      log: opts.log,
    }, opts.asyncChecksOff);
    this.controlReady = this.control.ready;
  }

  /** Hands all traffic to `sink` from now on, binds shell and stdin and starts their receive loops. */
  async listen(sink: TransportSink): Promise<void> {
    this.sink = sink;
    const sockets = await bindMainSockets(this.opts.info);
    this.sockets = sockets;
    const onSendError = (err: unknown): void => this.opts.log(`send failed: ${String(err)}`);
    this.shellOut = new SerialSender(sockets.shell, onSendError);
    this.stdinOut = new SerialSender(sockets.stdin, onSendError);
    void this.receive(sockets.shell, "shell", sink);
    void this.receive(sockets.stdin, "stdin", sink);
  }

  private async receive(socket: zmq.Router, channel: "shell" | "stdin", sink: TransportSink): Promise<void> {
    try {
      for await (const frames of socket) sink.receive(frames, channel);
    } catch (err) {
      if (!this.closing) this.opts.log(`${channel} receive loop stopped: ${String(err)}`);
    }
  }

  /** The I/O thread's interrupt bookkeeping, for the executor. */
  get interrupts(): { interruptCount(): number; interruptSpent(): number; interruptConsumed(seq: number): void; runningCellCode(on: boolean): void; awaitingCell(on: boolean): void; importing(on: boolean): void; signalWatched(): void } {
    const c = this.control;
    return {
      interruptCount: () => Atomics.load(c.interrupts, 0),
      interruptSpent: () => Atomics.load(c.interrupts, 5),
      interruptConsumed: (seq) => c.consumed(seq),
      runningCellCode: (on) => c.runningCellCode(on),
      awaitingCell: (on) => c.awaiting(on),
      importing: (on) => c.importing(on),
      signalWatched: () => c.signalWatched(),
    };
  }

  executing(parent: Partial<Header>): void {
    this.control.setParent(parent);
  }

  idle(on: boolean): void {
    this.control.setIdle(on);
  }

  send(channel: "shell" | "control" | "stdin", frames: Buffer[]): void {
    if (channel === "control") this.control.send(frames);
    else {
      const out = channel === "shell" ? this.shellOut : this.stdinOut;
      if (out) void out.send(frames);
      else this.opts.log(`${channel}: not bound yet; message dropped`);
    }
  }

  /** IOPub, through the I/O thread, which sends pending stream text first (so order is kept). */
  publish(frames: Buffer[]): void {
    this.control.publish(frames);
  }

  /**
   * Stream text goes to the I/O thread, which coalesces it per name and parent and sends it on its
   * next turn: output leaves even while a synchronous cell holds this thread.
   */
  stream(name: "stdout" | "stderr", text: string, parent: Partial<Header>): void {
    this.control.stream(name, text, parent);
  }

  flushStreams(): void {
    this.control.flushStreams();
  }

  /** Flushes what is queued on shell (at most a second), closes the I/O thread's sockets, then shell and stdin. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.shellOut) await Promise.race([this.shellOut.flush(), new Promise((r) => setTimeout(r, 1000))]);
    await this.control.close();
    if (this.sockets) closeMainSockets(this.sockets);
  }
}
