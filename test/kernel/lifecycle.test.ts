/** Start-up and shutdown: the kernel answers at once, echoes restart, and exits cleanly. */
import { describe, expect, it } from "vitest";
import { KernelClient } from "./client.js";

describe("lifecycle", () => {
  it("shutdown_request on shell with restart: replies, goes idle and exits with 0", async () => {
    const k = await KernelClient.launch();
    await k.ready();
    expect(await k.ping()).toBeGreaterThan(0);
    const exited = new Promise<number | null>((r) => k.proc!.once("exit", (code) => r(code)));
    const id = await k.send("shell", "shutdown_request", { restart: true });
    const reply = await k.reply(id);
    expect(reply.content).toEqual({ status: "ok", restart: true });
    expect(await exited).toBe(0);
    k.close();
  });

  it("answers kernel_info on control before anything ran", async () => {
    const k = await KernelClient.launch();
    await k.ready();
    const r = await k.request("control", "kernel_info_request", {});
    expect(r.content.implementation).toBe("mixdistill");
    expect(await k.shutdown()).toBe(0);
  });
});
