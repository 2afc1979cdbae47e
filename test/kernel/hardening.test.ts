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
    expect(k.stderr).toMatch(/comm live1 is already open/);
  });
});
