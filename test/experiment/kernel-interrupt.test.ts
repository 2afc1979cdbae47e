// An interrupt of the notebook cell running a sweep (signal: kernel.signal) kills the sweep's
// workers and leaves the kernel usable. Uses the built kernel (dist/) and Debian's jupyter_client.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanup, here, root, tempDir } from "./helpers.js";

afterAll(cleanup);

const PYTHON = "/usr/bin/python3";
const built = existsSync(join(root, "dist", "src", "experiment", "worker.js")) && existsSync(join(root, "dist", "kernel"));
const hasClient = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import jupyter_client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!built || !hasClient)("sweep under the kernel", () => {
  it("an interrupt stops the sweep: workers killed, kernel alive", () => {
    const prefix = tempDir("mixdistill-jp-");
    execFileSync(process.execPath, [join(root, "bin", "mixdistill.js"), "install", "--prefix", prefix], { stdio: "pipe" });
    const out = execFileSync(PYTHON, [join(here, "fixtures", "kernel_interrupt.py"), join(tempDir(), "store")], {
      env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 150_000,
    });
    const r = JSON.parse(out.split("\n").find((l) => l.startsWith("RESULT "))!.slice(7)) as { workers_before: number[]; workers_after: number[]; reply: { status: string }; alive: string; alive_detail: string };
    expect(r.workers_before).toHaveLength(2);
    expect(r.reply.status).toBe("error"); // the interrupted cell
    expect(r.workers_after).toEqual([]);
    expect(`${r.alive} ${r.alive === "ok" ? "" : r.alive_detail}`.trim()).toBe("ok");
  }, 180_000);
});
