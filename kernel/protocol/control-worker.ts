/**
 * Heartbeat, control and IOPub on their own thread, so they answer (and outputs leave) while the
 * main thread runs a long synchronous cell. An interrupt_request is handled right here: SIGINT to our own process stops
 * synchronous code run with `breakOnSigint`, and a message to the main thread aborts pending async work.
 * An interrupt the main thread does not act on (a loop after an `await` or in a timer holds it) is
 * carried out here by terminating that code through the inspector when that is safe; otherwise the
 * cell is told that a restart is needed. Other control requests (shutdown, kernel_info, ...) are
 * forwarded to the main thread's dispatcher.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import { type ConnectionInfo, type DecodeLimits, type Header, type Message, DigestHistory, Signer, decode, encode, endpoint, newHeader } from "./wire.js";
import { type FromControl, STOPPABLE_CELL, STOPPABLE_CELL_WATCHING, STOPPABLE_IDLE, STOPPABLE_NO_IMPORTING, type ToControl, markSpent, unpackFrames } from "./control-bridge.js";

interface ControlWorkerData {
  info: ConnectionInfo;
  session: string;
  kernelId: string;
  interrupts: Int32Array;
  limits: DecodeLimits;
  /** The launcher's pid, read by the main thread at start-up (the worker may start after it died). */
  launcher: number;
}

const port = parentPort;
if (!port) throw new Error("control-worker must run as a worker thread");
const { info, session, kernelId, limits, interrupts, launcher } = workerData as ControlWorkerData;
const signer = new Signer(info.key, info.signature_scheme);
/** Signatures already accepted on control: a replayed request is dropped. */
const digests = new DigestHistory();
const post = (m: FromControl): void => port.postMessage(m);
/**
 * Holds back the interrupt's message to the main thread this long (tests only: it makes the main
 * thread see the next execute_request first, the order a loaded machine can produce). Default 0.
 */
const POST_DELAY_MS = Math.max(0, Number(process.env.MIXDISTILL_INTERRUPT_POST_DELAY_MS ?? 0) || 0);

// Like ipykernel's parent poller: when the process that launched the kernel dies (a killed server or
// test runner), the kernel is re-parented and ends itself instead of running on as an orphan. The check
// lives on this thread so it also fires while the main thread is stuck in a cell.
if (launcher > 1 && process.env.MIXDISTILL_ORPHAN_EXIT !== "0") {
  setInterval(() => {
    if (process.ppid !== launcher) process.kill(process.pid, "SIGKILL");
  }, 500).unref();
}

const hb = new zmq.Reply({ linger: 0 });
const control = new zmq.Router({ linger: 0, maxMessageSize: 64 * 1024 * 1024 });
const iopub = new zmq.Publisher({ linger: 1000, sendHighWaterMark: 100_000 });

// One send in flight per socket (zeromq.js throws EBUSY otherwise); nothing is sent before binding.
let bound: () => void;
const boundPromise = new Promise<void>((r) => (bound = r));
let controlTail: Promise<void> = boundPromise;
let iopubTail: Promise<void> = boundPromise;
const sendControl = (frames: Buffer[]): void => {
  controlTail = controlTail.then(() => control.send(frames)).catch((err: unknown) => {
    post({ type: "log", text: `control send failed: ${String(err)}` });
  });
};
const publish = (frames: Buffer[]): void => {
  iopubTail = iopubTail.then(() => iopub.send(frames)).catch((err: unknown) => {
    post({ type: "log", text: `iopub send failed: ${String(err)}` });
  });
};

async function heartbeat(): Promise<void> {
  try {
    for await (const frames of hb) await hb.send(frames);
  } catch (err) {
    if (!hb.closed) post({ type: "log", text: `heartbeat stopped: ${String(err)}` });
  }
}

function toWire(m: Message): FromControl {
  return { type: "request", message: m };
}

/** Cell code must have run this long before a SIGINT is sent (Node's watchdog is up by then). */
const SETTLE_MS = 20;

/**
 * SIGINT to this process for interrupt `seq`, when the main thread runs cell code with `breakOnSigint`
 * (which it stops). Not once the main thread has acted on `seq`: a signal put off until cell code has
 * settled would otherwise land in a later cell that started in the meantime.
 */
function sigint(seq: number): void {
  if (Atomics.load(interrupts, 1) >= seq) return;
  if (Atomics.load(interrupts, 2) !== 1) return;
  const running = (Date.now() % 2 ** 31) - Atomics.load(interrupts, 3);
  if (running >= 0 && running < SETTLE_MS) setTimeout(() => sigint(seq), SETTLE_MS - running);
  else process.kill(process.pid, "SIGINT");
}

/** SIGINT again every 150 ms (up to 3 s) while the main thread has not acted on interrupt `seq`. */
function resignalUntilConsumed(seq: number, tries = 20): void {
  setTimeout(() => {
    if (Atomics.load(interrupts, 1) >= seq || tries <= 0) return;
    sigint(seq);
    resignalUntilConsumed(seq, tries - 1);
  }, 150);
}

/**
 * An interrupt the main thread has not acted on this long means it has not run its event loop since:
 * it is held by synchronous code that `breakOnSigint` does not cover (a loop after an `await` in a
 * cell, in a timer, a callback or a comm handler), or by a long native call.
 */
const STUCK_MS = 500;
/** After terminating, how long the main thread has to act on the interrupt before the notice goes out. */
const AFTER_TERMINATE_MS = 250;

/** The execute_request a notice belongs to (the running or last cell). */
let lastParent: Partial<Header> | undefined;
/** An interrupt number the main thread is stuck on (the notice went out), while it stays unconsumed. */
let stuckOn = 0;
const consumed = (seq: number): boolean => Atomics.load(interrupts, 1) >= seq;
const isStuck = (): boolean => stuckOn > 0 && !consumed(stuckOn);
/** An interrupt that found a cell in a long step of code that watches its signal (the user was told). */
let waitedOn = 0;

/** Text on the last cell's stderr, sent from here (the main thread cannot). */
function notice(text: string, parent = lastParent): void {
  flushStream();
  publish(encode(signer, [Buffer.from(`kernel.${kernelId}.stream`)], newHeader("stream", session), parent ?? {}, {}, { name: "stderr", text }));
}

/**
 * Ends the JavaScript the main thread is running, through the inspector (`Runtime.terminateExecution`
 * on a session connected to the main thread; the one command it serves while that thread is busy).
 * The termination unwinds that code's stack and drops the promise callbacks queued with it; globals
 * and everything else stay. Resolves with whether the inspector answered.
 */
async function terminateMainThread(seq: number): Promise<boolean> {
  let inspector: typeof import("node:inspector");
  try {
    inspector = await import("node:inspector");
  } catch {
    return false;
  }
  const s = new inspector.Session();
  try {
    s.connectToMainThread();
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    // Checked again at the last moment: termination applies to the main thread's next JavaScript
    // too, and once it runs again that would be the kernel's own.
    if (consumed(seq)) {
      s.disconnect();
      resolve(false);
      return;
    }
    s.post("Runtime.terminateExecution", (err) => {
      // A session left connected makes the process wait for "the debugger" when it exits.
      s.disconnect();
      resolve(!err);
    });
  });
}

const RESTART_HINT = "Restart the kernel to stop it (Kernel > Restart in JupyterLab); variables and imports are lost.";

/**
 * Interrupt `seq` not acted on after STUCK_MS: stop what holds the main thread when that is safe (a
 * cell awaiting code that loops, or an idle kernel with a looping timer), else tell the user, in the
 * cell's output, that the loop cannot be interrupted and a restart is needed.
 */
function watchStuck(seq: number, told = false, alive = Atomics.load(interrupts, 6)): void {
  setTimeout(() => {
    if (consumed(seq)) return;
    // The main thread's event loop turned during the wait: it is slow (a loaded machine), not held by
    // a loop; terminating now would cut the kernel's own work. Watch again.
    const now = Atomics.load(interrupts, 6);
    if (now !== alive) {
      watchStuck(seq, told, now);
      return;
    }
    const state = Atomics.load(interrupts, 4);
    if (state === STOPPABLE_NO_IMPORTING) {
      // Watched on: what the cell runs once the module has loaded is stopped as usual.
      if (!told) notice("Interrupt: the kernel is loading a module the cell imports; its top-level code cannot be stopped without leaving the module unusable. The interrupt takes effect once it has loaded.\n");
      watchStuck(seq, true);
      return;
    }
    if (state === STOPPABLE_CELL_WATCHING && !(waitedOn > 0 && waitedOn < seq && !consumed(waitedOn))) {
      // Code that checks the signal (a training loop between steps) stops cleanly at its next check;
      // cutting a step short would leave its state half-updated. A second interrupt cuts it.
      waitedOn = seq;
      notice("Interrupt: the cell is in a long synchronous step of code that watches the interrupt signal; it stops when that step ends. Interrupt again to stop it where it is.\n");
      return;
    }
    if (state !== STOPPABLE_CELL && state !== STOPPABLE_CELL_WATCHING && state !== STOPPABLE_IDLE) {
      stuckOn = seq;
      notice(`Interrupt: the kernel is held by synchronous code that an interrupt cannot stop here (a loop in a comm or widget handler, or one after an await or in a timer while an async hook is enabled). ${RESTART_HINT}\n`);
      return;
    }
    // Stopping the loop is all this interrupt does: a request queued behind it must not be stopped too.
    if (state === STOPPABLE_IDLE) markSpent(interrupts, seq);
    // The cell that was running or ran last (a request waiting behind the loop becomes the parent once it starts).
    const parent = lastParent;
    void terminateMainThread(seq).then((answered) => {
      setTimeout(() => {
        if (!consumed(seq)) {
          stuckOn = seq;
          notice(`Interrupt: the kernel is busy in code that an interrupt cannot stop (a long native call?). ${RESTART_HINT}\n`, parent);
        } else if (answered && state === STOPPABLE_IDLE) {
          notice("Interrupted: stopped a synchronous loop in a timer or callback of an earlier cell; variables are kept.\n", parent);
        }
      }, AFTER_TERMINATE_MS);
    });
  }, STUCK_MS).unref();
}

/**
 * A shutdown_request while the main thread is stuck (the notice went out): answered here and the
 * process ends, so a front end's restart does not wait for a thread that will not answer.
 */
function shutdownStuck(msg: Message): void {
  const restart = msg.content.restart === true;
  sendControl(encode(signer, msg.identities, newHeader("shutdown_reply", session), msg.header, {}, { status: "ok", restart }));
  // A sent message is only queued in ZeroMQ: give it a moment on the wire before the process ends.
  void Promise.all([controlTail, iopubTail]).then(() => setTimeout(() => process.kill(process.pid, "SIGKILL"), 200));
}

async function controlLoop(): Promise<void> {
  try {
    for await (const frames of control) {
      const d = decode(frames, signer, limits, digests);
      if (!d.ok) {
        post({ type: "log", text: `control: dropped message: ${d.reason}` });
        continue;
      }
      const msg = d.message;
      if (msg.header.msg_type === "interrupt_request") {
        // Count it, tell the main thread, then signal: whichever the main thread sees first stops the cell.
        const seq = Atomics.add(interrupts, 0, 1) + 1;
        // No request is running: the interrupt is older than any cell still to start, so none may take it.
        if (Atomics.load(interrupts, 7) === 0) markSpent(interrupts, seq);
        if (POST_DELAY_MS > 0) setTimeout(() => post({ type: "interrupt", seq }), POST_DELAY_MS);
        else post({ type: "interrupt", seq });
        sigint(seq);
        resignalUntilConsumed(seq);
        watchStuck(seq);
        sendControl(
          encode(signer, msg.identities, newHeader("interrupt_reply", session), msg.header, {}, { status: "ok" }),
        );
        continue;
      }
      if (msg.header.msg_type === "shutdown_request" && isStuck()) {
        shutdownStuck(msg);
        continue;
      }
      post(toWire(msg));
    }
  } catch (err) {
    if (!control.closed) post({ type: "log", text: `control stopped: ${String(err)}` });
  }
}

// Stream text waiting to go out: consecutive writes to one stream with one parent become one message.
let pending: { name: string; text: string; parent: Partial<Header> } | undefined;
let flushScheduled = false;
const flushStream = (): void => {
  const p = pending;
  if (!p) return;
  pending = undefined;
  publish(encode(signer, [Buffer.from(`kernel.${kernelId}.stream`)], newHeader("stream", session), p.parent, {}, { name: p.name, text: p.text }));
};

port.on("message", (m: ToControl) => {
  if (m.type === "stream") {
    if (pending && (pending.name !== m.name || pending.parent.msg_id !== m.parent.msg_id)) flushStream();
    if (pending) pending.text += m.text;
    else pending = { name: m.name, text: m.text, parent: m.parent };
    if (pending.text.length > 64 * 1024) flushStream();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        flushStream();
      });
    }
    return;
  }
  if (m.type === "parent") {
    lastParent = m.parent;
    return;
  }
  if (m.type !== "send") flushStream();
  if (m.type === "send") sendControl(unpackFrames(m.data, m.lengths));
  else if (m.type === "publish") publish(unpackFrames(m.data, m.lengths));
  else if (m.type === "close") {
    void Promise.all([controlTail, iopubTail]).then(() => {
      hb.close();
      control.close();
      iopub.close();
      post({ type: "closed" });
    });
  }
});

try {
  await Promise.all([
    hb.bind(endpoint(info, info.hb_port)),
    control.bind(endpoint(info, info.control_port)),
    iopub.bind(endpoint(info, info.iopub_port)),
  ]);
  bound!();
  post({ type: "ready" });
  void heartbeat();
  void controlLoop();
} catch (err) {
  post({ type: "bind-error", text: String(err) });
}
