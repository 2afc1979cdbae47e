/** Interrupts keep state; the heartbeat answers while the main thread is blocked. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type Msg } from "./client.js";

let k: KernelClient;
const resultOf = (msgs: Msg[]) => msgs.find((m) => m.header.msg_type === "execute_result")?.content.data;

beforeAll(async () => {
  k = await KernelClient.launch();
  await k.ready();
});

afterAll(async () => {
  expect(await k.shutdown()).toBe(0);
});

/** Starts `code`, waits until it is running, interrupts, and returns the reply and how long it took. */
async function interruptDuring(code: string): Promise<{ reply: Msg; ms: number }> {
  const id = await k.send("shell", "execute_request", { code, stop_on_error: false });
  await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
  await new Promise((r) => setTimeout(r, 200));
  const t = performance.now();
  const ir = await k.request("control", "interrupt_request", {}, 5000);
  expect(ir.content.status).toBe("ok");
  // Generous bound: the test asserts that it stops, the bench reports how fast.
  const reply = await k.reply(id, 5000);
  return { reply, ms: performance.now() - t };
}

describe("interrupt", () => {
  it("stops `while (true) {}` and keeps variables defined before", async () => {
    await k.execute("const keptBefore = 'still here'; let counter = 0");
    const { reply, ms } = await interruptDuring("while (true) { counter++ }");
    expect(reply.content.status).toBe("error");
    expect(reply.content.ename).toBe("Interrupted");
    console.log(`sync loop interrupted after ${ms.toFixed(0)} ms`);
    const r = await k.execute("[keptBefore, counter > 0]");
    expect(resultOf(r.iopub)).toEqual({ "text/plain": "[ 'still here', true ]" });
  });

  it("stops `await new Promise(() => {})` and aborts the cell's signal", async () => {
    await k.execute("let sawAbort = false");
    const { reply, ms } = await interruptDuring("interruptSignal().addEventListener('abort', () => { sawAbort = true }); await new Promise(() => {})");
    expect(reply.content.ename).toBe("Interrupted");
    console.log(`pending promise interrupted after ${ms.toFixed(0)} ms`);
    expect(resultOf((await k.execute("sawAbort")).iopub)).toEqual({ "text/plain": "true" });
  });

  it("interrupting a synchronous cell does not touch the cell queued behind it", async () => {
    const a = await k.send("shell", "execute_request", { code: "while (true) {}", stop_on_error: false });
    const b = await k.send("shell", "execute_request", { code: "await new Promise((r) => setTimeout(r, 300)); 'b finished'", stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === a && m.header.msg_type === "execute_input");
    await k.request("control", "interrupt_request", {});
    expect((await k.reply(a)).content.ename).toBe("Interrupted");
    expect((await k.reply(b)).content.status).toBe("ok");
    const result = await k.waitIopub((m) => m.parent_header.msg_id === b && m.header.msg_type === "execute_result");
    expect(result.content.data["text/plain"]).toBe("'b finished'");
  });

  it("interrupts at any moment of a cell's start stop it and nothing else (15 rounds)", async () => {
    for (let i = 0; i < 15; i++) {
      const a = await k.send("shell", "execute_request", { code: "while (true) {}", stop_on_error: false });
      const b = await k.send("shell", "execute_request", { code: `${i} * 2`, stop_on_error: false });
      await k.waitIopub((m) => m.parent_header.msg_id === a && m.header.msg_type === "execute_input");
      await new Promise((r) => setTimeout(r, (i % 5) * 7));
      expect((await k.request("control", "interrupt_request", {}, 5000)).content.status).toBe("ok");
      expect((await k.reply(a, 5000)).content.ename).toBe("Interrupted");
      expect((await k.reply(b, 5000)).content.status).toBe("ok");
    }
  });

  it("an interrupt while idle is harmless: it never stops the cell sent after its reply (40 rounds)", async () => {
    // The reply comes before the cell is sent, so the interrupt is older than the request: the
    // main thread may see the two in either order, and the cell must run in both.
    for (let i = 0; i < 40; i++) {
      expect((await k.request("control", "interrupt_request", {})).content.status).toBe("ok");
      const r = await k.execute(`${i} + 2`);
      expect(r.reply.content.status, `round ${i}: ${JSON.stringify(r.reply.content)}`).toBe("ok");
      expect(resultOf(r.iopub)).toEqual({ "text/plain": String(i + 2) });
    }
  });

  it("a SIGINT sent to the kernel process while it is idle does not end it", async () => {
    process.kill(k.proc!.pid!, "SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    expect(k.proc!.exitCode).toBe(null);
    expect(resultOf((await k.execute("'alive after SIGINT'")).iopub)).toEqual({ "text/plain": "'alive after SIGINT'" });
    const { reply } = await interruptDuring("while (true) {}");
    expect(reply.content.ename).toBe("Interrupted");
  });

  it("a cell's own SIGINT listener leaves interrupts working (and the kernel alive)", async () => {
    await k.execute("let heard = 0; process.on('SIGINT', () => { heard++ })");
    const { reply } = await interruptDuring("while (true) {}");
    expect(reply.content.ename).toBe("Interrupted");
    process.kill(k.proc!.pid!, "SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    expect(resultOf((await k.execute("heard > 0")).iopub)).toEqual({ "text/plain": "true" });
    await k.execute("process.removeAllListeners('SIGINT')");
    process.kill(k.proc!.pid!, "SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    expect(k.proc!.exitCode).toBe(null);
    expect((await interruptDuring("while (true) {}")).reply.content.ename).toBe("Interrupted");
  });

  it("interrupts a pending input() request", async () => {
    const { reply } = await interruptDuring("await input('never answered')");
    expect(reply.content.status).toBe("error");
    expect(resultOf((await k.execute("'alive'")).iopub)).toEqual({ "text/plain": "'alive'" });
  });
});

/** Interrupts a running `while (true) {}` on `c`: the cell ends Interrupted and the next one runs. */
async function stopsALoopThenRunsTheNextCell(c: KernelClient): Promise<void> {
  const id = await c.send("shell", "execute_request", { code: "while (true) {}", stop_on_error: false });
  await c.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
  await new Promise((r) => setTimeout(r, 200));
  expect((await c.request("control", "interrupt_request", {}, 5000)).content.status).toBe("ok");
  expect((await c.reply(id, 5000)).content.ename).toBe("Interrupted");
  expect(resultOf((await c.execute("'after'")).iopub)).toEqual({ "text/plain": "'after'" });
}

describe("interrupts whose message reaches the main thread late", () => {
  // The I/O thread holds back its message to the main thread, so the next execute_request comes first:
  // the order a loaded machine can produce, made certain.
  let slow: KernelClient;
  beforeAll(async () => {
    slow = await KernelClient.launch({ env: { MIXDISTILL_INTERRUPT_POST_DELAY_MS: "400" } });
    await slow.ready();
  });
  afterAll(async () => {
    expect(await slow.shutdown()).toBe(0);
  });

  it("an interrupt answered while idle does not stop the cell sent after it", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await slow.request("control", "interrupt_request", {})).content.status).toBe("ok");
      const r = await slow.execute(`${i} + 2`);
      expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
      expect(resultOf(r.iopub)).toEqual({ "text/plain": String(i + 2) });
    }
  });

  it("an interrupt that reaches the main thread after its cell ended does not stop the next cell", async () => {
    // The cell awaits (no SIGINT for it) and ends before the held-back message arrives.
    const a = await slow.send("shell", "execute_request", { code: "await new Promise((r) => setTimeout(r, 150)); 'a'", stop_on_error: false });
    await slow.waitIopub((m) => m.parent_header.msg_id === a && m.header.msg_type === "execute_input");
    expect((await slow.request("control", "interrupt_request", {})).content.status).toBe("ok");
    await slow.reply(a, 5000);
    const b = await slow.execute("'b ran'");
    expect(b.reply.content.status, JSON.stringify(b.reply.content)).toBe("ok");
    expect(resultOf(b.iopub)).toEqual({ "text/plain": "'b ran'" });
  });

  it("an interrupt while a cell runs still stops it, and the one after it runs", async () => {
    await stopsALoopThenRunsTheNextCell(slow);
  });

  it("an interrupt that comes after a cell was sent, before its code starts, stops it", async () => {
    const blocker = await slow.send("shell", "execute_request", { code: "const until = Date.now() + 600; while (Date.now() < until) {}", stop_on_error: false });
    await slow.waitIopub((m) => m.parent_header.msg_id === blocker && m.header.msg_type === "execute_input");
    const queued = await slow.send("shell", "execute_request", { code: "'should not run'", stop_on_error: false });
    // The blocker holds the main thread past the SIGINT window's start: the interrupt lands on it or on the queued cell.
    expect((await slow.request("control", "interrupt_request", {}, 5000)).content.status).toBe("ok");
    const replies = [(await slow.reply(blocker, 5000)).content, (await slow.reply(queued, 5000)).content];
    expect(replies.filter((c) => c.ename === "Interrupted")).toHaveLength(1);
  });
});

describe("an interrupt that reaches the I/O thread after a reply, before the kernel marks itself idle", () => {
  // The main thread is held between the last request's end and marking itself idle, so the interrupt
  // sent on seeing the reply is counted while the kernel still looks busy, and the interrupt's message
  // is held back so the next execute_request reaches the main thread first: the order a loaded machine
  // can produce, made certain.
  let held: KernelClient;
  beforeAll(async () => {
    held = await KernelClient.launch({ env: { MIXDISTILL_IDLE_MARK_DELAY_MS: "300", MIXDISTILL_INTERRUPT_POST_DELAY_MS: "400" } });
    await held.ready();
  });
  afterAll(async () => {
    expect(await held.shutdown()).toBe(0);
  });

  it("does not stop the cell sent after it", async () => {
    for (let i = 0; i < 3; i++) {
      expect(resultOf((await held.execute(`${i} * 10`)).iopub)).toEqual({ "text/plain": String(i * 10) });
      expect((await held.request("control", "interrupt_request", {}, 5000)).content.status).toBe("ok");
      const r = await held.execute(`'cell ${i}'`);
      expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
      expect(resultOf(r.iopub)).toEqual({ "text/plain": `'cell ${i}'` });
    }
  });

  it("still stops a cell it reaches while that cell runs", async () => {
    await stopsALoopThenRunsTheNextCell(held);
  });
});

describe("progress bars and interrupts", () => {
  it("a bar running when the cell is interrupted ends as interrupted, at the step it reached", async () => {
    const code = "const ib = progress({ total: 100, label: 'train', minIntervalMs: 0 }); for (let s = 1; s <= 100; s++) { ib.update(s); if (s === 7) await new Promise(() => {}); }";
    const id = await k.send("shell", "execute_request", { code, stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "update_display_data" && String(m.content.data["text/plain"]).includes("7/100"));
    // Well into the await (as interruptDuring waits), not at the moment its synchronous part ends.
    await new Promise((r) => setTimeout(r, 200));
    await k.request("control", "interrupt_request", {}, 5000);
    expect((await k.reply(id, 5000)).content.ename).toBe("Interrupted");
    const last = await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "update_display_data" && String(m.content.data["text/plain"]).endsWith(" interrupted"));
    expect(last.content.data["text/plain"]).toMatch(/^train {3}7%\|.*\| 7\/100 \[\d\d:\d\d, .*\] interrupted$/);
    expect(last.content.data["text/html"]).toContain('data-status="interrupted"');
    expect(resultOf((await k.execute("ib.status")).iopub)).toEqual({ "text/plain": "'interrupted'" });
  });
});

describe("outputs during a synchronous cell", () => {
  it("console output and progress updates leave while the cell still holds the thread", async () => {
    const id = await k.send("shell", "execute_request", {
      code: "console.log('early'); console.log('second'); const pb = progress({ total: 2, minIntervalMs: 0 }); pb.update(1); const stopAt = Date.now() + 2000; while (Date.now() < stopAt) {} pb.done(); 'finished'",
    });
    let replied = false;
    const reply = k.reply(id).then((r) => ((replied = true), r));
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "stream" && m.content.text.includes("second\n"));
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "update_display_data");
    expect(replied).toBe(false);
    expect((await reply).content.status).toBe("ok");
  });
});

describe("heartbeat", () => {
  // The 30-second case runs in `npm run bench -- kernel` and with MIXDISTILL_LONG_TESTS=1.
  const seconds = process.env.MIXDISTILL_LONG_TESTS ? 30 : 5;
  it(`answers every ping during a ${seconds}-second synchronous computation`, async () => {
    const id = await k.send("shell", "execute_request", { code: `const until = Date.now() + ${seconds * 1000}; let spins = 0; while (Date.now() < until) spins++; spins > 0` });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    let pings = 0;
    let worst = 0;
    let replied = false;
    void k.reply(id, (seconds + 30) * 1000).then(() => (replied = true));
    while (!replied) {
      worst = Math.max(worst, await k.ping()); // rejects if no echo within 1 s
      pings++;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`${pings} heartbeats answered during the computation, slowest ${worst.toFixed(1)} ms`);
    expect(pings).toBeGreaterThan(seconds * 3);
  }, 120_000);
});
