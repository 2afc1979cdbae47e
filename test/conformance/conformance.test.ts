/**
 * Runs Debian's jupyter_kernel_test suite (test_mixdistill.py) with /usr/bin/python3 against the
 * kernelspec installed into a temporary prefix, and checks that every test ran and passed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = join(import.meta.dirname, "..", "..");
const EXPECTED = [
  "test_clear_output",
  "test_completion",
  "test_display_data",
  "test_error",
  "test_execute_result",
  "test_execute_stderr",
  "test_execute_stdout",
  "test_history",
  "test_inspect",
  "test_is_complete",
  "test_kernel_info",
  "test_pager",
];

const haveSuite = existsSync("/usr/lib/python3/dist-packages/jupyter_kernel_test/__init__.py");

describe("jupyter_kernel_test conformance", () => {
  it.skipIf(!haveSuite)("passes every test of the suite", () => {
    const prefix = mkdtempSync(join(tmpdir(), "mdk-prefix-"));
    const install = spawnSync(process.execPath, [join(REPO, "bin", "mixdistill.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    const env = {
      ...process.env,
      JUPYTER_PATH: join(prefix, "share", "jupyter"),
      JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
      JUPYTER_PLATFORM_DIRS: "1",
      PYTHONDONTWRITEBYTECODE: "1",
    };
    const r = spawnSync("/usr/bin/python3", ["-m", "unittest", "-v", "test_mixdistill"], { cwd: import.meta.dirname, env, encoding: "utf8", timeout: 120_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    const passed = EXPECTED.filter((t) => new RegExp(`^${t} \\(.*\\) .*\\.\\.\\. ok$`, "ms").test(out));
    expect(passed, out).toEqual(EXPECTED);
    expect(out).not.toMatch(/skipped/);
    expect(out).toMatch(new RegExp(`Ran ${EXPECTED.length} tests`));
    expect(r.status, out).toBe(0);
  }, 150_000);
});
