/**
 * The front end's side of one mixer's comm. The renderer opens a comm to MIXER_COMM_TARGET with
 * open data `{comm_id}` naming the kernel-side mixer (the id the mime bundle carries); the kernel
 * attaches it to that mixer and answers with its state. Every kernel message is validated.
 *
 * Slider moves are coalesced: at most one update is in flight, and while it is, only the latest
 * wish is kept, so the kernel never falls behind the mouse.
 */
import type { Kernel, KernelMessage } from "@jupyterlab/services";
import {
  MIXER_COMM_TARGET,
  parseMixerKernelMessage,
  type MixerClientMessage,
  type MixerState,
  type MixStrategyName,
} from "../../src/contract/index";

export interface MixerUpdate {
  weights?: number[];
  strategy?: MixStrategyName;
  seed?: number;
}

export interface ChannelEvents {
  /** A state from the kernel; `settled` is false while newer local changes are still to be sent. */
  state(state: MixerState, settled: boolean): void;
  /** An error reply from the kernel, or a message from it that failed validation. */
  error(message: string): void;
  /** The comm closed (kernel restarted, mixer unknown to the kernel, or disposed). */
  closed(reason: string): void;
}

let counter = 0;

export class MixerChannel {
  private comm: Kernel.IComm | null = null;
  private inFlight: string | null = null;
  private queued: MixerUpdate | null = null;
  private disposed = false;
  /** The kernel's last error message: the reason shown when it then closes the comm. */
  private lastError: string | undefined;

  constructor(
    private readonly kernel: Kernel.IKernelConnection,
    readonly mixerId: string,
    private readonly events: ChannelEvents,
  ) {}

  get isOpen(): boolean {
    return this.comm !== null && !this.comm.isDisposed;
  }

  /** True while an update is unanswered or queued. */
  get busy(): boolean {
    return this.inFlight !== null || this.queued !== null;
  }

  open(): void {
    if (this.disposed || this.comm) return;
    const comm = this.kernel.createComm(MIXER_COMM_TARGET);
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => this.onMessage(msg.content.data);
    comm.onClose = (msg: KernelMessage.ICommCloseMsg) => {
      const data = msg.content.data as { message?: unknown } | undefined;
      this.comm = null;
      this.inFlight = null;
      this.queued = null;
      const reason = typeof data?.message === "string" ? data.message : this.lastError ?? "the kernel no longer has this mixer: re-run its cell to move the sliders again";
      this.events.closed(reason);
    };
    this.comm = comm;
    comm.open({ comm_id: this.mixerId });
  }

  /** Asks for a change; merged with any change not yet sent. */
  update(change: MixerUpdate): void {
    this.queued = { ...(this.queued ?? {}), ...change };
    this.flush();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const comm = this.comm;
    this.comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel may already be gone; nothing to tell it.
      }
    }
  }

  private flush(): void {
    if (this.inFlight !== null || this.queued === null || !this.comm || this.comm.isDisposed) return;
    const request_id = `u${++counter}`;
    const msg: MixerClientMessage = { type: "update", request_id, ...this.queued };
    this.queued = null;
    this.inFlight = request_id;
    this.comm.send(msg as unknown as KernelMessage.ICommMsgMsg["content"]["data"]);
  }

  private onMessage(data: unknown): void {
    const parsed = parseMixerKernelMessage(data);
    if (!parsed.ok) {
      this.events.error(`invalid message from the kernel: ${parsed.error}`);
      return;
    }
    const msg = parsed.value;
    if (msg.request_id !== undefined && msg.request_id === this.inFlight) {
      this.inFlight = null;
      this.flush();
    }
    if (msg.type === "error") {
      this.lastError = msg.message;
      this.events.error(msg.message);
    }
    else this.events.state(msg.state, !this.busy);
  }
}
