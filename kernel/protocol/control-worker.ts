/**
 * Heartbeat, control and IOPub on their own thread, so they answer (and outputs leave) while the
 * main thread runs a long synchronous cell. An interrupt_request is handled right here: SIGINT to our own process stops
 * synchronous code run with `breakOnSigint`, and a message to the main thread aborts pending async work.
 * Other control requests (shutdown, kernel_info, ...) are forwarded to the main thread's dispatcher.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import { type ConnectionInfo, type DecodeLimits, type Header, type Message, DigestHistory, Signer, decode, encode, endpoint, newHeader } from "./wire.js";
import { type FromControl, type ToControl, unpackFrames } from "./control-bridge.js";

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
        post({ type: "interrupt", seq });
        sigint(seq);
        resignalUntilConsumed(seq);
        sendControl(
          encode(signer, msg.identities, newHeader("interrupt_reply", session), msg.header, {}, { status: "ok" }),
        );
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
