/**
 * Malformed and forged input: more than a thousand bad messages on every channel, after which the
 * kernel still serves correct requests, and not one unsigned request was acted upon.
 */
import { createHmac } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient } from "./client.js";

let k: KernelClient;
const MAX = 1024 * 1024;

beforeAll(async () => {
  k = await KernelClient.launch({ env: { MIXDISTILL_MAX_MESSAGE_BYTES: String(MAX) } });
  await k.ready();
});

afterAll(async () => {
  expect(await k.shutdown()).toBe(0);
});

const D = Buffer.from("<IDS|MSG>");
const j = (x: unknown) => Buffer.from(JSON.stringify(x));

/** Signed frames with arbitrary (possibly broken) parts. */
function signed(parts: Buffer[]): Buffer[] {
  return [D, Buffer.from(k.sign(parts.slice(0, 4))), ...parts];
}

function header(msgType: string, extra: Record<string, unknown> = {}) {
  return { msg_id: `m-${Math.random()}`, msg_type: msgType, session: k.session, username: "x", date: "", version: "5.3", ...extra };
}

describe("hostile input", () => {
  it("survives 1,000+ malformed or forged messages and runs no unsigned code", async () => {
    const marker = (i: number) => join(k.cwd, `forged-${i}.txt`);
    const forgedCode = (i: number) => `require('node:fs').writeFileSync(${JSON.stringify(marker(i))}, 'pwned')`;
    const bad: Array<{ channel: "shell" | "control" | "stdin"; frames: Buffer[] }> = [];
    const channels = ["shell", "control", "stdin"] as const;
    for (let i = 0; i < 1200; i++) {
      const channel = channels[Math.floor(i / 12) % 3]!; // every kind of bad message on every channel
      const execute = [j(header("execute_request")), j({}), j({}), j({ code: forgedCode(i), silent: false })];
      switch (i % 12) {
        case 0: // forged: random signature
          bad.push({ channel, frames: [D, Buffer.from("0".repeat(64)), ...execute] });
          break;
        case 1: // forged: signed with another key
          bad.push({ channel, frames: [D, Buffer.from(createHmac("sha256", "wrong-key").update(Buffer.concat(execute)).digest("hex")), ...execute] });
          break;
        case 2: // forged: no signature
          bad.push({ channel, frames: [D, Buffer.alloc(0), ...execute] });
          break;
        case 3: // forged: valid signature prefix, truncated / extended
          bad.push({ channel, frames: [D, Buffer.from(k.sign(execute).slice(0, 63)), ...execute] });
          break;
        case 4: // forged: signature of the message with the code changed afterwards
          bad.push({ channel, frames: [D, Buffer.from(k.sign([execute[0]!, execute[1]!, execute[2]!, j({ code: "1" })])), ...execute] });
          break;
        case 5: // missing frames
          bad.push({ channel, frames: [D, Buffer.from(k.sign(execute)), ...execute.slice(0, 1 + (i % 3))] });
          break;
        case 6: // no delimiter / empty
          bad.push({ channel, frames: i % 2 ? [Buffer.from("garbage")] : [Buffer.alloc(0), Buffer.from("x")] });
          break;
        case 7: // broken JSON, correctly signed
          bad.push({ channel, frames: signed([Buffer.from("{not json"), j({}), j({}), j({ code: forgedCode(i) })]) });
          break;
        case 8: // JSON of the wrong shape, correctly signed
          bad.push({ channel, frames: signed([j([1, 2]), j({}), j({}), j({})]) });
          bad.push({ channel, frames: signed([j(header("execute_request", { msg_id: 42 })), j({}), j({}), j({ code: "1" })]) });
          break;
        case 9: // unknown message types, correctly signed
          bad.push({ channel, frames: signed([j(header(`no_such_request_${i}`)), j({}), j({}), j({})]) });
          break;
        case 10: // wrong field types, correctly signed
          if (channel === "shell") {
            bad.push({ channel, frames: signed([j(header("execute_request")), j({}), j({}), j({ code: 12345 })]) });
            bad.push({ channel, frames: signed([j(header("execute_request")), j({}), j({}), j({ code: "1", silent: "yes", user_expressions: [] })]) });
            bad.push({ channel, frames: signed([j(header("complete_request")), j({}), j({}), j({ code: "x", cursor_pos: "end" })]) });
            bad.push({ channel, frames: signed([j(header("history_request")), j({}), j({}), j({ hist_access_type: "bogus" })]) });
            bad.push({ channel, frames: signed([j(header("comm_msg")), j({}), j({}), j({ comm_id: 7 })]) });
          } else {
            bad.push({ channel, frames: signed([j(header("input_reply")), j({}), j({}), j({ value: { not: "a string" } })]) });
          }
          break;
        case 11: // oversized: over the limit (signed) and a large forged one
          bad.push({ channel, frames: signed([j(header("execute_request")), j({}), j({}), j({ code: `/*${"x".repeat(MAX)}*/ ${forgedCode(i)}` })]) });
          break;
      }
    }
    expect(bad.length).toBeGreaterThanOrEqual(1000);
    for (const b of bad) await k.sendRaw(b.channel, b.frames);

    // Correct requests are still served, in order, with correct results.
    const info = await k.ready();
    expect(info.content.language_info.name).toBe("typescript");
    const legit = join(k.cwd, "legit.txt");
    const r = await k.execute(`require('node:fs').writeFileSync(${JSON.stringify(legit)}, 'ok'); 6 * 7`);
    expect(r.reply.content.status).toBe("ok");
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("42");
    expect(existsSync(legit)).toBe(true);
    expect(await k.ping()).toBeGreaterThan(0);
    expect((await k.request("control", "kernel_info_request", {})).content.status).toBe("ok");

    // Not one forged or oversized request ran.
    expect(readdirSync(k.cwd).filter((f) => f.startsWith("forged-"))).toEqual([]);
    expect(k.stderr).toMatch(/dropped message: bad or missing signature/);
    expect(k.stderr).toMatch(/exceeds/);
  }, 120_000);
});
