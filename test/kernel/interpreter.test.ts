/**
 * The interpreter alone (kernel/interpreter.ts): cells run in this process through the executor,
 * no protocol, no sockets. The language service is off (it runs on a worker built into dist/).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ExecuteRequest, type ExecuteResult, TypeScriptInterpreter } from "../../kernel/interpreter.js";
import { REPO } from "./client.js";

const cwd = mkdtempSync(join(tmpdir(), "mdk-interp-"));
writeFileSync(join(cwd, "helper.mjs"), "export const answer = 42;\n");
const interp = new TypeScriptInterpreter({ cwd, packageRoot: REPO, languageService: false });
let count = 0;

function run(code: string, opts: Partial<ExecuteRequest> = {}): Promise<ExecuteResult> {
  const store = opts.storeHistory ?? true;
  if (store) count++;
  return interp.execute({ code, silent: false, storeHistory: store, executionCount: count, userExpressions: {}, warn: () => undefined, ...opts });
}

async function value(code: string): Promise<unknown> {
  const r = await run(code);
  if (r.status !== "ok") throw new Error(`${r.ename}: ${r.evalue}\n${r.traceback.join("\n")}`);
  return r.data?.["text/plain"];
}

describe("TypeScript interpreter", () => {
  it("runs cells whose declarations later cells see, and shows the last expression", async () => {
    expect(await value("const base: number = 40; function add(a: number, b: number) { return a + b }")).toBeUndefined();
    expect(await value("add(base, 2)")).toBe("42");
    expect(await value("import { answer } from './helper.mjs'; answer * 2")).toBe("84");
    // An expression statement whose value is undefined shows nothing.
    expect(await value("void 0")).toBeUndefined();
  });

  it("reports errors with the cell's own positions, and syntax errors without running anything", async () => {
    const r = await run("const ok = 1;\nthrow new TypeError('boom ' + ok)");
    expect(r).toMatchObject({ status: "error", ename: "TypeError", evalue: "boom 1" });
    expect(r.status === "error" && r.traceback.join("\n")).toMatch(new RegExp(`In\\[${count}\\]:2:7`));
    const s = await run("globalThis.ranSyntax = true; const = 3");
    expect(s).toMatchObject({ status: "error", ename: "SyntaxError" });
    expect((globalThis as { ranSyntax?: boolean }).ranSyntax).toBeUndefined();
    const c = await run("const frozen = 1; frozen = 2");
    expect(c).toMatchObject({ status: "error", ename: "TypeError", evalue: "Assignment to constant variable." });
  });

  it("evaluates user expressions after the code, each to its own result or error", async () => {
    const r = await run("const ue = 21", { userExpressions: { twice: "ue * 2", bad: "nope.x" } });
    expect(r.status).toBe("ok");
    if (r.status !== "ok") return;
    expect(r.userExpressions.twice).toEqual({ status: "ok", data: { "text/plain": "42" }, metadata: {} });
    expect(r.userExpressions.bad).toMatchObject({ status: "error", ename: "ReferenceError" });
  });

  it("keeps silent and unstored executions out of the history; answers tail, range and search", async () => {
    const before = count;
    await run("'stored'");
    await run("'quiet'", { silent: true, storeHistory: false });
    await run("'unstored'", { storeHistory: false });
    const tail = interp.history({ hist_access_type: "tail", n: 1, output: true });
    expect(tail).toEqual([[1, before + 1, ["'stored'", "'stored'"]]]);
    expect(interp.history({ hist_access_type: "search", pattern: "*quiet*", output: false })).toEqual([]);
    expect(interp.history({ hist_access_type: "range", start: before + 1, stop: before + 2, output: false })).toEqual([[1, before + 1, "'stored'"]]);
  });

  it("says whether code is complete", async () => {
    expect(await interp.isComplete("const x = 1")).toEqual({ status: "complete" });
    expect(await interp.isComplete("for (const x of [1]) {")).toMatchObject({ status: "incomplete" });
  });

  it("stops a pending cell on interrupt, acts on each interrupt number once, and runs the next cell", async () => {
    const pending = run("await new Promise(() => {})");
    await new Promise((r) => setTimeout(r, 50));
    expect(interp.signal.aborted).toBe(false);
    const signal = interp.signal;
    interp.interrupt(1);
    expect(await pending).toMatchObject({ status: "error", ename: "Interrupted", evalue: "execution interrupted" });
    expect(signal.aborted).toBe(true);
    // A late copy of the same interrupt does not touch the next cell.
    const next = run("await new Promise((r) => setTimeout(r, 30)); 'next ran'");
    interp.interrupt(1);
    expect(await next).toMatchObject({ status: "ok", data: { "text/plain": "'next ran'" } });
  });

  it("stops a cell interrupted after its request started but before its code ran", async () => {
    const r = run("globalThis.ranAfterInterrupt = true");
    interp.interrupt(2);
    expect(await r).toMatchObject({ status: "error", ename: "Interrupted" });
    expect((globalThis as { ranAfterInterrupt?: boolean }).ranAfterInterrupt).toBeUndefined();
    expect(await value("'still works'")).toBe("'still works'");
  });

  it("imports the package's own exports, and names the known subpaths for one it does not export", async () => {
    expect(await value("import { MIX_STRATEGIES } from 'mixdistill/contract'; MIX_STRATEGIES.join(',')")).toBe("'per-question,interleave,concat'");
    const r = await run("import { x } from 'mixdistill/data/record'");
    expect(r.status).toBe("error");
    expect(r.status === "error" && r.evalue).toBe(
      'cannot import "mixdistill/data/record": mixdistill does not export "./data/record" (it exports "mixdistill", "mixdistill/contract", "mixdistill/mix", "mixdistill/advanced")',
    );
  });

  it("completes and inspects nothing without a language service, at the cursor", async () => {
    expect(await interp.complete("ab", 2)).toEqual({ matches: [], start: 2, end: 2, types: [] });
    expect(await interp.inspect("ab", 1, 0)).toBeUndefined();
  });
});
