/**
 * Cells and messages that must not break the kernel: replayed signed messages, a second comm_open
 * for a live comm id, and (below) user code that shadows what the kernel itself uses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient } from "./client.js";

let k: KernelClient;

beforeAll(async () => {
  k = await KernelClient.launch();
  await k.ready();
});

afterAll(async () => {
  if (k) expect(await k.shutdown()).toBe(0);
});

async function ok(code: string) {
  const r = await k.execute(code);
  if (r.reply.content.status !== "ok") throw new Error(`cell failed: ${JSON.stringify(r.reply.content)}\n${code}`);
  return r;
}

describe("protocol hardening", () => {
  it("ignores a replayed signed execute_request (it runs once)", async () => {
    await ok("globalThis.__replayed = 0");
    const frames = k.frames("execute_request", { code: "globalThis.__replayed++", silent: false, store_history: false });
    await k.sendRaw("shell", frames);
    await k.sendRaw("shell", frames);
    await k.sendRaw("shell", frames);
    const r = await ok("globalThis.__replayed");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("1");
    expect(k.stderr).toMatch(/shell: dropped message: replayed message/);
  });

  it("ignores a replayed control request", async () => {
    const frames = k.frames("kernel_info_request", {});
    const id = JSON.parse(frames[2]!.toString()).msg_id as string;
    await k.sendRaw("control", frames);
    await k.reply(id, 5000);
    await k.sendRaw("control", frames);
    await expect(k.reply(id, 1500)).rejects.toThrow(/no reply/);
    expect(k.stderr).toMatch(/control: dropped message: replayed message/);
  });

  it("refuses comm_open with the id of a live comm and keeps the live one", async () => {
    await ok(`comms.registerTarget('dup', (comm, data: any) => { comm.onMsg((d: any) => comm.send({ from: data.who, echo: d })); });`);
    await k.send("shell", "comm_open", { comm_id: "live1", target_name: "dup", data: { who: "first" } });
    await k.send("shell", "comm_open", { comm_id: "live1", target_name: "dup", data: { who: "second" } });
    await k.send("shell", "comm_msg", { comm_id: "live1", data: { x: 1 } });
    const m = await k.waitIopub((m) => m.header.msg_type === "comm_msg" && m.content.comm_id === "live1", 5000);
    expect(m.content.data).toEqual({ from: "first", echo: { x: 1 } });
    // The kernel's stderr comes through a pipe, the comm_msg through ZeroMQ: either may arrive first.
    await expect.poll(() => k.stderr, { timeout: 5000 }).toMatch(/comm live1 is already open/);
  });
});

const resultText = (r: Awaited<ReturnType<KernelClient["execute"]>>) => r.iopub.find((m) => m.header.msg_type === "execute_result")?.content.data["text/plain"];

describe("TypeScript semantics in cells", () => {
  it("runs `export default function () {}` and `export default class {}`", async () => {
    await ok("export default function () { return 1 }");
    await ok("export default class { x = 1 }");
    await ok("export default function (a: number): number { return a }");
    expect(resultText(await ok("'after defaults'"))).toBe("'after defaults'");
  });

  it("replaces an enum when its cell is re-run (removed members go)", async () => {
    await ok("enum Color { Red, Green, Blue }");
    expect(resultText(await ok("Object.keys(Color).filter((k) => isNaN(Number(k)))"))).toBe("[ 'Red', 'Green', 'Blue' ]");
    await ok("enum Color { Red, Green }");
    expect(resultText(await ok("[Object.keys(Color).filter((k) => isNaN(Number(k))), (Color as any).Blue]"))).toBe("[ [ 'Red', 'Green' ], undefined ]");
  });

  it("keeps a function's new value after it is reassigned in its own cell", async () => {
    await ok("function greet() { return 'old' }\ngreet = () => 'new'");
    expect(resultText(await ok("greet()"))).toBe("'new'");
  });

  it("makes assignment to a top-level const a TypeError, in its cell and later ones; redeclaring works", async () => {
    const same = await k.execute("const c = 1; c = 2");
    expect(same.reply.content.status).toBe("error");
    expect(same.reply.content.ename).toBe("TypeError");
    const later = await k.execute("c = 3");
    expect(later.reply.content.ename).toBe("TypeError");
    expect(resultText(await ok("c"))).toBe("1");
    await ok("const c = 10");
    expect(resultText(await ok("c"))).toBe("10");
    await ok("let c = 20; c = 21");
    expect(resultText(await ok("c += 1; c"))).toBe("22");
    // Destructured consts are constant too.
    const d = await k.execute("const { p, q } = { p: 1, q: 2 }; q = 5");
    expect(d.reply.content.ename).toBe("TypeError");
  });
});

describe("cells that shadow what the kernel uses", () => {
  it("a cell importing setTimeout from node:timers/promises still gets progress bars that finish", async () => {
    await ok("import { setTimeout } from 'node:timers/promises'");
    const r = await ok("const bar = progress({ total: 3, minIntervalMs: 50 }); bar.update(1); bar.update(2); await setTimeout(120); bar.update(3); bar.done(); 'drawn'");
    expect(resultText(r)).toBe("'drawn'");
    const updates = r.iopub.filter((m) => m.header.msg_type === "update_display_data");
    expect(updates.length).toBeGreaterThanOrEqual(2);
  });

  it("a cell that shadows json, display, html, input and progress keeps kernel.* working", async () => {
    await ok("const json = 'mine'; let display = 1; const html = 2; let input = 3; let progress = 4;");
    expect(resultText(await ok("[json, display, html, input, progress]"))).toBe("[ 'mine', 1, 2, 3, 4 ]");
    const r = await ok("kernel.display(kernel.json({ a: 1 })); kernel.display(kernel.html('<b>x</b>')); const b = kernel.progress({ total: 2 }); b.done(); 1");
    const shown = r.iopub.filter((m) => m.header.msg_type === "display_data").map((m) => Object.keys(m.content.data));
    expect(shown.some((keys) => keys.includes("application/json"))).toBe(true);
    expect(shown.some((keys) => keys.includes("text/html"))).toBe(true);
    const names = JSON.parse(resultText(await ok("JSON.stringify(Object.keys(kernel))")).slice(1, -1));
    for (const n of ["display", "html", "markdown", "json", "svg", "png", "progress", "input", "clearOutput", "updateDisplay", "comms"]) expect(names).toContain(n);
    // The namespace's helpers cannot be overwritten.
    expect(resultText(await ok("(kernel as any).json = 5; typeof kernel.json"))).toBe("'function'");
  });

  it("a cell that defines `process` does not stop shutdown: it replies and exits", async () => {
    await ok("const process = { env: {} }");
    expect(resultText(await ok("typeof process.exit"))).toBe("'undefined'");
    expect(await k.shutdown()).toBe(0);
    k = undefined as unknown as KernelClient;
  });
});
