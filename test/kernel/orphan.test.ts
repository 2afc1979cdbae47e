// A kernel whose launcher dies ends itself (as ipykernel's parent poller does), even while a cell
// is stuck in a synchronous loop, so killed servers and test runners leave no kernels spinning.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KernelClient, REPO, newConnection } from "./client.js";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return pred();
}

describe("orphaned kernel", () => {
  it("exits when its launcher is killed, even in the middle of `while (true) {}`", async () => {
    const conn = await newConnection();
    const dir = mkdtempSync(join(tmpdir(), "mdk-orphan-"));
    const file = join(dir, "connection.json");
    writeFileSync(file, JSON.stringify(conn));
    const pidFile = join(dir, "kernel.pid");
    // The launcher: a shell that starts the kernel in the background and waits, as a server would.
    const launcher = spawn("bash", ["-c", `"${process.execPath}" "${join(REPO, "bin", "mixdistill.js")}" kernel "${file}" & echo $! > "${pidFile}"; wait`], {
      cwd: dir,
      stdio: "ignore",
    });
    const client = await KernelClient.connect(conn, undefined, dir);
    try {
      const info = await client.request("shell", "kernel_info_request", {});
      expect(info.content.status).toBe("ok");
      const kernelPid = Number(readFileSync(pidFile, "utf8").trim());
      expect(alive(kernelPid)).toBe(true);
      // A cell that never returns: only the I/O thread can notice the launcher is gone.
      await client.send("shell", "execute_request", { code: "while (true) {}", silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
      await new Promise((r) => setTimeout(r, 300));
      launcher.kill("SIGKILL");
      expect(await waitFor(() => !alive(kernelPid), 10_000)).toBe(true);
    } finally {
      client.close();
      spawnSync("bash", ["-c", `kill -9 $(cat "${pidFile}") 2>/dev/null || true`]);
    }
  });
});
