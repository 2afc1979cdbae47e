/**
 * Loops that `breakOnSigint` does not cover (they start after the cell's synchronous part returned:
 * after an `await`, in a timer callback): the I/O thread stops them through the inspector and the
 * kernel keeps its state, or, where stopping is not safe, the cell's output says within a second
 * that a restart is needed, and a restart then works at once.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type Msg } from "./client.js";

const dir = mkdtempSync(join(tmpdir(), "mdk-stuck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const resultOf = (msgs: Msg[]) => msgs.find((m) => m.header.msg_type === "execute_result")?.content.data;
const stderrOf = (k: KernelClient, id: string) =>
  k
    .outputsOf(id)
    .filter((m) => m.header.msg_type === "stream" && m.content.name === "stderr")
    .map((m) => String(m.content.text))
    .join("");

describe("a loop outside the cell's synchronous part is stopped, state kept", () => {
  let k: KernelClient;
  beforeAll(async () => {
    k = await KernelClient.launch();
    await k.ready();
  });
  afterAll(async () => {
    expect(await k.shutdown()).toBe(0);
    // The inspector session is closed after use (one left open makes Node wait for "the debugger" at exit).
    expect(k.stderr).not.toContain("debugger");
  });

  it("`await null; while (true) {}`: the cell ends Interrupted and the next cell sees the state", async () => {
    await k.execute("const keptA = 'still here'; let spinsA = 0");
    const id = await k.send("shell", "execute_request", { code: "await null; while (true) { spinsA++ }", stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    const t = performance.now();
    expect((await k.request("control", "interrupt_request", {}, 5000)).content.status).toBe("ok");
    const reply = await k.reply(id, 5000);
    const ms = performance.now() - t;
    console.log(`loop after an await stopped ${ms.toFixed(0)} ms after the interrupt`);
    expect(reply.content.ename).toBe("Interrupted");
    expect(ms).toBeLessThan(2000);
    expect(resultOf((await k.execute("[keptA, spinsA > 0]")).iopub)).toEqual({ "text/plain": "[ 'still here', true ]" });
  });

  it("a loop after a timer-resolved await (`await sleep; while (true) {}`) is stopped too", async () => {
    const id = await k.send("shell", "execute_request", { code: "await new Promise((r) => setTimeout(r, 50)); while (true) {}", stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    await k.request("control", "interrupt_request", {}, 5000);
    expect((await k.reply(id, 5000)).content.ename).toBe("Interrupted");
    expect(resultOf((await k.execute("1 + 1")).iopub)).toEqual({ "text/plain": "2" });
  });

  it("`setTimeout(() => { while (true) {} }, 0)` after its cell returned: stopped, said so on that cell's stderr, state kept", async () => {
    const cell = await k.execute("const keptT = [1, 2, 3]; let timerSpins = 0; setTimeout(() => { while (true) timerSpins++ }, 0); 'scheduled'");
    expect(resultOf(cell.iopub)).toEqual({ "text/plain": "'scheduled'" });
    await new Promise((r) => setTimeout(r, 300));
    // The main thread is held by the timer: a request now waits behind it.
    const next = await k.send("shell", "execute_request", { code: "[keptT.length, timerSpins > 0]", stop_on_error: false });
    await new Promise((r) => setTimeout(r, 100));
    const t = performance.now();
    await k.request("control", "interrupt_request", {}, 5000);
    const note = await k.waitIopub((m) => m.parent_header.msg_id === cell.msgId && m.header.msg_type === "stream" && String(m.content.text).includes("stopped a synchronous loop"), 3000);
    expect(note.content.name).toBe("stderr");
    console.log(`timer loop stopped, note after ${(performance.now() - t).toFixed(0)} ms`);
    expect((await k.reply(next, 5000)).content.status).toBe("ok");
    const r = await k.waitIopub((m) => m.parent_header.msg_id === next && m.header.msg_type === "execute_result");
    expect(r.content.data["text/plain"]).toBe("[ 3, true ]");
    // The kernel's timers and promises still work.
    expect(resultOf((await k.execute("await new Promise((r) => setTimeout(() => r('later'), 20))")).iopub)).toEqual({ "text/plain": "'later'" });
  });

  it("a module whose top-level code runs long is not stopped half-loaded: the cell says so, stops once it loaded, and the module imports again", async () => {
    const file = join(dir, "slow.mjs");
    writeFileSync(file, "const until = Date.now() + 1500; while (Date.now() < until) {}\nexport const v = 7;\n");
    const id = await k.send("shell", "execute_request", { code: `const slow = await import(${JSON.stringify(file)}); while (true) {}`, stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    await k.request("control", "interrupt_request", {}, 5000);
    const note = await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "stream" && m.content.name === "stderr", 3000);
    expect(String(note.content.text)).toContain("loading a module");
    expect((await k.reply(id, 5000)).content.ename).toBe("Interrupted");
    expect(resultOf((await k.execute(`[slow.v, (await import(${JSON.stringify(file)})).v]`)).iopub)).toEqual({ "text/plain": "[ 7, 7 ]" });
  });

  it("code that watches the signal is not cut mid-step: told, it stops cleanly at its next check", async () => {
    const id = await k.send("shell", "execute_request", {
      code: "const sig = interruptSignal(); let steps = 0, midStep = false; while (!sig.aborted) { await new Promise((r) => setImmediate(r)); midStep = true; const until = Date.now() + 1200; while (Date.now() < until) {} midStep = false; steps++ }",
      stop_on_error: false,
    });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    await k.request("control", "interrupt_request", {}, 5000);
    const note = await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "stream" && m.content.name === "stderr", 3000);
    expect(String(note.content.text)).toContain("stops when that step ends");
    expect((await k.reply(id, 5000)).content.ename).toBe("Interrupted");
    await new Promise((r) => setTimeout(r, 100));
    expect(resultOf((await k.execute("[midStep, steps > 0]")).iopub)).toEqual({ "text/plain": "[ false, true ]" });
  });

  it("a second interrupt stops code that watches the signal but never checks it", async () => {
    const id = await k.send("shell", "execute_request", { code: "interruptSignal(); await null; while (true) {}", stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    await k.request("control", "interrupt_request", {}, 5000);
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "stream" && String(m.content.text).includes("Interrupt again"), 3000);
    await k.request("control", "interrupt_request", {}, 5000);
    expect((await k.reply(id, 5000)).content.ename).toBe("Interrupted");
    expect(resultOf((await k.execute("'after'")).iopub)).toEqual({ "text/plain": "'after'" });
  });

  it("a setInterval whose callback loops is stopped and does not run again", async () => {
    await k.execute("let ticks = 0; setInterval(() => { ticks++; if (ticks === 2) while (true) {} }, 30)");
    await new Promise((r) => setTimeout(r, 400));
    await k.request("control", "interrupt_request", {}, 5000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(resultOf((await k.execute("ticks")).iopub)).toEqual({ "text/plain": "2" });
    await new Promise((r) => setTimeout(r, 200));
    expect(resultOf((await k.execute("ticks")).iopub)).toEqual({ "text/plain": "2" });
  });
});

describe("a loop that cannot be stopped safely", () => {
  let k: KernelClient;
  beforeAll(async () => {
    k = await KernelClient.launch();
    await k.ready();
  });
  afterAll(() => k.close());

  it("the cell's output says within a second that a restart is needed; a shutdown then ends the kernel at once", async () => {
    // With an async hook enabled, Node checks its async-id stack again: terminating a timer callback
    // would abort the process, so the kernel does not try and says so instead.
    await k.execute("import { createHook } from 'node:async_hooks'; createHook({ init() {} }).enable()");
    const id = await k.send("shell", "execute_request", { code: "await null; while (true) {}", stop_on_error: false });
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "execute_input");
    await new Promise((r) => setTimeout(r, 300));
    const t = performance.now();
    await k.request("control", "interrupt_request", {}, 5000);
    const note = await k.waitIopub((m) => m.parent_header.msg_id === id && m.header.msg_type === "stream" && m.content.name === "stderr", 3000);
    const ms = performance.now() - t;
    console.log(`notice after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1200);
    expect(String(note.content.text)).toMatch(/an interrupt cannot stop here/);
    expect(String(note.content.text)).toContain("Restart the kernel");
    expect(String(note.content.text)).toContain("Kernel > Restart");
    expect(stderrOf(k, id)).toContain("variables and imports are lost");
    // Kernel > Restart sends shutdown_request (restart: true) on control: answered by the I/O thread,
    // and the process ends without the front end's wait-then-kill.
    const proc = (k as unknown as { proc: import("node:child_process").ChildProcess }).proc;
    const exited = new Promise<string | null>((r) => proc.once("exit", (_code, signal) => r(signal)));
    const t2 = performance.now();
    const reply = await k.request("control", "shutdown_request", { restart: true }, 3000);
    expect(reply.content).toEqual({ status: "ok", restart: true });
    await exited;
    expect(performance.now() - t2).toBeLessThan(2000);
  });
});
