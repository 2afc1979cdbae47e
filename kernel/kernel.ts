/**
 * The kernel: a composition of its parts, each readable and testable alone.
 * - Transport (kernel/transport.ts): the sockets and their receive loops, the I/O thread.
 * - Protocol (kernel/protocol/dispatch.ts): verification, dispatch, status brackets, replies.
 * - Interpreter (kernel/interpreter.ts): execute, complete, inspect, is_complete, history.
 * - KernelHost (kernel/host.ts): console and stdout capture, stdin input, cell globals, widgets.
 */
import process from "node:process";
import { setInterval, clearInterval } from "node:timers";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Comms } from "./comms.js";
import { KernelHost } from "./host.js";
import { TypeScriptInterpreter } from "./interpreter.js";
import { Protocol } from "./protocol/dispatch.js";
import { type ConnectionInfo, DEFAULT_LIMITS } from "./protocol/wire.js";
import { disableAsyncHookChecks } from "./protocol/control-bridge.js";
import { Transport } from "./transport.js";
import { holdSigintWatchdog } from "./execute/sigint-watchdog.js";

/** The package root, seen from dist/kernel/kernel.js. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface KernelOptions {
  info: ConnectionInfo;
  /** Where cells resolve relative paths and packages (the notebook's directory). */
  cwd: string;
  /** Root of the mixdistill package (default: the one this file was built into). */
  packageRoot?: string;
  /** Writes a log line to the kernel's own stderr (not to a notebook). */
  log?: (line: string) => void;
  /** Run the TypeScript language service (completion, inspection, diagnostics). Default true. */
  languageService?: boolean;
  /** Type-check cells and report type errors as warnings (default true). */
  typeCheck?: boolean;
  /** Largest JSON frame accepted (bytes); larger messages are dropped. */
  maxJsonBytes?: number;
}

export class Kernel {
  readonly session = randomUUID();
  readonly transport: Transport;
  readonly protocol: Protocol;
  readonly interpreter: TypeScriptInterpreter;
  readonly host: KernelHost;
  readonly comms: Comms;
  private shuttingDown = false;
  /** zeromq's pending receives do not hold the event loop open; this does, until shutdown. */
  private readonly keepAlive = setInterval(() => undefined, 1 << 30);

  private constructor(opts: KernelOptions) {
    const packageRoot = opts.packageRoot ?? PACKAGE_ROOT;
    const realStderrWrite = process.stderr.write.bind(process.stderr);
    const log = opts.log ?? ((line: string) => void realStderrWrite(`[mixdistill] ${line}\n`));
    const kernelId = opts.info.kernel_name ?? "mixdistill";
    const limits = { maxJsonBytes: opts.maxJsonBytes ?? DEFAULT_LIMITS.maxJsonBytes };
    // So that the I/O thread can stop a loop in a timer callback without Node aborting the process.
    const asyncChecksOff = disableAsyncHookChecks();
    this.transport = new Transport({ info: opts.info, session: this.session, kernelId, limits, log, asyncChecksOff });
    this.transport.controlReady.catch((err: unknown) => {
      log(`cannot start the heartbeat/control/iopub thread: ${(err as Error)?.message ?? String(err)}`);
      process.exit(1);
    });
    const interrupts = this.transport.interrupts;
    this.interpreter = new TypeScriptInterpreter({
      cwd: opts.cwd,
      packageRoot,
      languageService: opts.languageService,
      typeCheck: opts.typeCheck,
      interrupts,
      prepare: () => this.host.loadWidgets(),
      log,
    });
    this.comms = new Comms(
      { publish: (type, content, metadata, buffers) => this.protocol.publish(type, content, this.protocol.parent, metadata ?? {}, buffers) },
      (where, err) => this.host.reportBackgroundError(`Error in ${where}`, err),
    );
    this.protocol = new Protocol({
      info: opts.info,
      session: this.session,
      kernelId,
      limits,
      interpreter: this.interpreter,
      comms: this.comms,
      outlet: this.transport,
      log,
      onInputReply: (msg) => this.host.onInputReply(msg),
      onShutdown: async () => {
        await this.close();
        process.exit(0);
      },
    });
    this.host = new KernelHost({ protocol: this.protocol, interpreter: this.interpreter, comms: this.comms, log });
  }

  static async start(opts: KernelOptions): Promise<Kernel> {
    // SIGINT only breaks `breakOnSigint` code, it never kills the kernel: the held watchdog swallows one
    // between cells; where it cannot be held, our own listener does.
    if (!holdSigintWatchdog()) process.on("SIGINT", () => undefined);
    const k = new Kernel(opts);
    k.host.install();
    await k.transport.listen(k.protocol);
    k.protocol.publish("status", { execution_state: "starting" }, undefined);
    return k;
  }

  /** Flushes what is queued, closes every socket (control thread first), and stops helpers. */
  async close(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    clearInterval(this.keepAlive);
    await this.transport.close();
    await this.interpreter.close();
  }
}
