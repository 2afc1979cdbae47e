/**
 * Kernel latency against Debian's ipykernel, measured in the same run through the same client:
 * launch -> kernel_info reply, `1+1` round trip, a cell with a declaration, a 1 MB display.
 * Also interrupt latency and the heartbeat during a 30-second synchronous computation (ours only).
 * `npm run bench -- kernel [--runs N] [--no-heartbeat]`. The last line printed is one JSON object.
 */
import { KernelClient, type Msg, REPO } from "../test/kernel/client.js";
import { join } from "node:path";

const args = process.argv.slice(2);
const runsArg = args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 20;
const LAUNCHES = Math.max(3, Math.round(RUNS / 4));
const HEARTBEAT = !args.includes("--no-heartbeat");

interface Peer {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  onePlusOne: string;
  declaration: string;
  display1MB: string;
}

const PEERS: Peer[] = [
  {
    name: "mixdistill",
    argv: [process.execPath, join(REPO, "bin", "mixdistill.js"), "kernel", "{connection_file}"],
    onePlusOne: "1+1",
    declaration: "const declared: number = 42",
    display1MB: "display({ 'text/plain': 'x'.repeat(1 << 20) })",
  },
  {
    name: "mixdistill (type check off)",
    argv: [process.execPath, join(REPO, "bin", "mixdistill.js"), "kernel", "{connection_file}"],
    env: { MIXDISTILL_TYPECHECK: "0" },
    onePlusOne: "1+1",
    declaration: "const declared: number = 42",
    display1MB: "display({ 'text/plain': 'x'.repeat(1 << 20) })",
  },
  {
    name: "ipykernel",
    argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    onePlusOne: "1+1",
    declaration: "declared: int = 42",
    display1MB: "from IPython.display import display as _d; _d({'text/plain': 'x' * (1 << 20)}, raw=True)",
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

async function launchOnce(peer: Peer): Promise<number> {
  const t0 = performance.now();
  const k = await KernelClient.launch({ argv: peer.argv, env: peer.env });
  const id = await k.send("shell", "kernel_info_request", {});
  await k.reply(id, 30_000);
  const ms = performance.now() - t0;
  await k.shutdown();
  return ms;
}

async function timeCell(k: KernelClient, code: string): Promise<number> {
  const t = performance.now();
  const r = await k.execute(code, { store_history: false });
  const ms = performance.now() - t;
  if (r.reply.content.status !== "ok") throw new Error(`cell failed: ${JSON.stringify(r.reply.content).slice(0, 500)}`);
  return ms;
}

type Timings = { launchMs: number; onePlusOneMs: number; freshCellMs: number; declarationMs: number; display1MBMs: number };

/**
 * Every peer is measured in the same loop, one request each in turn, so that load from other
 * processes on the machine falls on all of them alike.
 */
async function measureAll(peers: Peer[], launchPeers: Peer[]): Promise<Timings[]> {
  const launch = new Map<Peer, number[]>(launchPeers.map((p) => [p, []]));
  for (let i = 0; i < LAUNCHES; i++) for (const p of launchPeers) launch.get(p)!.push(await launchOnce(p));
  const kernels: KernelClient[] = [];
  for (const p of peers) {
    const k = await KernelClient.launch({ argv: p.argv, env: p.env });
    await k.ready();
    // Our language service loads in the background; wait for it so every measured cell is type-checked.
    await k.request("shell", "complete_request", { code: "Ma", cursor_pos: 2 }, 60_000);
    for (let i = 0; i < 5; i++) await timeCell(k, p.onePlusOne); // warm-up
    kernels.push(k);
  }
  const cells = peers.map(() => ({ onePlusOne: [] as number[], freshCell: [] as number[], declaration: [] as number[], display1MB: [] as number[] }));
  for (let i = 0; i < RUNS; i++) {
    // A cell never seen before (`1+<n>`): nothing a kernel could have cached about it.
    const fresh = `1+${i + 1000 * Math.floor(Math.random() * 1e6)}`;
    for (let j = 0; j < peers.length; j++) {
      const k = kernels[j]!;
      const p = peers[j]!;
      cells[j]!.onePlusOne.push(await timeCell(k, p.onePlusOne));
      cells[j]!.freshCell.push(await timeCell(k, fresh));
      cells[j]!.declaration.push(await timeCell(k, p.declaration));
      k.iopubLog.length = 0;
    }
  }
  // The 1 MB displays in a loop of their own, so that their garbage does not land on the small cells.
  for (let i = 0; i < Math.max(5, RUNS / 2); i++) {
    for (let j = 0; j < peers.length; j++) {
      cells[j]!.display1MB.push(await timeCell(kernels[j]!, peers[j]!.display1MB));
      kernels[j]!.iopubLog.length = 0;
    }
  }
  for (const k of kernels) await k.shutdown();
  return peers.map((p, j) => {
    const c = cells[j]!;
    const l = launch.get(p) ?? [];
    const r: Timings = {
      launchMs: l.length ? round(median(l)) : NaN,
      onePlusOneMs: round(median(c.onePlusOne)),
      freshCellMs: round(median(c.freshCell)),
      declarationMs: round(median(c.declaration)),
      display1MBMs: round(median(c.display1MB)),
    };
    console.log(`${p.name.padEnd(28)} launch->kernel_info ${r.launchMs} ms | 1+1 ${r.onePlusOneMs} ms | fresh 1+n ${r.freshCellMs} ms | declaration ${r.declarationMs} ms | 1 MB display ${r.display1MBMs} ms`);
    return r;
  });
}

/** Interrupt latency (sync loop, pending promise) and the heartbeat during a 30 s blocking cell. */
async function robustness() {
  const k = await KernelClient.launch();
  await k.ready();
  const interrupt = async (code: string): Promise<number> => {
    const id = await k.send("shell", "execute_request", { code, stop_on_error: false, store_history: false });
    await k.waitIopub((m: Msg) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 200));
    const t = performance.now();
    await k.send("control", "interrupt_request", {});
    const reply = await k.reply(id, 10_000);
    if (reply.content.ename !== "Interrupted") throw new Error(`not interrupted: ${JSON.stringify(reply.content)}`);
    return performance.now() - t;
  };
  const syncLoop: number[] = [];
  const pending: number[] = [];
  for (let i = 0; i < 5; i++) {
    syncLoop.push(await interrupt("while (true) {}"));
    pending.push(await interrupt("await new Promise(() => {})"));
  }
  const out: Record<string, unknown> = { interruptSyncLoopMs: round(median(syncLoop)), interruptPendingPromiseMs: round(median(pending)) };
  console.log(`interrupt: while(true) stopped in ${out.interruptSyncLoopMs} ms, pending promise in ${out.interruptPendingPromiseMs} ms (medians of 5)`);
  if (HEARTBEAT) {
    const id = await k.send("shell", "execute_request", { code: "const until = Date.now() + 30_000; while (Date.now() < until) {}", store_history: false });
    await k.waitIopub((m: Msg) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    let done = false;
    void k.reply(id, 60_000).then(() => (done = true));
    const pings: number[] = [];
    let missed = 0;
    while (!done) {
      try {
        pings.push(await k.ping()); // a ping with no echo within 1 s counts as missed
      } catch {
        missed++;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    out.heartbeat30s = { pings: pings.length, missed, medianMs: round(median(pings)), maxMs: round(Math.max(...pings)) };
    console.log(`heartbeat during a 30 s synchronous cell: ${pings.length} pings answered, ${missed} missed (no echo within 1 s), max ${round(Math.max(...pings))} ms`);
  }
  await k.shutdown();
  return out;
}

const [ours, oursNoCheck, ipy] = (await measureAll(PEERS, [PEERS[0]!, PEERS[2]!])) as [Timings, Timings, Timings];
const ratiosOf = (a: Timings) => ({
  launch: round(ours.launchMs / ipy.launchMs, 3),
  onePlusOne: round(a.onePlusOneMs / ipy.onePlusOneMs, 3),
  freshCell: round(a.freshCellMs / ipy.freshCellMs, 3),
  declaration: round(a.declarationMs / ipy.declarationMs, 3),
  display1MB: round(a.display1MBMs / ipy.display1MBMs, 3),
});
const ratios = ratiosOf(ours);
const ratiosNoCheck = ratiosOf(oursNoCheck);
console.log(`ratios to ipykernel: launch ${ratios.launch} (target <= 0.4), 1+1 ${ratios.onePlusOne} (target <= 0.5), fresh 1+n ${ratios.freshCell}, declaration ${ratios.declaration}, 1 MB display ${ratios.display1MB}`);
console.log(`  with the type check off: 1+1 ${ratiosNoCheck.onePlusOne}, fresh 1+n ${ratiosNoCheck.freshCell}, declaration ${ratiosNoCheck.declaration}, 1 MB display ${ratiosNoCheck.display1MB}`);
const extra = await robustness();
console.log(
  JSON.stringify({
    bench: "kernel",
    runs: RUNS,
    launches: LAUNCHES,
    mixdistill: ours,
    mixdistillTypeCheckOff: { ...oursNoCheck, launchMs: ours.launchMs },
    ipykernel: ipy,
    ratios,
    ratiosTypeCheckOff: ratiosNoCheck,
    targets: { launch: 0.4, onePlusOne: 0.5 },
    targetsMet: { launch: ratios.launch <= 0.4, onePlusOne: ratios.onePlusOne <= 0.5, onePlusOneTypeCheckOff: ratiosNoCheck.onePlusOne <= 0.5 },
    ...extra,
  }),
);
