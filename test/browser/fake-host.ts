/** An in-memory WidgetHost for kernel-side widget tests: records what would go to the front end. */
import type { Comm, CommManager, DisplayHandle, MimeBundle, WidgetHost } from "../../kernel/widgets/host.js";

export class FakeComm implements Comm {
  readonly sent: unknown[] = [];
  /** For a comm the kernel opened: its comm_open data and metadata. */
  openData: unknown = undefined;
  openMetadata: unknown = undefined;
  closeData: unknown = undefined;
  private msgHandlers: Array<(d: unknown, buffers: readonly Uint8Array[]) => void> = [];
  private closeHandlers: Array<(d: unknown) => void> = [];
  private isClosed = false;
  constructor(readonly id: string, readonly target: string) {}
  get closed(): boolean {
    return this.isClosed;
  }
  send(data: unknown): void {
    if (this.isClosed) throw new Error("closed");
    this.sent.push(JSON.parse(JSON.stringify(data)));
  }
  close(data?: unknown): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeData = data;
    for (const h of this.closeHandlers) h(data);
  }
  onMsg(h: (d: unknown, buffers: readonly Uint8Array[]) => void): void {
    this.msgHandlers.push(h);
  }
  onClose(h: (d: unknown) => void): void {
    this.closeHandlers.push(h);
  }
  /** A comm_msg from the front end. */
  receive(data: unknown, buffers: readonly Uint8Array[] = []): void {
    for (const h of this.msgHandlers) h(data, buffers);
  }
  last(): Record<string, unknown> {
    return this.sent[this.sent.length - 1] as Record<string, unknown>;
  }
}

export class FakeHost implements WidgetHost {
  private targets = new Map<string, (comm: Comm, data: unknown, buffers: readonly Uint8Array[]) => void>();
  private n = 0;
  readonly displays: Array<{ id: string; bundles: MimeBundle[] }> = [];
  /** Comms the kernel opened (widget models), in order. */
  readonly opened: FakeComm[] = [];
  readonly errors: Array<{ where: string; err: unknown }> = [];
  reportError(where: string, err: unknown): void {
    this.errors.push({ where, err });
  }
  comms: CommManager = {
    registerTarget: (t, h) => void this.targets.set(t, h),
    unregisterTarget: (t) => void this.targets.delete(t),
    open: (t, data, metadata) => {
      const c = new FakeComm(`k${++this.n}`, t);
      c.openData = JSON.parse(JSON.stringify(data ?? null));
      c.openMetadata = metadata;
      this.opened.push(c);
      return c;
    },
    get: () => undefined,
  };
  /** comm_open from the front end. */
  openFromFrontend(target: string, data: unknown): FakeComm {
    const comm = new FakeComm(`f${++this.n}`, target);
    const h = this.targets.get(target);
    if (!h) throw new Error(`no target ${target}`);
    h(comm, data, []);
    return comm;
  }
  display(obj: unknown): DisplayHandle {
    const toBundle = (o: unknown): MimeBundle => (o as { [k: symbol]: () => MimeBundle })[Symbol.for("Jupyter.display")]!();
    const entry = { id: `d${++this.n}`, bundles: [toBundle(obj)] };
    this.displays.push(entry);
    return { displayId: entry.id, update: (o) => void entry.bundles.push(toBundle(o)) };
  }
}
