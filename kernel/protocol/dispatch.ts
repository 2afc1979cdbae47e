/**
 * The protocol layer, free of sockets: decodes and verifies incoming frames (signature, size
 * limits, a digest history so a replayed message is dropped), dispatches by message type, gives
 * every request its ordering (busy, execute_input, outputs, reply, idle, all with the request as
 * parent), signs replies and IOPub messages, and keeps the execution count and the request that
 * outputs belong to. What a request asks of the language goes to an Interpreter
 * (kernel/interpreter.ts); comm messages go to the comm router. Frames leave through an Outlet
 * (kernel/transport.ts in the kernel; a recorder in tests).
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import type { HistoryQuery } from "../history.js";
import type { Interpreter } from "../interpreter.js";
import { type ConnectionInfo, DEFAULT_LIMITS, type DecodeLimits, type Header, type JsonObject, type Message, PROTOCOL_VERSION, DigestHistory, Signer, decode, encode, newHeader } from "./wire.js";

export type Channel = "shell" | "control";

/** Where signed frames go. */
export interface Outlet {
  /** A message to the peer of a request on shell, control or stdin. */
  send(channel: Channel | "stdin", frames: Buffer[]): void;
  /** A message on IOPub. */
  publish(frames: Buffer[]): void;
  /** Stream text with `parent` as parent header; consecutive writes may be coalesced into one message. */
  stream(name: "stdout" | "stderr", text: string, parent: Partial<Header>): void;
  /** Sends pending stream text now. */
  flushStreams(): void;
  /** An execute_request starts: a notice the I/O thread sends about a stuck main thread goes to its output. */
  executing?(parent: Partial<Header>): void;
  /** Whether no shell request is being handled. */
  idle?(on: boolean): void;
}

/** What comm_open, comm_msg, comm_close and comm_info_request reach (kernel/comms.ts). */
export interface CommRouter {
  /** False when no handler is registered for the target; throws when the id is already open. */
  handleOpen(commId: string, target: string, data: unknown, buffers: readonly Uint8Array[]): boolean;
  handleMsg(commId: string, data: unknown, buffers: readonly Uint8Array[]): boolean;
  handleClose(commId: string, data: unknown): boolean;
  list(targetName?: string): Record<string, { target_name: string }>;
}

export interface ProtocolOptions {
  info: ConnectionInfo;
  session: string;
  /** The kernel's name in IOPub topics (`kernel.<id>.<msg_type>`). */
  kernelId: string;
  interpreter: Interpreter;
  comms: CommRouter;
  outlet: Outlet;
  limits?: DecodeLimits;
  log?: (line: string) => void;
  /** An input_reply on stdin (the host matches it to its pending input request). */
  onInputReply?: (msg: Message) => void;
  /** After shutdown_reply and the idle status went out. */
  onShutdown?: (restart: boolean) => Promise<void> | void;
}

/** A request whose content is not what the protocol says; answered with an error reply. */
export class BadRequest extends Error {
  override name = "BadRequest";
}

/** What the control channel serves (interrupt_request is answered on the I/O thread); everything else belongs on shell. */
export const CONTROL_TYPES: ReadonlySet<string> = new Set(["kernel_info_request", "shutdown_request", "connect_request", "comm_info_request"]);

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
  for (let n = 0; n < cp && i < s.length; n++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}
export function indexToCodePoints(s: string, index: number): number {
  return [...s.slice(0, index)].length;
}

/** The request outputs belong to, and what an execute_request asked for. */
export interface ExecutionContext {
  /** The running execute_request, or the last one (timers and callbacks that print later). */
  readonly parent: Message | undefined;
  /** Whether the running execution may send input_request (its allow_stdin). */
  readonly allowStdin: boolean;
}

type Handler = (msg: Message, channel: Channel) => Promise<void> | void;

export class Protocol implements ExecutionContext {
  readonly session: string;
  private readonly signer: Signer;
  /** Signatures already accepted on shell and stdin (control has its own, on the I/O thread). */
  private readonly digests = new DigestHistory();
  private readonly limits: DecodeLimits;
  private readonly log: (line: string) => void;
  private readonly interpreter: Interpreter;
  private readonly outlet: Outlet;
  private readonly handlers: Record<string, Handler>;
  private readonly queue: Array<{ msg: Message; channel: Channel }> = [];
  private processing: Promise<void> | undefined;
  private executionCount = 0;
  private payload: JsonObject[] = [];
  parent: Message | undefined;
  allowStdin = false;

  constructor(private readonly opts: ProtocolOptions) {
    this.session = opts.session;
    this.signer = new Signer(opts.info.key, opts.info.signature_scheme);
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.log = opts.log ?? (() => undefined);
    this.interpreter = opts.interpreter;
    this.outlet = opts.outlet;
    this.handlers = {
      kernel_info_request: (m, ch) => this.kernelInfo(m, ch),
      execute_request: (m) => this.execute(m),
      complete_request: (m) => this.complete(m),
      inspect_request: (m) => this.inspect(m),
      is_complete_request: (m) => this.isComplete(m),
      history_request: (m) => this.history(m),
      comm_open: (m) => this.commOpen(m),
      comm_msg: (m) => this.commMsg(m),
      comm_close: (m) => this.commClose(m),
      comm_info_request: (m, ch) => this.commInfo(m, ch),
      shutdown_request: (m, ch) => this.shutdown(m, ch),
      connect_request: (m, ch) => {
        const i = this.opts.info;
        this.reply(ch, m, "connect_reply", { status: "ok", shell_port: i.shell_port, iopub_port: i.iopub_port, stdin_port: i.stdin_port, hb_port: i.hb_port, control_port: i.control_port });
      },
    };
  }

  // ---------------------------------------------------------------- receiving

  /** Frames from the shell or stdin socket: verified, then dispatched (stdin: handed to onInputReply). */
  receive(frames: Buffer[], channel: "shell" | "stdin"): void {
    const d = decode(frames, this.signer, this.limits, this.digests);
    if (!d.ok) {
      this.log(`${channel}: dropped message: ${d.reason}`);
      return;
    }
    if (channel === "stdin") {
      if (d.message.header.msg_type !== "input_reply") this.log(`stdin: unexpected ${JSON.stringify(d.message.header.msg_type).slice(0, 100)}`);
      else this.opts.onInputReply?.(d.message);
      return;
    }
    this.request(d.message, channel);
  }

  /**
   * A verified request. Shell requests run one at a time, in order; control requests do not wait
   * behind a running cell.
   */
  request(msg: Message, channel: Channel): void {
    if (channel === "control") {
      void this.dispatch(msg, channel);
      return;
    }
    this.queue.push({ msg, channel });
    if (!this.processing) {
      this.outlet.idle?.(false);
      this.processing = this.pump();
    }
  }

  /** Resolves once every queued shell request has been handled (tests; shutdown). */
  async settled(): Promise<void> {
    while (this.processing) await this.processing;
  }

  /**
   * Interrupt number `seq`. The I/O thread answered the interrupt_request (it must, while a cell
   * blocks this thread) and sent SIGINT for synchronous code; this is what the main thread does
   * about it, the only place: the interpreter stops the running execution (its AbortSignal aborts,
   * which also cancels a pending input request).
   */
  interrupt(seq: number): void {
    this.interpreter.interrupt(seq);
  }

  private async pump(): Promise<void> {
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) await this.dispatch(item.msg, item.channel);
    } finally {
      this.processing = undefined;
      this.outlet.idle?.(true);
    }
  }

  private async dispatch(msg: Message, channel: Channel): Promise<void> {
    const type = msg.header.msg_type;
    if (channel === "control" && !CONTROL_TYPES.has(type)) {
      this.log(`control: ${JSON.stringify(type).slice(0, 100)} is not a control request; dropped`);
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, type) ? this.handlers[type] : undefined;
    if (!handler) {
      this.log(`${channel}: unknown message type ${JSON.stringify(type).slice(0, 100)}`);
      return;
    }
    this.publish("status", { execution_state: "busy" }, msg);
    try {
      await handler(msg, channel);
    } catch (err) {
      const bad = err instanceof BadRequest;
      this.log(`${type}: ${bad ? err.message : (err as Error)?.stack ?? String(err)}`);
      if (type.endsWith("_request")) {
        const e = err as Error;
        this.reply(channel, msg, type.replace(/_request$/, "_reply"), { status: "error", ename: bad ? "BadRequest" : e?.name ?? "Error", evalue: e?.message ?? String(err), traceback: [] });
      }
    } finally {
      this.publish("status", { execution_state: "idle" }, msg);
    }
  }

  // ---------------------------------------------------------------- sending

  reply(channel: Channel, req: Message, msgType: string, content: JsonObject, metadata: JsonObject = {}): void {
    this.outlet.send(channel, encode(this.signer, req.identities, newHeader(msgType, this.session), req.header, metadata, content));
  }

  /** A message on IOPub (parent: the request it belongs to; none for kernel-wide status). */
  publish(msgType: string, content: JsonObject, parent: Message | undefined, metadata: JsonObject = {}, buffers: readonly Uint8Array[] = []): void {
    let frames: Buffer[];
    try {
      const bufs = buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      frames = encode(this.signer, [Buffer.from(`kernel.${this.opts.kernelId}.${msgType}`)], newHeader(msgType, this.session), parent?.header ?? {}, metadata, content, bufs);
    } catch (err) {
      this.log(`cannot serialise ${msgType}: ${String(err)}`);
      return;
    }
    this.outlet.publish(frames);
  }

  /** Stream text of `parent` (default: the request outputs belong to now). False when there is none. */
  stream(name: "stdout" | "stderr", text: string, parent: Message | undefined = this.parent): boolean {
    if (!parent) return false;
    this.outlet.stream(name, text, parent.header);
    return true;
  }

  /** A pager payload for the running execute_reply. */
  addPayload(p: JsonObject): void {
    this.payload.push(p);
  }

  /**
   * Sends input_request on stdin to the front end of the running execution; returns its msg_id
   * (an input_reply answering it names it as parent). Pending stream text goes first.
   */
  sendInputRequest(prompt: string, password: boolean): string {
    const parent = this.parent;
    if (!parent) throw new Error("input_request outside an execution");
    const header = newHeader("input_request", this.session);
    this.outlet.flushStreams();
    this.outlet.send("stdin", encode(this.signer, parent.identities, header, parent.header, {}, { prompt, password }));
    return header.msg_id;
  }

  // ---------------------------------------------------------------- handlers

  private kernelInfo(msg: Message, channel: Channel): void {
    const i = this.interpreter.info;
    this.reply(channel, msg, "kernel_info_reply", {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: i.implementation,
      implementation_version: i.implementationVersion,
      language_info: i.languageInfo,
      banner: i.banner,
      help_links: i.helpLinks,
      debugger: false,
    });
    // After the first reply: warm up what the first cells need, off the start-up path.
    if (this.interpreter.warmUp) setImmediate(() => this.interpreter.warmUp!());
  }

  private async execute(msg: Message): Promise<void> {
    const c = msg.content;
    const code = str(c, "code");
    const silent = bool(c, "silent", false);
    const storeHistory = silent ? false : bool(c, "store_history", true);
    const stopOnError = bool(c, "stop_on_error", true);
    const allowStdin = bool(c, "allow_stdin", true);
    const userExpressions = c.user_expressions ?? {};
    if (typeof userExpressions !== "object" || userExpressions === null || Array.isArray(userExpressions)) throw new BadRequest("content.user_expressions must be an object");

    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    this.parent = msg;
    this.outlet.executing?.(msg.header);
    this.allowStdin = allowStdin;
    this.payload = [];
    if (!silent) this.publish("execute_input", { code, execution_count: count }, msg);
    const r = await this.interpreter.execute({
      code,
      silent,
      storeHistory,
      executionCount: count,
      userExpressions: Object.fromEntries(Object.entries(userExpressions).map(([k, v]) => [k, String(v)])),
      warn: (text) => this.stream("stderr", text, msg),
    });
    this.allowStdin = false;
    if (r.status === "error") {
      if (!silent) this.publish("error", { ename: r.ename, evalue: r.evalue, traceback: r.traceback }, msg);
      this.reply("shell", msg, "execute_reply", { status: "error", execution_count: count, ename: r.ename, evalue: r.evalue, traceback: r.traceback }, { status: "error" });
      if (stopOnError) this.abortQueuedExecutions();
      return;
    }
    if (r.data && !silent) this.publish("execute_result", { execution_count: count, data: r.data, metadata: {} }, msg);
    this.reply("shell", msg, "execute_reply", { status: "ok", execution_count: count, payload: this.payload, user_expressions: r.userExpressions }, { status: "ok" });
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

  private async complete(msg: Message): Promise<void> {
    const code = str(msg.content, "code");
    const cursor = codePointsToIndex(code, int(msg.content, "cursor_pos", [...code].length)!);
    const r = await this.interpreter.complete(code, cursor);
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
    const data = await this.interpreter.inspect(code, cursor, detail);
    this.reply("shell", msg, "inspect_reply", data ? { status: "ok", found: true, data, metadata: {} } : { status: "ok", found: false, data: {}, metadata: {} });
  }

  private async isComplete(msg: Message): Promise<void> {
    const r = await this.interpreter.isComplete(str(msg.content, "code"));
    this.reply("shell", msg, "is_complete_reply", r);
  }

  private history(msg: Message): void {
    const c = msg.content;
    const type = str(c, "hist_access_type", "tail");
    if (type !== "tail" && type !== "range" && type !== "search") throw new BadRequest("content.hist_access_type must be tail, range or search");
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
    this.reply("shell", msg, "history_reply", { status: "ok", history: this.interpreter.history(q) });
  }

  private commOpen(msg: Message): void {
    const id = str(msg.content, "comm_id");
    const target = str(msg.content, "target_name");
    if (!this.opts.comms.handleOpen(id, target, msg.content.data ?? {}, msg.buffers)) {
      this.log(`comm_open for unknown target ${JSON.stringify(target)}: closing`);
      this.publish("comm_close", { comm_id: id, data: {} }, msg);
    }
  }

  private commMsg(msg: Message): void {
    const id = str(msg.content, "comm_id");
    if (!this.opts.comms.handleMsg(id, msg.content.data ?? {}, msg.buffers)) this.log(`comm_msg for unknown comm ${id}`);
  }

  private commClose(msg: Message): void {
    const id = str(msg.content, "comm_id");
    if (!this.opts.comms.handleClose(id, msg.content.data ?? {})) this.log(`comm_close for unknown comm ${id}`);
  }

  private commInfo(msg: Message, channel: Channel): void {
    const target = msg.content.target_name;
    this.reply(channel, msg, "comm_info_reply", { status: "ok", comms: this.opts.comms.list(typeof target === "string" && target ? target : undefined) });
  }

  private async shutdown(msg: Message, channel: Channel): Promise<void> {
    const restart = bool(msg.content, "restart", false);
    this.reply(channel, msg, "shutdown_reply", { status: "ok", restart });
    this.publish("status", { execution_state: "idle" }, msg);
    await this.opts.onShutdown?.(restart);
  }
}
