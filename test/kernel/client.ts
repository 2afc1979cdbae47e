/**
 * A small Jupyter client over zeromq for the kernel tests and the benchmark: launches a kernel
 * process with a fresh connection file, speaks the wire protocol, and collects IOPub messages.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import type { ConnectionInfo } from "../../kernel/protocol/wire.js";

export interface Msg {
  header: { msg_id: string; msg_type: string; session: string; username: string; date: string; version: string };
  parent_header: { msg_id?: string; msg_type?: string };
  metadata: Record<string, unknown>;
  content: Record<string, any>;
  buffers: Buffer[];
}

export const REPO = join(import.meta.dirname, "..", "..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** What the tests write into a connection file: TCP on loopback, HMAC-SHA256. */
export type Connection = ConnectionInfo & { transport: "tcp"; signature_scheme: "hmac-sha256" };

export async function newConnection(): Promise<Connection> {
  const ports = new Set<number>();
  while (ports.size < 5) ports.add(await freePort());
  const [shell_port, iopub_port, stdin_port, control_port, hb_port] = [...ports] as [number, number, number, number, number];
  return { transport: "tcp", ip: "127.0.0.1", shell_port, iopub_port, stdin_port, control_port, hb_port, key: randomUUID(), signature_scheme: "hmac-sha256" };
}

type Channel = "shell" | "control" | "stdin";

export interface LaunchOptions {
  /** Command line; `{connection_file}` is replaced. Default: this repo's kernel. */
  argv?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export class KernelClient {
  readonly session = randomUUID();
  readonly iopubLog: Msg[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly replies = new Map<string, (m: Msg) => void>();
  private readonly earlyReplies = new Map<string, Msg>();
  stdinHandler: ((m: Msg) => void) | undefined;
  stderr = "";
  private closed = false;

  private constructor(
    readonly conn: Connection,
    readonly proc: ChildProcess | undefined,
    readonly cwd: string,
    private readonly shell: zmq.Dealer,
    private readonly control: zmq.Dealer,
    private readonly stdin: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly hb: zmq.Request,
  ) {}

  /** Starts a kernel and connects to it (does not wait for it to answer). */
  static async launch(opts: LaunchOptions = {}): Promise<KernelClient> {
    const conn = await newConnection();
    const cwd = opts.cwd ?? mkdtempSync(join(tmpdir(), "mdk-"));
    const file = join(cwd, "connection.json");
    writeFileSync(file, JSON.stringify(conn));
    const argv = (opts.argv ?? [process.execPath, join(REPO, "bin", "mixdistill.js"), "kernel", "{connection_file}"]).map((a) => (a === "{connection_file}" ? file : a));
    const proc = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    const client = await KernelClient.connect(conn, proc, cwd);
    proc.stderr!.on("data", (d: Buffer) => (client.stderr += d.toString()));
    proc.stdout!.on("data", () => undefined);
    return client;
  }

  static async connect(conn: Connection, proc: ChildProcess | undefined, cwd: string): Promise<KernelClient> {
    const identity = `client-${randomUUID()}`;
    const ep = (p: number) => `tcp://${conn.ip}:${p}`;
    const shell = new zmq.Dealer({ routingId: identity, linger: 0, reconnectInterval: 10 });
    const stdin = new zmq.Dealer({ routingId: identity, linger: 0 });
    const control = new zmq.Dealer({ linger: 0 });
    const iopub = new zmq.Subscriber({ linger: 0, reconnectInterval: 10 });
    const hb = new zmq.Request({ linger: 0, reconnectInterval: 10, receiveTimeout: 1000, sendTimeout: 1000, correlate: true, relaxed: true });
    shell.connect(ep(conn.shell_port));
    stdin.connect(ep(conn.stdin_port));
    control.connect(ep(conn.control_port));
    iopub.connect(ep(conn.iopub_port));
    iopub.subscribe();
    hb.connect(ep(conn.hb_port));
    const c = new KernelClient(conn, proc, cwd, shell, control, stdin, iopub, hb);
    void c.loop(shell);
    void c.loop(control);
    void c.stdinLoop();
    void c.iopubLoop();
    return c;
  }

  sign(parts: Buffer[]): string {
    const h = createHmac("sha256", this.conn.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }

  private parse(frames: Buffer[]): Msg | undefined {
    const d = frames.findIndex((f) => f.toString() === "<IDS|MSG>");
    if (d < 0) return undefined;
    const parts = frames.slice(d + 2, d + 6);
    if (frames[d + 1]!.toString() !== this.sign(parts)) throw new Error("kernel sent a badly signed message");
    const [header, parent_header, metadata, content] = parts.map((p) => JSON.parse(p.toString()));
    return { header, parent_header, metadata, content, buffers: frames.slice(d + 6) };
  }

  private async loop(sock: zmq.Dealer): Promise<void> {
    try {
      for await (const frames of sock) {
        const m = this.parse(frames);
        if (!m) continue;
        const id = m.parent_header.msg_id ?? "";
        const r = this.replies.get(id);
        if (r) {
          this.replies.delete(id);
          r(m);
        } else this.earlyReplies.set(id, m);
      }
    } catch {
      // closed
    }
  }

  private async stdinLoop(): Promise<void> {
    try {
      for await (const frames of this.stdin) {
        const m = this.parse(frames);
        if (m) this.stdinHandler?.(m);
      }
    } catch {
      // closed
    }
  }

  private async iopubLoop(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        const m = this.parse(frames);
        if (!m) continue;
        this.iopubLog.push(m);
        for (const w of [...this.waiters]) w();
      }
    } catch {
      // closed
    }
  }

  /** Frames of a signed message (for tests that tamper with them). */
  frames(msgType: string, content: Record<string, unknown>, opts: { msgId?: string; metadata?: Record<string, unknown> } = {}): Buffer[] {
    const header = { msg_id: opts.msgId ?? randomUUID(), msg_type: msgType, session: this.session, username: "test", date: new Date().toISOString(), version: "5.3" };
    const parts = [header, {}, opts.metadata ?? {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    return [Buffer.from("<IDS|MSG>"), Buffer.from(this.sign(parts)), ...parts];
  }

  async sendRaw(channel: Channel, frames: Buffer[]): Promise<void> {
    const sock = channel === "shell" ? this.shell : channel === "control" ? this.control : this.stdin;
    await sock.send(frames);
  }

  /** Sends a request; returns its msg_id. */
  async send(channel: Channel, msgType: string, content: Record<string, unknown>, parent: { msg_id?: string; msg_type?: string } = {}): Promise<string> {
    const msgId = randomUUID();
    const header = { msg_id: msgId, msg_type: msgType, session: this.session, username: "test", date: new Date().toISOString(), version: "5.3" };
    const parts = [header, parent, {}, content].map((x) => Buffer.from(JSON.stringify(x)));
    await this.sendRaw(channel, [Buffer.from("<IDS|MSG>"), Buffer.from(this.sign(parts)), ...parts]);
    return msgId;
  }

  reply(msgId: string, timeoutMs = 30_000): Promise<Msg> {
    const early = this.earlyReplies.get(msgId);
    if (early) {
      this.earlyReplies.delete(msgId);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.replies.delete(msgId);
        reject(new Error(`no reply to ${msgId} within ${timeoutMs} ms; kernel stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.replies.set(msgId, (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  async request(channel: Channel, msgType: string, content: Record<string, unknown>, timeoutMs?: number): Promise<Msg> {
    return this.reply(await this.send(channel, msgType, content), timeoutMs);
  }

  /** Resolves with the first IOPub message matching `pred` (from index `from` of the log). */
  waitIopub(pred: (m: Msg) => boolean, timeoutMs = 30_000, from = 0): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.iopubLog.length; i++) {
          if (pred(this.iopubLog[i]!)) {
            this.waiters.delete(check as () => void);
            clearTimeout(t);
            resolve(this.iopubLog[i]!);
            return true;
          }
        }
        return false;
      };
      const t = setTimeout(() => {
        this.waiters.delete(check as () => void);
        reject(new Error(`IOPub message not seen within ${timeoutMs} ms; kernel stderr:\n${this.stderr}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check as () => void);
    });
  }

  /** IOPub messages whose parent is `msgId`, in order. */
  outputsOf(msgId: string): Msg[] {
    return this.iopubLog.filter((m) => m.parent_header.msg_id === msgId);
  }

  /** Waits until the kernel answers kernel_info (re-sending, as jupyter_client does, until IOPub is connected). */
  async ready(timeoutMs = 20_000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const id = await this.send("shell", "kernel_info_request", {});
      try {
        const reply = await this.reply(id, Math.max(100, Math.min(1000, deadline - Date.now())));
        await this.waitIopub((m) => m.parent_header.msg_id === id && m.content.execution_state === "idle", 500);
        return reply;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
  }

  /** Runs code; resolves with the reply and every IOPub message of the request up to idle. */
  async execute(code: string, opts: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<{ msgId: string; reply: Msg; iopub: Msg[] }> {
    const msgId = await this.send("shell", "execute_request", { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: true, stop_on_error: true, ...opts });
    const reply = await this.reply(msgId, timeoutMs);
    await this.waitIopub((m) => m.parent_header.msg_id === msgId && m.header.msg_type === "status" && m.content.execution_state === "idle", timeoutMs);
    return { msgId, reply, iopub: this.outputsOf(msgId) };
  }

  /** Sends a heartbeat ping; resolves with the round trip in ms, rejects if no echo within the timeout. */
  async ping(): Promise<number> {
    const t = performance.now();
    await this.hb.send("ping");
    const [echo] = await this.hb.receive();
    if (echo!.toString() !== "ping") throw new Error("bad heartbeat echo");
    return performance.now() - t;
  }

  /** Asks the kernel to shut down and waits for the process to exit (kills it after a timeout). */
  async shutdown(timeoutMs = 5000): Promise<number | null> {
    if (this.closed) return null;
    const proc = this.proc;
    const exited = proc && proc.exitCode === null ? new Promise<number | null>((r) => proc.once("exit", (code) => r(code))) : Promise.resolve(proc?.exitCode ?? null);
    try {
      await this.request("control", "shutdown_request", { restart: false }, timeoutMs);
    } catch {
      // a dead kernel does not reply
    }
    const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs))]);
    if (code === "timeout") proc?.kill("SIGKILL");
    this.close();
    return code === "timeout" ? null : code;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.close();
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}
