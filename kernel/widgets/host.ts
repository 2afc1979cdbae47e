/**
 * What the kernel offers to kernel-side widgets (kernel/widgets/*): comms and display.
 * The kernel implements these; widgets (e.g. the mixer) only use them.
 */

export type MimeBundle = Record<string, unknown>;

export interface Comm {
  readonly id: string;
  readonly target: string;
  readonly closed: boolean;
  /** Sends a comm_msg to the front end. */
  send(data: unknown, metadata?: Record<string, unknown>, buffers?: readonly Uint8Array[]): void;
  /** Sends comm_close (once) and forgets the comm. */
  close(data?: unknown): void;
  /** Called for every comm_msg from the front end on this comm. */
  onMsg(handler: (data: unknown, buffers: readonly Uint8Array[]) => void): void;
  onClose(handler: (data: unknown) => void): void;
}

export interface CommManager {
  /** Handles comm_open from the front end for `target`. */
  registerTarget(target: string, handler: (comm: Comm, openData: unknown, buffers: readonly Uint8Array[]) => void): void;
  unregisterTarget(target: string): void;
  /** Opens a comm from the kernel side (sends comm_open to the front end). */
  open(target: string, data?: unknown, metadata?: Record<string, unknown>, buffers?: readonly Uint8Array[]): Comm;
  get(id: string): Comm | undefined;
}

export interface DisplayHandle {
  readonly displayId: string;
  update(objOrBundle: unknown): void;
}

export interface WidgetHost {
  comms: CommManager;
  /** Displays an object (rich via Symbol.for("Jupyter.display")) or a raw mime bundle. */
  display(objOrBundle: unknown, opts?: { id?: string; metadata?: Record<string, unknown> }): DisplayHandle;
  /** Shows an error from user code run by a widget (an observer, a click handler) without stopping the widget. */
  reportError?(where: string, err: unknown): void;
}

/** A module kernel/widgets/index.ts exports `installWidgets`, whose result becomes cell globals. */
export type InstallWidgets = (host: WidgetHost) => Record<string, unknown>;
