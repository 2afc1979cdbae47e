/**
 * The protocol layer alone (kernel/protocol/dispatch.ts): signed frames in, signed frames out
 * through a recording outlet, a fake interpreter behind it. No sockets, no threads, no cells.
 */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import type { HistoryQuery, HistoryRow } from "../../kernel/history.js";
import type { Completion, ExecuteRequest, ExecuteResult, Interpreter, InterpreterInfo } from "../../kernel/interpreter.js";
import { type CommRouter, type Outlet, Protocol } from "../../kernel/protocol/dispatch.js";
import { type ConnectionInfo, type Header, type Message, Signer, decode, encode, newHeader } from "../../kernel/protocol/wire.js";

const info: ConnectionInfo = { transport: "tcp", ip: "127.0.0.1", shell_port: 1, iopub_port: 2, stdin_port: 3, control_port: 4, hb_port: 5, key: "k3y", signature_scheme: "hmac-sha256" };
const signer = new Signer(info.key);

type Event =
  | { kind: "send"; channel: string; msg: Message }
  | { kind: "publish"; msg: Message }
  | { kind: "stream"; name: string; text: string; parent: Partial<Header> };

class RecordingOutlet implements Outlet {
  readonly events: Event[] = [];
  flushes = 0;
  private decoded(frames: Buffer[]): Message {
    const d = decode(frames, signer);
    if (!d.ok) throw new Error(`the protocol layer sent a bad message: ${d.reason}`);
    return d.message;
  }
  send(channel: string, frames: Buffer[]): void {
    this.events.push({ kind: "send", channel, msg: this.decoded(frames) });
  }
  publish(frames: Buffer[]): void {
    this.events.push({ kind: "publish", msg: this.decoded(frames) });
  }
  stream(name: string, text: string, parent: Partial<Header>): void {
    this.events.push({ kind: "stream", name, text, parent });
  }
  flushStreams(): void {
    this.flushes++;
  }
  /** One line per event, for order assertions: `iopub status busy`, `shell execute_reply ok`, ... */
  trace(forMsgId?: string): string[] {
    return this.events
      .filter((e) => forMsgId === undefined || (e.kind === "stream" ? e.parent.msg_id : e.msg.parent_header.msg_id) === forMsgId)
      .map((e) => {
        if (e.kind === "stream") return `stream ${e.name}`;
        const t = e.msg.header.msg_type;
        if (e.kind === "publish") return t === "status" ? `iopub status ${String(e.msg.content.execution_state)}` : `iopub ${t}`;
        return `${e.channel} ${t}${typeof e.msg.content.status === "string" ? ` ${e.msg.content.status}` : ""}`;
      });
  }
  reply(msgId: string): Message {
    const e = this.events.find((x) => x.kind === "send" && x.msg.parent_header.msg_id === msgId);
    if (!e || e.kind !== "send") throw new Error(`no reply to ${msgId}`);
    return e.msg;
  }
}

/** An interpreter whose answers the test sets; `block` runs until interrupted. */
class FakeInterpreter implements Interpreter {
  readonly info: InterpreterInfo = { implementation: "fake", implementationVersion: "9.9", languageInfo: { name: "fakelang" }, banner: "fake", helpLinks: [] };
  readonly executed: ExecuteRequest[] = [];
  readonly interrupts: number[] = [];
  readonly cursors: number[] = [];
  warmUps = 0;
  private stop: (() => void) | undefined;

  async execute(req: ExecuteRequest): Promise<ExecuteResult> {
    this.executed.push(req);
    if (req.code === "block") {
      await new Promise<void>((resolve) => (this.stop = resolve));
      return { status: "error", ename: "Interrupted", evalue: "execution interrupted", traceback: ["Interrupted: execution interrupted"] };
    }
    if (req.code.startsWith("throw")) return { status: "error", ename: "Error", evalue: "boom", traceback: ["Error: boom", "    at In[1]:1:7"] };
    if (req.code === "warn late") setImmediate(() => req.warn("warning TS2322 at In[1]:1:1: late\n"));
    const userExpressions = Object.fromEntries(Object.entries(req.userExpressions).map(([k, v]) => [k, { status: "ok" as const, data: { "text/plain": `<${v}>` }, metadata: {} }]));
    return { status: "ok", data: req.code === "" ? undefined : { "text/plain": `value of ${req.code}` }, userExpressions };
  }
  async complete(code: string, cursor: number): Promise<Completion> {
    this.cursors.push(cursor);
    return { matches: ["abc"], start: cursor - 2, end: cursor, types: [] };
  }
  async inspect(): Promise<Record<string, unknown> | undefined> {
    return { "text/plain": "doc" };
  }
  async isComplete(code: string): Promise<{ status: "complete" } | { status: "incomplete"; indent: string }> {
    return code.endsWith("{") ? { status: "incomplete", indent: "  " } : { status: "complete" };
  }
  history(q: HistoryQuery): HistoryRow[] {
    return [[1, q.n ?? 0, "x"]];
  }
  interrupt(seq: number): void {
    this.interrupts.push(seq);
    this.stop?.();
    this.stop = undefined;
  }
  warmUp(): void {
    this.warmUps++;
  }
}

const noComms: CommRouter = { handleOpen: () => false, handleMsg: () => false, handleClose: () => false, list: () => ({}) };

function setup(opts: { comms?: CommRouter; onInputReply?: (m: Message) => void } = {}) {
  const outlet = new RecordingOutlet();
  const interpreter = new FakeInterpreter();
  const logs: string[] = [];
  let shutdown: boolean | undefined;
  const protocol = new Protocol({
    info,
    session: "kernel-session",
    kernelId: "mixdistill",
    interpreter,
    comms: opts.comms ?? noComms,
    outlet,
    log: (l) => logs.push(l),
    onInputReply: opts.onInputReply,
    onShutdown: (restart) => {
      shutdown = restart;
    },
  });
  /** Frames of a signed request; returns them and its msg_id. */
  const frames = (type: string, content: Record<string, unknown>, key = signer) => {
    const header = newHeader(type, "client-session", "tester");
    return { id: header.msg_id, frames: encode(key, [Buffer.from("client-1")], header, {}, {}, content) };
  };
  const send = (type: string, content: Record<string, unknown>): string => {
    const f = frames(type, content);
    protocol.receive(f.frames, "shell");
    return f.id;
  };
  return { outlet, interpreter, protocol, logs, frames, send, shutdown: () => shutdown };
}

describe("protocol layer", () => {
  it("brackets a request with busy and idle, replies on its channel to its sender, and warms up after kernel_info", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const id = send("kernel_info_request", {});
    await protocol.settled();
    expect(outlet.trace(id)).toEqual(["iopub status busy", "shell kernel_info_reply ok", "iopub status idle"]);
    const reply = outlet.reply(id);
    expect(reply.identities.map(String)).toEqual(["client-1"]);
    expect(reply.header.session).toBe("kernel-session");
    expect(reply.content).toMatchObject({ protocol_version: "5.3", implementation: "fake", implementation_version: "9.9", language_info: { name: "fakelang" } });
    const status = outlet.events.find((e) => e.kind === "publish")!;
    expect(status.kind === "publish" && status.msg.identities.map(String)).toEqual(["kernel.mixdistill.status"]);
    await new Promise((r) => setImmediate(r));
    expect(interpreter.warmUps).toBe(1);
  });

  it("orders an execution: busy, execute_input, execute_result, reply, idle; counts only stored executions", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const a = send("execute_request", { code: "1+1", user_expressions: { x: "a*2" } });
    const b = send("execute_request", { code: "2+2", silent: true });
    const c = send("execute_request", { code: "3+3", store_history: false });
    await protocol.settled();
    expect(outlet.trace(a)).toEqual(["iopub status busy", "iopub execute_input", "iopub execute_result", "shell execute_reply ok", "iopub status idle"]);
    // Silent: no execute_input, no execute_result.
    expect(outlet.trace(b)).toEqual(["iopub status busy", "shell execute_reply ok", "iopub status idle"]);
    expect(outlet.reply(a).content).toEqual({ status: "ok", execution_count: 1, payload: [], user_expressions: { x: { status: "ok", data: { "text/plain": "<a*2>" }, metadata: {} } } });
    expect(outlet.reply(c).content.execution_count).toBe(1);
    expect(interpreter.executed.map((r) => [r.code, r.executionCount, r.storeHistory, r.silent])).toEqual([
      ["1+1", 1, true, false],
      ["2+2", 1, false, true],
      ["3+3", 1, false, false],
    ]);
    const result = outlet.events.find((e) => e.kind === "publish" && e.msg.header.msg_type === "execute_result");
    expect(result?.kind === "publish" && result.msg.content).toEqual({ execution_count: 1, data: { "text/plain": "value of 1+1" }, metadata: {} });
  });

  it("publishes an error, replies with it, and answers queued executions 'aborted' without running them", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const bad = send("execute_request", { code: "throw 1" });
    const next = send("execute_request", { code: "never runs" });
    const info = send("kernel_info_request", {});
    await protocol.settled();
    expect(outlet.trace(bad)).toEqual(["iopub status busy", "iopub execute_input", "iopub error", "shell execute_reply error", "iopub status idle"]);
    expect(outlet.reply(bad).content).toMatchObject({ status: "error", ename: "Error", evalue: "boom", execution_count: 1 });
    expect(outlet.trace(next)).toEqual(["iopub status busy", "shell execute_reply aborted", "iopub status idle"]);
    expect(outlet.trace(info)).toContain("shell kernel_info_reply ok");
    expect(interpreter.executed.map((r) => r.code)).toEqual(["throw 1"]);
  });

  it("answers malformed requests with an error reply naming the field, inside the status brackets", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const a = send("execute_request", { code: 5 });
    const b = send("history_request", { hist_access_type: "everything" });
    const c = send("complete_request", { code: "x", cursor_pos: "end" });
    const d = send("execute_request", { code: "1", user_expressions: [] });
    await protocol.settled();
    for (const id of [a, b, c, d]) expect(outlet.trace(id)).toEqual(["iopub status busy", expect.stringMatching(/^shell \w+_reply error$/), "iopub status idle"]);
    expect(outlet.reply(a).content).toEqual({ status: "error", ename: "BadRequest", evalue: "content.code must be a string", traceback: [] });
    expect(outlet.reply(b).content.evalue).toBe("content.hist_access_type must be tail, range or search");
    expect(outlet.reply(c).content.evalue).toBe("content.cursor_pos must be a number");
    expect(outlet.reply(d).content.evalue).toBe("content.user_expressions must be an object");
    expect(interpreter.executed).toEqual([]);
  });

  it("drops unknown types, shell requests on control, forged and replayed messages, without a word on IOPub", async () => {
    const { outlet, interpreter, protocol, send, frames, logs } = setup();
    send("frobnicate_request", {});
    const forged = frames("execute_request", { code: "forged" }, new Signer("wrong key"));
    protocol.receive(forged.frames, "shell");
    const once = frames("execute_request", { code: "once" });
    protocol.receive(once.frames, "shell");
    protocol.receive(once.frames, "shell");
    const onControl = frames("execute_request", { code: "on control" });
    const decoded = decode(onControl.frames, signer);
    if (!decoded.ok) throw new Error(decoded.reason);
    protocol.request(decoded.message, "control");
    await protocol.settled();
    expect(interpreter.executed.map((r) => r.code)).toEqual(["once"]);
    expect(outlet.trace(once.id).filter((t) => t.startsWith("shell"))).toEqual(["shell execute_reply ok"]);
    expect(outlet.events.every((e) => e.kind !== "send" || e.msg.parent_header.msg_id === once.id)).toBe(true);
    expect(logs.join("\n")).toMatch(/unknown message type "frobnicate_request"/);
    expect(logs.join("\n")).toMatch(/bad or missing signature/);
    expect(logs.join("\n")).toMatch(/replayed/);
    expect(logs.join("\n")).toMatch(/control: "execute_request" is not a control request/);
  });

  it("acts on an interrupt in one place: the running execution stops, replies Interrupted, and the next request runs", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const running = send("execute_request", { code: "block", stop_on_error: false });
    const after = send("execute_request", { code: "after" });
    await new Promise((r) => setImmediate(r));
    expect(interpreter.executed.map((r) => r.code)).toEqual(["block"]);
    // A control request does not wait behind the running cell.
    const ctl = newHeader("kernel_info_request", "client-session");
    protocol.request({ identities: [Buffer.from("ctl")], header: ctl, parent_header: {}, metadata: {}, content: {}, buffers: [] }, "control");
    await new Promise((r) => setImmediate(r));
    expect(outlet.trace(ctl.msg_id)).toEqual(["iopub status busy", "control kernel_info_reply ok", "iopub status idle"]);
    expect(outlet.trace(running)).not.toContain("shell execute_reply error");
    protocol.interrupt(7);
    await protocol.settled();
    expect(interpreter.interrupts).toEqual([7]);
    expect(outlet.reply(running).content).toMatchObject({ status: "error", ename: "Interrupted" });
    expect(outlet.reply(after).content).toMatchObject({ status: "ok", execution_count: 2 });
  });

  it("converts code-point cursors to UTF-16 and back", async () => {
    const { outlet, interpreter, protocol, send } = setup();
    const code = "😀😀ab";
    const id = send("complete_request", { code, cursor_pos: 4 });
    const ins = send("inspect_request", { code, cursor_pos: 3 });
    await protocol.settled();
    expect(interpreter.cursors).toEqual([6]);
    expect(outlet.reply(id).content).toMatchObject({ status: "ok", matches: ["abc"], cursor_start: 2, cursor_end: 4 });
    expect(outlet.reply(ins).content).toEqual({ status: "ok", found: true, data: { "text/plain": "doc" }, metadata: {} });
  });

  it("sends late warnings with their own request's parent, and routes stream text to the current request", async () => {
    const { outlet, protocol, send } = setup();
    const a = send("execute_request", { code: "warn late" });
    await protocol.settled();
    const b = send("execute_request", { code: "2" });
    await protocol.settled();
    await new Promise((r) => setImmediate(r));
    const warning = outlet.events.find((e) => e.kind === "stream");
    expect(warning).toMatchObject({ kind: "stream", name: "stderr", parent: { msg_id: a } });
    expect(protocol.parent?.header.msg_id).toBe(b);
    expect(protocol.stream("stdout", "later\n")).toBe(true);
    expect(outlet.events.at(-1)).toMatchObject({ kind: "stream", text: "later\n", parent: { msg_id: b } });
  });

  it("hands input_reply on stdin to the host, and sends input_request to the running request's front end", async () => {
    const replies: Message[] = [];
    const { outlet, protocol, frames, send } = setup({ onInputReply: (m) => replies.push(m) });
    send("execute_request", { code: "block" });
    await new Promise((r) => setImmediate(r));
    const msgId = protocol.sendInputRequest("name? ", false);
    expect(outlet.flushes).toBe(1);
    const req = outlet.events.find((e) => e.kind === "send" && e.channel === "stdin");
    expect(req?.kind === "send" && [req.msg.header.msg_id, req.msg.content, req.msg.identities.map(String)]).toEqual([msgId, { prompt: "name? ", password: false }, ["client-1"]]);
    protocol.receive(frames("input_reply", { value: "Ada" }).frames, "stdin");
    protocol.receive(frames("execute_request", { code: "not on stdin" }).frames, "stdin");
    expect(replies.map((m) => m.content.value)).toEqual(["Ada"]);
    protocol.interrupt(1);
    await protocol.settled();
  });

  it("routes comms, answers comm_info, and closes a comm_open for an unknown target; shutdown replies, goes idle, then hands over", async () => {
    const opened: string[] = [];
    const comms: CommRouter = {
      handleOpen: (id, target) => {
        if (target === "known") opened.push(id);
        return target === "known";
      },
      handleMsg: () => true,
      handleClose: () => true,
      list: (t) => (t === undefined || t === "known" ? Object.fromEntries(opened.map((id) => [id, { target_name: "known" }])) : {}),
    };
    const { outlet, protocol, send, shutdown } = setup({ comms });
    send("comm_open", { comm_id: "c1", target_name: "known", data: {} });
    const unknown = send("comm_open", { comm_id: "c2", target_name: "nobody", data: {} });
    const list = send("comm_info_request", {});
    const bye = send("shutdown_request", { restart: true });
    await protocol.settled();
    expect(outlet.trace(unknown)).toEqual(["iopub status busy", "iopub comm_close", "iopub status idle"]);
    expect(outlet.reply(list).content).toEqual({ status: "ok", comms: { c1: { target_name: "known" } } });
    expect(outlet.trace(bye)).toEqual(["iopub status busy", "shell shutdown_reply ok", "iopub status idle", "iopub status idle"]);
    expect(outlet.reply(bye).content).toEqual({ status: "ok", restart: true });
    expect(shutdown()).toBe(true);
  });
});
