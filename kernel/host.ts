/**
 * What cells see of the process they run in: process.stdout/stderr writes and console.* go to the
 * notebook while a request is the parent; uncaught errors from timers and callbacks go to the last
 * cell's stderr; the cell globals (display, input, progress, ... and the `kernel` namespace) call
 * this host; `input()` becomes an input_request on stdin; the widget globals are loaded lazily.
 */
import process from "node:process";
import { Buffer } from "node:buffer";
import { Console } from "node:console";
import type { Comms } from "./comms.js";
import { type OutputSink, createCellGlobals, extendKernelNamespace, installGlobals } from "./execute/globals.js";
import type { JsonObject, Message } from "./protocol/wire.js";
import type { WidgetHost } from "./widgets/host.js";

/** What the host needs of the protocol layer (kernel/protocol/dispatch.ts's Protocol). */
export interface HostProtocol {
  readonly parent: Message | undefined;
  readonly allowStdin: boolean;
  publish(msgType: string, content: JsonObject, parent: Message | undefined, metadata?: JsonObject, buffers?: readonly Uint8Array[]): void;
  /** False when no request is the parent. */
  stream(name: "stdout" | "stderr", text: string): boolean;
  addPayload(p: JsonObject): void;
  sendInputRequest(prompt: string, password: boolean): string;
}

/** What the host needs of the interpreter. */
export interface HostInterpreter {
  /** The running execution's AbortSignal. */
  readonly signal: AbortSignal;
  /** Cell code took the signal (`interruptSignal()`, `kernel.signal`): it watches for interrupts. */
  signalWatched?(): void;
  /** Whether an execution is in progress. */
  readonly busy: boolean;
  typeCheck: boolean;
  describeError(err: unknown): string;
}

export interface HostOptions {
  protocol: HostProtocol;
  interpreter: HostInterpreter;
  comms: Comms;
  /** The kernel's own log (its stderr, not a notebook). */
  log: (line: string) => void;
}

export class KernelHost {
  private readonly realStdoutWrite = process.stdout.write.bind(process.stdout);
  private readonly realStderrWrite = process.stderr.write.bind(process.stderr);
  private pendingInput: { msgId: string; resolve: (v: string) => void } | undefined;
  private widgets: Promise<readonly string[]> | undefined;
  /** The helpers as created: the kernel's own references (cells may shadow the globals). */
  private readonly globals: Record<string, unknown>;

  constructor(private readonly opts: HostOptions) {
    const { protocol, interpreter } = opts;
    const sink: OutputSink = {
      stream: (name, text) => this.stream(name, text),
      displayData: (bundle, metadata, displayId, update) => {
        protocol.publish(update ? "update_display_data" : "display_data", { data: bundle, metadata, transient: displayId ? { display_id: displayId } : {} }, protocol.parent);
      },
      clearOutput: (wait) => protocol.publish("clear_output", { wait }, protocol.parent),
      input: (prompt, password) => this.input(prompt, password),
      page: (bundle) => protocol.addPayload({ source: "page", data: bundle, start: 0 }),
    };
    this.globals = createCellGlobals({
      sink,
      comms: opts.comms,
      signal: () => interpreter.signal,
      signalWatched: () => interpreter.signalWatched?.(),
      typeCheck: { get: () => interpreter.typeCheck, set: (on) => (interpreter.typeCheck = on) },
    });
  }

  /** Hooks process output, console and uncaught errors, and installs the cell globals. */
  install(): void {
    const hook = (name: "stdout" | "stderr") =>
      ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
        const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
        this.stream(name, text);
        const done = typeof encoding === "function" ? encoding : cb;
        if (typeof done === "function") process.nextTick(done as () => void);
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = hook("stdout");
    process.stderr.write = hook("stderr");
    const cellConsole = new Console({ stdout: process.stdout, stderr: process.stderr, colorMode: false });
    Object.defineProperty(globalThis, "console", { value: cellConsole, writable: true, configurable: true, enumerable: false });
    process.on("uncaughtException", (err) => this.reportBackgroundError("Uncaught exception", err));
    process.on("unhandledRejection", (reason) => this.reportBackgroundError("Unhandled promise rejection", reason));
    installGlobals(this.globals);
  }

  /** Stream text goes to the request outputs belong to; with none, to the kernel's own stdout/stderr. */
  stream(name: "stdout" | "stderr", text: string): void {
    if (!this.opts.protocol.stream(name, text)) (name === "stdout" ? this.realStdoutWrite : this.realStderrWrite)(text);
  }

  /** Errors outside a cell's own flow (timers, comm handlers, rejections) go to stderr of the last cell. */
  reportBackgroundError(what: string, err: unknown): void {
    const text = this.opts.interpreter.describeError(err);
    if (this.opts.protocol.parent) this.stream("stderr", `${what}: ${text}\n`);
    else this.opts.log(`${what}: ${text}`);
  }

  /** A line from the front end: an input_request on stdin, answered by onInputReply; an interrupt rejects it. */
  input(prompt: string, password: boolean): Promise<string> {
    const { protocol, interpreter } = this.opts;
    if (!protocol.parent || !protocol.allowStdin || !interpreter.busy) {
      return Promise.reject(new Error("input is not available: the front end does not accept input requests for this execution (allow_stdin is false)"));
    }
    if (this.pendingInput) return Promise.reject(new Error("input: another input request is already pending"));
    const signal = interpreter.signal;
    if (signal.aborted) return Promise.reject(new Error("input interrupted"));
    return new Promise<string>((resolve, reject) => {
      let msgId = "";
      const onAbort = (): void => {
        if (this.pendingInput?.msgId === msgId) this.pendingInput = undefined;
        reject(new Error("input interrupted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      msgId = protocol.sendInputRequest(prompt, password);
      this.pendingInput = {
        msgId,
        resolve: (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
      };
    });
  }

  /** An input_reply from stdin: answers the pending input request it names. */
  onInputReply(msg: Message): void {
    const p = this.pendingInput;
    if (!p) {
      this.opts.log("stdin: input_reply without a pending input request");
      return;
    }
    if (msg.parent_header.msg_id !== undefined && msg.parent_header.msg_id !== p.msgId) {
      this.opts.log("stdin: input_reply for another request");
      return;
    }
    this.pendingInput = undefined;
    const v = msg.content.value;
    p.resolve(typeof v === "string" ? v : String(v ?? ""));
  }

  /**
   * The widget globals (`mixer`, `widgets`), loaded on first use: kernel/widgets pulls in the
   * mixing code, which kernel start-up does not wait for. Resolves to the names it installed.
   */
  loadWidgets(): Promise<readonly string[]> {
    this.widgets ??= (async () => {
      try {
        const { installWidgets } = await import("./widgets/index.js");
        const host: WidgetHost = {
          comms: this.opts.comms,
          display: this.globals.display as WidgetHost["display"],
          reportError: (where, err) => this.reportBackgroundError(`Error in ${where}`, err),
        };
        const globals = installWidgets(host);
        installGlobals(globals);
        extendKernelNamespace(this.globals.kernel as object, globals);
        return Object.keys(globals);
      } catch (err) {
        this.opts.log(`widgets not loaded: ${(err as Error).stack ?? String(err)}`);
        return [];
      }
    })();
    return this.widgets;
  }
}
