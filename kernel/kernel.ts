/**
 * The protocol layer: a dispatch table from message type to handler, the ordering every request
 * gets (busy, execute_input, outputs, reply, idle, all with the request as parent), IOPub publishing
 * with coalesced streams, stdin input requests, and the glue to the executor, comms and history.
 */
import process from "node:process";
import { setTimeout, setInterval, setImmediate, clearInterval } from "node:timers";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Console } from "node:console";
import type * as zmq from "zeromq";
import { Comms } from "./comms.js";
import { isComplete } from "./execute/completeness.js";
import { toMimeBundle } from "./execute/display.js";
import { Executor, type ExecOutcome } from "./execute/executor.js";
import { warmUp as warmUpTransform } from "./execute/transform.js";
import { type OutputSink, createCellGlobals, extendKernelNamespace, installGlobals, isNotAResult } from "./execute/globals.js";
import { History, type HistoryQuery } from "./history.js";
import { IntelClient } from "./intel/client.js";
import { ControlBridge } from "./protocol/control-bridge.js";
import { type MainSockets, SerialSender, bindMainSockets, closeMainSockets } from "./protocol/sockets.js";
import { type ConnectionInfo, DEFAULT_LIMITS, type DecodeLimits, type Header, type JsonObject, type Message, PROTOCOL_VERSION, DigestHistory, Signer, decode, encode, newHeader } from "./protocol/wire.js";
import type { InstallWidgets, WidgetHost } from "./widgets/host.js";

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function packageVersion(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(pkg, "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

export interface KernelOptions {
  info: ConnectionInfo;
  /** Where cells resolve relative paths and packages (the notebook's directory). */
  cwd: string;
  /** Writes a log line to the kernel's own stderr (not to a notebook). */
  log?: (line: string) => void;
  /** Run the TypeScript language service (completion, inspection, diagnostics). Default true. */
  languageService?: boolean;
  /** Type-check cells and report type errors as warnings (default true). */
  typeCheck?: boolean;
  /** Largest JSON frame accepted (bytes); larger messages are dropped. */
  maxJsonBytes?: number;
}

type Channel = "shell" | "control";
type Handler = (msg: Message, channel: Channel) => Promise<void> | void;

class BadRequest extends Error {}

/** What the control channel serves; everything else belongs on shell. */
const CONTROL_TYPES = new Set(["kernel_info_request", "shutdown_request", "connect_request", "comm_info_request"]);

const bool = (c: JsonObject, k: string, d: boolean): boolean => {
  const v = c[k];
  if (v === undefined || v === null) return d;
  if (typeof v !== "boolean") throw new BadRequest(`content.${k} must be a boolean`);
  return v;
};
const str = (c: JsonObject, k: string, d?: string): string => {
  const v = c[k];
  if (v === undefined && d !== undefined) return d;
  if (typeof v !== "string") throw new BadRequest(`content.${k} must be a string`);
  return v;
};
const int = (c: JsonObject, k: string, d?: number): number | undefined => {
  const v = c[k];
  if (v === undefined || v === null) return d;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new BadRequest(`content.${k} must be a number`);
  return Math.trunc(v);
};

/** Code-point offset (what Jupyter sends) to a UTF-16 index, and back. */
export function codePointsToIndex(s: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) i += (s.codePointAt(i)! > 0xffff ? 2 : 1);
  return i;
}
export function indexToCodePoints(s: string, index: number): number {
  return [...s.slice(0, index)].length;
}

export class Kernel {
  readonly session = randomUUID();
  readonly kernelId: string;
  private readonly signer: Signer;
  /** Signatures already accepted on shell and stdin: a replayed message is dropped. */
  private readonly digests = new DigestHistory();
  private readonly limits: DecodeLimits;
  private readonly log: (line: string) => void;
  private sockets!: MainSockets;
  private shellOut!: SerialSender;
  private stdinOut!: SerialSender;
  /** The I/O thread: heartbeat, control and IOPub. */
  private control!: ControlBridge;
  readonly executor: Executor;
  readonly comms: Comms;
  readonly history = new History();
  private readonly intel: IntelClient | undefined;
  private executionCount = 0;
  private typeCheck: boolean;
  private readonly queue: Array<{ msg: Message; channel: Channel }> = [];
  private processing = false;
  /** The request outputs belong to: the running execute, or the last one (timers, callbacks). */
  private outputParent: Message | undefined;
  private allowStdin = false;
  private payload: JsonObject[] = [];
  private pendingInput: { msgId: string; resolve: (v: string) => void; reject: (e: Error) => void } | undefined;
  private widgetsReady: Promise<void> | undefined;
  private shuttingDown = false;
  /** zeromq's pending receives do not hold the event loop open; this does, until shutdown. */
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private readonly handlers: Record<string, Handler>;
  private readonly realStdoutWrite = process.stdout.write.bind(process.stdout);
  private readonly realStderrWrite = process.stderr.write.bind(process.stderr);
  private readonly version = packageVersion(join(PACKAGE_ROOT, "package.json"));

  private constructor(private readonly opts: KernelOptions) {
    this.signer = new Signer(opts.info.key, opts.info.signature_scheme);
    this.limits = { maxJsonBytes: opts.maxJsonBytes ?? DEFAULT_LIMITS.maxJsonBytes };
    this.kernelId = opts.info.kernel_name ?? "mixdistill";
    this.log = opts.log ?? ((line) => this.realStderrWrite(`[mixdistill] ${line}\n`));
    this.executor = new Executor({
      cwd: opts.cwd,
      packageRoot: PACKAGE_ROOT,
      interruptCount: () => Atomics.load(this.control.interrupts, 0),
      interruptConsumed: (seq) => this.control.consumed(seq),
      runningCellCode: (on) => this.control.runningCellCode(on),
    });
    this.comms = new Comms(
      { publish: (type, content, metadata, buffers) => this.publish(type, content, this.outputParent, metadata ?? {}, buffers) },
      (where, err) => this.reportBackgroundError(`Error in ${where}`, err),
    );
    this.typeCheck = opts.typeCheck !== false;
    this.intel = opts.languageService === false ? undefined : new IntelClient({ cwd: opts.cwd, packageRoot: PACKAGE_ROOT, log: this.log });
    this.handlers = {
      kernel_info_request: (m, ch) => this.kernelInfo(m, ch),
      execute_request: (m) => this.execute(m),
      complete_request: (m) => this.complete(m),
      inspect_request: (m) => this.inspect(m),
      is_complete_request: (m) => this.isComplete(m),
      history_request: (m) => this.historyRequest(m),
      comm_open: (m) => this.commOpen(m),
      comm_msg: (m) => this.commMsg(m),
      comm_close: (m) => this.commClose(m),
      comm_info_request: (m, ch) => this.commInfo(m, ch),
      shutdown_request: (m, ch) => this.shutdown(m, ch),
      // interrupt_request is answered by the I/O thread alone (kernel/protocol/control-worker.ts).
      connect_request: (m, ch) => {
        const i = this.opts.info;
        this.reply(ch, m, "connect_reply", { status: "ok", shell_port: i.shell_port, iopub_port: i.iopub_port, stdin_port: i.stdin_port, hb_port: i.hb_port, control_port: i.control_port });
      },
    };
  }

  static async start(opts: KernelOptions): Promise<Kernel> {
    const k = new Kernel(opts);
    await k.bind();
    return k;
  }

  private async bind(): Promise<void> {
    // Our own SIGINT listener: the signal only breaks `breakOnSigint` code, it never kills the kernel.
    process.on("SIGINT", () => undefined);
    this.keepAlive = setInterval(() => undefined, 1 << 30);
    // The I/O thread starts in parallel; shell does not wait for it (start-up time). What is
    // published before it has bound IOPub is sent once it has.
    this.control = new ControlBridge(this.opts.info, this.session, this.kernelId, this.limits, {
      onInterrupt: (seq) => this.interrupt(seq),
      onRequest: (msg) => this.enqueue(msg, "control"),
      log: this.log,
    });
    this.control.ready.catch((err: unknown) => {
      this.log(`cannot start the heartbeat/control/iopub thread: ${(err as Error)?.message ?? String(err)}`);
      process.exit(1);
    });
    const sockets = await bindMainSockets(this.opts.info);
    this.sockets = sockets;

    const onSendError = (err: unknown): void => this.log(`send failed: ${String(err)}`);
    this.shellOut = new SerialSender(sockets.shell, onSendError);
    this.stdinOut = new SerialSender(sockets.stdin, onSendError);
    this.installProcessHooks();
    void this.receive(sockets.shell, "shell");
    void this.receiveStdin(sockets.stdin);
    this.publish("status", { execution_state: "starting" }, undefined);
  }

  // ---------------------------------------------------------------- receiving

  private async receive(socket: zmq.Router, channel: Channel): Promise<void> {
    try {
      for await (const frames of socket) {
        const d = decode(frames, this.signer, this.limits, this.digests);
        if (!d.ok) {
          this.log(`${channel}: dropped message: ${d.reason}`);
          continue;
        }
        this.enqueue(d.message, channel);
      }
    } catch (err) {
      if (!this.shuttingDown) this.log(`${channel} receive loop stopped: ${String(err)}`);
    }
  }

  private async receiveStdin(socket: zmq.Router): Promise<void> {
    try {
      for await (const frames of socket) {
        const d = decode(frames, this.signer, this.limits, this.digests);
        if (!d.ok) {
          this.log(`stdin: dropped message: ${d.reason}`);
          continue;
        }
        const m = d.message;
        const p = this.pendingInput;
        if (m.header.msg_type !== "input_reply" || !p) {
          this.log(`stdin: unexpected ${m.header.msg_type}`);
          continue;
        }
        if (m.parent_header.msg_id !== undefined && m.parent_header.msg_id !== p.msgId) {
          this.log("stdin: input_reply for another request");
          continue;
        }
        this.pendingInput = undefined;
        const v = m.content.value;
        p.resolve(typeof v === "string" ? v : String(v ?? ""));
      }
    } catch (err) {
      if (!this.shuttingDown) this.log(`stdin receive loop stopped: ${String(err)}`);
    }
  }

  private enqueue(msg: Message, channel: Channel): void {
    // Control requests do not wait behind a running cell.
    if (channel === "control") {
      void this.dispatch(msg, channel);
      return;
    }
    this.queue.push({ msg, channel });
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) {
        await this.dispatch(item.msg, item.channel);
      }
    } finally {
      this.processing = false;
    }
  }

  private async dispatch(msg: Message, channel: Channel): Promise<void> {
    const type = msg.header.msg_type;
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, type) ? this.handlers[type] : undefined;
    if (channel === "control" && !CONTROL_TYPES.has(type)) {
      this.log(`control: ${JSON.stringify(type).slice(0, 100)} is not a control request; dropped`);
      return;
    }
    if (!handler) {
      this.log(`${channel}: unknown message type ${JSON.stringify(type).slice(0, 100)}`);
      return;
    }
    this.publish("status", { execution_state: "busy" }, msg);
    try {
      await handler(msg, channel);
    } catch (err) {
      const reason = err instanceof BadRequest ? err.message : (err as Error)?.stack ?? String(err);
      this.log(`${type}: ${reason}`);
      if (type.endsWith("_request")) {
        const e = err as Error;
        this.reply(channel, msg, type.replace(/_request$/, "_reply"), {
          status: "error",
          ename: err instanceof BadRequest ? "BadRequest" : e?.name ?? "Error",
          evalue: e?.message ?? String(err),
          traceback: [],
        });
      }
    } finally {
      this.publish("status", { execution_state: "idle" }, msg);
    }
  }

  // ---------------------------------------------------------------- sending

  private reply(channel: Channel, req: Message, msgType: string, content: JsonObject, metadata: JsonObject = {}): void {
    const frames = encode(this.signer, req.identities, newHeader(msgType, this.session), req.header, metadata, content);
    if (channel === "shell") void this.shellOut.send(frames);
    else this.control.send(frames);
  }

  /** Publishes on IOPub (through the I/O thread, which sends pending stream text first, so order is kept). */
  publish(msgType: string, content: JsonObject, parent: Message | undefined, metadata: JsonObject = {}, buffers: readonly Uint8Array[] = []): void {
    let frames: Buffer[];
    try {
      const bufs = buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      frames = encode(this.signer, [Buffer.from(`kernel.${this.kernelId}.${msgType}`)], newHeader(msgType, this.session), parent?.header ?? {}, metadata, content, bufs);
    } catch (err) {
      this.log(`cannot serialise ${msgType}: ${String(err)}`);
      return;
    }
    this.control.publish(frames);
  }

  /**
   * Stream text goes to the I/O thread, which coalesces it per name and parent and sends it on its
   * next turn: output leaves even while a synchronous cell holds this thread.
   */
  private stream(name: "stdout" | "stderr", text: string): void {
    const parent = this.outputParent;
    if (!parent) {
      (name === "stdout" ? this.realStdoutWrite : this.realStderrWrite)(text);
      return;
    }
    this.control.stream(name, text, parent.header);
  }

  /** process.stdout/stderr writes and console.* go to the notebook while a request is the parent. */
  private installProcessHooks(): void {
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

    const sink: OutputSink = {
      stream: (name, text) => this.stream(name, text),
      displayData: (bundle, metadata, displayId, update) => {
        this.publish(update ? "update_display_data" : "display_data", { data: bundle, metadata, transient: displayId ? { display_id: displayId } : {} }, this.outputParent);
      },
      clearOutput: (wait) => this.publish("clear_output", { wait }, this.outputParent),
      input: (prompt, password) => this.inputRequest(prompt, password),
      page: (bundle) => {
        this.payload.push({ source: "page", data: bundle, start: 0 });
      },
    };
    const globals = createCellGlobals({
      sink,
      comms: this.comms,
      signal: () => this.executor.signal,
      typeCheck: { get: () => this.typeCheck, set: (on) => (this.typeCheck = on) },
    });
    this.cellGlobals = globals;
    installGlobals(globals);
  }

  /** The helpers as created (the kernel's own references: cells may shadow the globals). */
  private cellGlobals!: ReturnType<typeof createCellGlobals>;

  /** Errors outside a cell's own flow (timers, comm handlers, rejections) go to stderr of the last cell. */
  private reportBackgroundError(what: string, err: unknown): void {
    const o = this.executor.errorOutcome(err);
    const text = o.status === "error" ? o.traceback.join("\n") : String(err);
    if (this.outputParent) this.stream("stderr", `${what}: ${text}\n`);
    else this.log(`${what}: ${text}`);
  }

  private inputRequest(prompt: string, password: boolean): Promise<string> {
    const parent = this.outputParent;
    if (!parent || !this.allowStdin || !this.executor.busy) {
      return Promise.reject(new Error("input is not available: the front end does not accept input requests for this execution (allow_stdin is false)"));
    }
    if (this.pendingInput) return Promise.reject(new Error("input: another input request is already pending"));
    const header = newHeader("input_request", this.session);
    const signal = this.executor.signal;
    return new Promise<string>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pendingInput?.msgId === header.msg_id) this.pendingInput = undefined;
        reject(new Error("input interrupted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.pendingInput = {
        msgId: header.msg_id,
        resolve: (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        reject,
      };
      this.control.flushStreams();
      void this.stdinOut.send(encode(this.signer, parent.identities, header, parent.header, {}, { prompt, password }));
    });
  }

  // ---------------------------------------------------------------- handlers

  private kernelInfo(msg: Message, channel: Channel): void {
    this.reply(channel, msg, "kernel_info_reply", {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "mixdistill",
      implementation_version: this.version,
      language_info: {
        name: "typescript",
        version: packageVersion(join(PACKAGE_ROOT, "node_modules", "typescript", "package.json")),
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        codemirror_mode: { name: "javascript", typescript: true },
        nbconvert_exporter: "script",
      },
      banner: `mixdistill ${this.version}: TypeScript on Node.js ${process.version}`,
      help_links: [
        { text: "mixdistill kernel", url: "https://github.com/mixdistill/mixdistill/blob/main/docs/kernel.md" },
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
        { text: "Node.js API", url: "https://nodejs.org/api/" },
      ],
      debugger: false,
    });
    // After the first reply: warm up what the first cells need, off the start-up path.
    setImmediate(() => {
      void warmUpTransform().catch((err: unknown) => this.log(`transpiler warm-up failed: ${String(err)}`));
      void this.loadWidgets();
      void this.intel?.warmUp();
    });
  }

  /** kernel/widgets/index.js's installWidgets(host): its result becomes cell globals. */
  private loadWidgets(): Promise<void> {
    this.widgetsReady ??= (async () => {
      try {
        const mod = (await import(pathToFileURL(join(PACKAGE_ROOT, "dist", "kernel", "widgets", "index.js")).href)) as { installWidgets?: InstallWidgets };
        if (typeof mod.installWidgets !== "function") return;
        const host: WidgetHost = {
          comms: this.comms,
          display: this.cellGlobals.display as WidgetHost["display"],
          reportError: (where, err) => this.reportBackgroundError(`Error in ${where}`, err),
        };
        const globals = mod.installWidgets(host);
        installGlobals(globals);
        extendKernelNamespace(this.cellGlobals.kernel as object, globals);
        this.intel?.declareGlobals(Object.keys(globals));
      } catch (err) {
        this.log(`widgets not loaded: ${(err as Error).stack ?? String(err)}`);
      }
    })();
    return this.widgetsReady;
  }

  private async execute(msg: Message): Promise<void> {
    try {
      await this.executeRequest(msg);
    } finally {
      this.executor.end();
    }
  }

  private async executeRequest(msg: Message): Promise<void> {
    const c = msg.content;
    const code = str(c, "code");
    const silent = bool(c, "silent", false);
    const storeHistory = silent ? false : bool(c, "store_history", true);
    const stopOnError = bool(c, "stop_on_error", true);
    const allowStdin = bool(c, "allow_stdin", true);
    const userExpressions = c.user_expressions ?? {};
    if (typeof userExpressions !== "object" || userExpressions === null || Array.isArray(userExpressions)) throw new BadRequest("content.user_expressions must be an object");

    // From here on, an interrupt applies to this request, even before its code starts.
    this.executor.begin();
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    this.outputParent = msg;
    this.allowStdin = allowStdin;
    this.payload = [];
    if (!silent) this.publish("execute_input", { code, execution_count: count }, msg);
    await this.loadWidgets();

    const filename = this.executor.cellName(storeHistory ? count : undefined);
    // The type check runs (on the language service's thread) while the cell runs; it is not waited for.
    const check = !silent && this.typeCheck && this.intel ? this.typeCheckCell(code, filename, msg) : undefined;
    let outcome: ExecOutcome = await this.executor.execute(code, filename);
    // Warnings ready while the code ran went out as its stderr; later ones follow the reply.
    if (check) check.ran = true;
    let output: string | null = null;
    if (outcome.status === "ok" && outcome.hasValue && outcome.value !== undefined && !isNotAResult(outcome.value) && !silent) {
      try {
        const data = toMimeBundle(outcome.value, { raw: false });
        output = typeof data["text/plain"] === "string" ? data["text/plain"] : null;
        this.publish("execute_result", { execution_count: count, data, metadata: {} }, msg);
      } catch (err) {
        outcome = this.executor.errorOutcome(err);
      }
    }
    if (storeHistory) this.history.add({ line: count, input: code, output });
    // A cell that ran, even one that failed or was interrupted part-way (its earlier declarations
    // exist), is declared to the language service: later cells using its names get no false
    // "Cannot find name". Only a cell that did not compile is left out.
    this.intel?.recordCell(code, filename, outcome.status === "ok" || outcome.notRun !== true);
    if (outcome.status === "error") {
      if (!silent) this.publish("error", { ename: outcome.ename, evalue: outcome.evalue, traceback: outcome.traceback }, msg);
      this.reply("shell", msg, "execute_reply", { status: "error", execution_count: count, ename: outcome.ename, evalue: outcome.evalue, traceback: outcome.traceback }, { status: "error" });
      if (stopOnError) this.abortQueuedExecutions();
      return;
    }
    const expressions: JsonObject = {};
    for (const [name, expr] of Object.entries(userExpressions as JsonObject)) {
      expressions[name] = await this.evaluateExpression(String(expr));
    }
    this.reply("shell", msg, "execute_reply", { status: "ok", execution_count: count, payload: this.payload, user_expressions: expressions }, { status: "ok" });
  }

  /**
   * Type-checks a cell off the path to its reply. Warnings that are ready when the cell's code has
   * run are shown before its result, as stderr of the cell. Later ones are published after the
   * reply, still with the cell's request as parent header: they are that cell's output even when
   * the next cell has started (which does not wait for them).
   */
  private typeCheckCell(code: string, filename: string, msg: Message): { ran: boolean } {
    const state = { ran: false };
    const text = (warnings: string[]): string => warnings.map((w) => `${w}\n`).join("");
    void this.intel!.checkCell(code, filename).then(
      (warnings) => {
        if (!warnings.length) return;
        if (!state.ran) this.stream("stderr", text(warnings));
        else this.control.stream("stderr", text(warnings), msg.header);
      },
      (err: unknown) => this.log(`type check of ${filename} failed: ${String(err)}`),
    );
    return state;
  }

  private async evaluateExpression(expr: string): Promise<JsonObject> {
    const o = await this.executor.execute(expr, this.executor.cellName(undefined));
    if (o.status === "error") return { status: "error", ename: o.ename, evalue: o.evalue, traceback: o.traceback };
    try {
      return { status: "ok", data: o.hasValue ? toMimeBundle(o.value, { raw: false }) : { "text/plain": "undefined" }, metadata: {} };
    } catch (err) {
      return { status: "error", ename: "Error", evalue: String(err), traceback: [] };
    }
  }

  /** After a failed cell with stop_on_error: queued executions are answered "aborted", not run. */
  private abortQueuedExecutions(): void {
    const keep: typeof this.queue = [];
    for (const item of this.queue) {
      if (item.msg.header.msg_type !== "execute_request") {
        keep.push(item);
        continue;
      }
      this.publish("status", { execution_state: "busy" }, item.msg);
      this.reply(item.channel, item.msg, "execute_reply", { status: "aborted", execution_count: this.executionCount }, { status: "aborted" });
      this.publish("status", { execution_state: "idle" }, item.msg);
    }
    this.queue.splice(0, this.queue.length, ...keep);
  }

  /** Interrupt number `seq` from the I/O thread (which answered the request and sent SIGINT). */
  private interrupt(seq: number): void {
    this.executor.interruptNumbered(seq);
    const p = this.pendingInput;
    if (p) {
      this.pendingInput = undefined;
      p.reject(new Error("input interrupted"));
    }
  }

  private async complete(msg: Message): Promise<void> {
    const code = str(msg.content, "code");
    const cursorCp = int(msg.content, "cursor_pos", [...code].length)!;
    const cursor = codePointsToIndex(code, cursorCp);
    const r = this.intel ? await this.intel.complete(code, cursor) : { matches: [], start: cursor, end: cursor, types: [] };
    this.reply("shell", msg, "complete_reply", {
      status: "ok",
      matches: r.matches,
      cursor_start: indexToCodePoints(code, r.start),
      cursor_end: indexToCodePoints(code, r.end),
      metadata: { _jupyter_types_experimental: r.types },
    });
  }

  private async inspect(msg: Message): Promise<void> {
    const code = str(msg.content, "code");
    const cursor = codePointsToIndex(code, int(msg.content, "cursor_pos", [...code].length)!);
    const detail = int(msg.content, "detail_level", 0)!;
    const r = this.intel ? await this.intel.inspect(code, cursor, detail) : undefined;
    this.reply("shell", msg, "inspect_reply", r ? { status: "ok", found: true, data: r, metadata: {} } : { status: "ok", found: false, data: {}, metadata: {} });
  }

  private async isComplete(msg: Message): Promise<void> {
    const r = await isComplete(str(msg.content, "code"));
    this.reply("shell", msg, "is_complete_reply", r);
  }

  private historyRequest(msg: Message): void {
    const c = msg.content;
    const type = str(c, "hist_access_type", "tail");
    if (type !== "tail" && type !== "range" && type !== "search") throw new BadRequest(`content.hist_access_type must be tail, range or search`);
    const q: HistoryQuery = {
      hist_access_type: type,
      output: bool(c, "output", false),
      n: int(c, "n"),
      session: int(c, "session"),
      start: int(c, "start"),
      stop: int(c, "stop"),
      pattern: c.pattern === undefined ? undefined : str(c, "pattern"),
      unique: bool(c, "unique", false),
    };
    this.reply("shell", msg, "history_reply", { status: "ok", history: this.history.query(q) });
  }

  private commOpen(msg: Message): void {
    const id = str(msg.content, "comm_id");
    const target = str(msg.content, "target_name");
    const previous = this.outputParent;
    if (!this.comms.handleOpen(id, target, msg.content.data ?? {}, msg.buffers)) {
      this.log(`comm_open for unknown target ${JSON.stringify(target)}: closing`);
      this.publish("comm_close", { comm_id: id, data: {} }, msg);
    }
    this.outputParent = previous;
  }

  private commMsg(msg: Message): void {
    const id = str(msg.content, "comm_id");
    if (!this.comms.handleMsg(id, msg.content.data ?? {}, msg.buffers)) this.log(`comm_msg for unknown comm ${id}`);
  }

  private commClose(msg: Message): void {
    const id = str(msg.content, "comm_id");
    if (!this.comms.handleClose(id, msg.content.data ?? {})) this.log(`comm_close for unknown comm ${id}`);
  }

  private commInfo(msg: Message, channel: Channel): void {
    const target = msg.content.target_name;
    this.reply(channel, msg, "comm_info_reply", { status: "ok", comms: this.comms.list(typeof target === "string" && target ? target : undefined) });
  }

  private async shutdown(msg: Message, channel: Channel): Promise<void> {
    const restart = bool(msg.content, "restart", false);
    this.reply(channel, msg, "shutdown_reply", { status: "ok", restart });
    this.publish("status", { execution_state: "idle" }, msg);
    await this.close();
    process.exit(0);
  }

  /** Flushes what is queued, closes every socket (control thread first), and stops helpers. */
  async close(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    clearInterval(this.keepAlive);
    await Promise.race([this.shellOut.flush(), new Promise((r) => setTimeout(r, 1000))]);
    await this.control.close();
    closeMainSockets(this.sockets);
    await this.intel?.close();
  }
}

