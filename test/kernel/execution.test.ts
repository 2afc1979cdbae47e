/** Execution semantics, display API, stdin, comms, history and introspection against a real kernel. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type Msg } from "./client.js";

let k: KernelClient;

const types = (msgs: Msg[]) => msgs.map((m) => m.header.msg_type);
const stdoutOf = (msgs: Msg[]) => msgs.filter((m) => m.header.msg_type === "stream" && m.content.name === "stdout").map((m) => m.content.text).join("");
const resultOf = (msgs: Msg[]) => msgs.find((m) => m.header.msg_type === "execute_result")?.content.data;

async function ok(code: string, opts: Record<string, unknown> = {}) {
  const r = await k.execute(code, opts);
  if (r.reply.content.status !== "ok") throw new Error(`cell failed: ${JSON.stringify(r.reply.content)}\n${code}`);
  return r;
}

beforeAll(async () => {
  k = await KernelClient.launch();
  // Packages the cells import: one ESM-only, one CommonJS, in the notebook's own node_modules.
  const esm = join(k.cwd, "node_modules", "esm-only");
  mkdirSync(esm, { recursive: true });
  writeFileSync(join(esm, "package.json"), JSON.stringify({ name: "esm-only", type: "module", exports: { ".": { import: "./index.js" } } }));
  writeFileSync(join(esm, "index.js"), "export const triple = (x) => 3 * x;\nexport default 'esm-default';\n");
  const cjs = join(k.cwd, "node_modules", "cjs-pkg");
  mkdirSync(cjs, { recursive: true });
  writeFileSync(join(cjs, "package.json"), JSON.stringify({ name: "cjs-pkg", main: "main.js" }));
  writeFileSync(join(cjs, "main.js"), "const api = {}; api.double = (x) => 2 * x; module.exports = api;\n");
  writeFileSync(join(k.cwd, "local.mjs"), "export const fromFile = 'local file';\n");
  await k.ready();
});

afterAll(async () => {
  expect(await k.shutdown()).toBe(0);
});

describe("protocol ordering", () => {
  it("kernel_info describes a TypeScript kernel with protocol 5.3", async () => {
    const id = await k.send("shell", "kernel_info_request", {});
    const reply = await k.reply(id);
    expect(reply.header.msg_type).toBe("kernel_info_reply");
    expect(reply.header.version).toBe("5.3");
    expect(reply.content.protocol_version).toBe("5.3");
    expect(reply.content.language_info.name).toBe("typescript");
    expect(reply.content.language_info.file_extension).toBe(".ts");
    expect(reply.content.help_links.length).toBeGreaterThan(0);
    await k.waitIopub((m) => m.parent_header.msg_id === id && m.content.execution_state === "idle");
    expect(types(k.outputsOf(id))).toEqual(["status", "status"]);
  });

  it("execute: busy, execute_input, outputs, idle, all with the request as parent", async () => {
    const r = await ok("console.log('one'); 40 + 2");
    expect(types(r.iopub)).toEqual(["status", "execute_input", "stream", "execute_result", "status"]);
    expect(r.iopub[0]!.content.execution_state).toBe("busy");
    expect(r.iopub.at(-1)!.content.execution_state).toBe("idle");
    expect(r.iopub.every((m) => m.parent_header.msg_id === r.msgId)).toBe(true);
    expect(r.reply.parent_header.msg_id).toBe(r.msgId);
    expect(r.reply.content.execution_count).toBe(r.iopub[1]!.content.execution_count);
    expect(resultOf(r.iopub)).toEqual({ "text/plain": "42" });
  });

  it("silent executions publish nothing but status and do not count", async () => {
    const before = (await ok("1")).reply.content.execution_count;
    const r = await ok("console.log('quiet'); 5", { silent: true });
    expect(types(r.iopub)).toEqual(["status", "stream", "status"].filter((t) => t !== "stream" || stdoutOf(r.iopub)));
    expect(resultOf(r.iopub)).toBeUndefined();
    expect((await ok("2")).reply.content.execution_count).toBe(before + 1);
  });

  it("user_expressions are evaluated after the cell", async () => {
    const r = await ok("let ue = 20", { user_expressions: { a: "ue + 1", bad: "nope.nope" } });
    expect(r.reply.content.user_expressions.a).toEqual({ status: "ok", data: { "text/plain": "21" }, metadata: {} });
    expect(r.reply.content.user_expressions.bad.status).toBe("error");
  });
});

describe("execution", () => {
  it("keeps top-level declarations across cells and allows declaring them again", async () => {
    await ok("const a: number = 1; let b = 2; var c = 3; function f(x: number) { return x + a } class K { v = b }");
    expect(resultOf((await ok("[a, b, c, f(1), new K().v]")).iopub)).toEqual({ "text/plain": "[ 1, 2, 3, 2, 2 ]" });
    await ok("const a = 'again'; const { d, e: [g] } = { d: 4, e: [5] }; interface T { x: number }");
    expect(resultOf((await ok("[a, d, g]")).iopub)).toEqual({ "text/plain": "[ 'again', 4, 5 ]" });
  });

  it("supports top-level await", async () => {
    const r = await ok("const waited = await new Promise<number>((r) => setTimeout(() => r(7), 20)); waited * 6");
    expect(resultOf(r.iopub)).toEqual({ "text/plain": "42" });
    expect(resultOf((await ok("waited")).iopub)).toEqual({ "text/plain": "7" });
  });

  it("imports ESM-only and CommonJS packages, local files, node builtins and mixdistill", async () => {
    await ok("import { triple } from 'esm-only'; import dflt from 'esm-only'; import { double } from 'cjs-pkg'; import cjs from 'cjs-pkg'; import * as path from 'node:path'; import { fromFile } from './local.mjs'");
    expect(resultOf((await ok("[triple(2), dflt, double(4), typeof cjs.double, path.basename('/x/y.ts'), fromFile]")).iopub)).toEqual({
      "text/plain": "[ 6, 'esm-default', 8, 'function', 'y.ts', 'local file' ]",
    });
    const meta = await ok("import.meta.dirname === process.cwd() && import.meta.url.startsWith('file://')");
    expect(resultOf(meta.iopub)).toEqual({ "text/plain": "true" });
    const dyn = await ok("(await import('cjs-pkg')).default.double(5)");
    expect(resultOf(dyn.iopub)).toEqual({ "text/plain": "10" });
    const md = await ok("import { MIXER_MIME, MIXER_COMM_TARGET } from 'mixdistill'; [MIXER_MIME, MIXER_COMM_TARGET]");
    expect(resultOf(md.iopub)!["text/plain"]).toContain("application/vnd.mixdistill.mixer.v1+json");
  });

  it("sends console output to stdout/stderr, including from timers after the cell returned", async () => {
    const r = await ok("console.log('out', 1); console.error('err'); process.stdout.write('raw\\n'); setTimeout(() => console.log('later'), 50); 'done'");
    expect(stdoutOf(r.iopub)).toBe("out 1\nraw\n");
    expect(r.iopub.some((m) => m.header.msg_type === "stream" && m.content.name === "stderr" && m.content.text === "err\n")).toBe(true);
    const late = await k.waitIopub((m) => m.parent_header.msg_id === r.msgId && m.header.msg_type === "stream" && m.content.text.includes("later"), 5000);
    expect(late.content.name).toBe("stdout");
  });

  it("shows the last expression as plain text without colour codes, and rich objects by the display symbol", async () => {
    const plain = resultOf((await ok("({ s: 'x', n: [1, 2] })")).iopub)!["text/plain"];
    expect(plain).toBe("{ s: 'x', n: [ 1, 2 ] }");
    expect(plain).not.toMatch(/\u001b\[/);
    const rich = await ok("({ [Symbol.for('Jupyter.display')]() { return { 'text/html': '<i>rich</i>' }; } })");
    expect(resultOf(rich.iopub)!["text/html"]).toBe("<i>rich</i>");
    expect(resultOf((await ok("let nothing = 1")).iopub)).toBeUndefined();
    expect(resultOf((await ok("undefined")).iopub)).toBeUndefined();
  });

  it("reports errors with name, value and the cell's own line numbers", async () => {
    const r = await k.execute("const okLine = 1;\n\nfunction thrower(): never {\n  throw new RangeError('bad range');\n}\nthrower();");
    expect(r.reply.content.status).toBe("error");
    expect(r.reply.content.ename).toBe("RangeError");
    expect(r.reply.content.evalue).toBe("bad range");
    const err = r.iopub.find((m) => m.header.msg_type === "error")!;
    expect(err.content.traceback[0]).toBe("RangeError: bad range");
    const frames = err.content.traceback.join("\n");
    expect(frames).toMatch(/In\[\d+\]:4:\d+/);
    expect(frames).toMatch(/In\[\d+\]:6:\d+/);
    expect(frames).not.toContain("dist/kernel");
  });

  it("traceback columns are the cell's, through every rewrite (JavaScript and TypeScript cells)", async () => {
    // [code, line, column] as V8 reports the cell's code run as written (an async function of it), 1-based.
    const cases: Array<[string, number, number]> = [
      ["undefinedFn()", 1, 1], // a last expression: the rewrite wraps it in `return { value: (`
      ["  undefinedFn()", 1, 3],
      ["const a = 1; undefinedFn()", 1, 14], // `const` dropped before it on the same line
      ["const n: number = 1;\nconsole.log(n, undefinedFn());", 2, 13], // TypeScript: esbuild's map, then the rewrite's
      ["import { join } from 'node:path'; const p = join('a'); undefinedFn(p)", 1, 56], // an import rewritten on the line
      ["function g() { return undefinedFn(); }\nlet x = 2;\ng()", 1, 16], // inside a function of a cell that publishes it
      ["const o = { f: (v: string) => v.notAMethod() };\no.f('s')", 1, 33],
    ];
    for (const [code, line, column] of cases) {
      const r = await k.execute(code, { stop_on_error: false });
      expect(r.reply.content.status, code).toBe("error");
      const frame = (r.reply.content.traceback as string[]).find((l) => /In\[\d+\]:\d+:\d+/.test(l));
      expect(frame, code).toBeDefined();
      expect(/In\[\d+\]:(\d+:\d+)/.exec(frame!)![1], code).toBe(`${line}:${column}`);
    }
  });

  it("reports syntax errors with their position", async () => {
    const r = await k.execute("const fine = 1;\nlet broken = (;");
    expect(r.reply.content.ename).toBe("SyntaxError");
    expect(r.reply.content.traceback.join("\n")).toMatch(/In\[\d+\]:2:/);
  });

  it("reports unhandled rejections and uncaught exceptions, and lives on", async () => {
    const r = await ok("Promise.reject(new Error('nobody catches me')); setTimeout(() => { throw new Error('thrown in a timer') }, 10); 'still here'");
    await k.waitIopub((m) => m.parent_header.msg_id === r.msgId && m.header.msg_type === "stream" && m.content.text.includes("nobody catches me"), 5000);
    await k.waitIopub((m) => m.parent_header.msg_id === r.msgId && m.header.msg_type === "stream" && m.content.text.includes("thrown in a timer"), 5000);
    expect(resultOf((await ok("1 + 1")).iopub)).toEqual({ "text/plain": "2" });
  });

  it("stop_on_error aborts the executions queued behind a failing one", async () => {
    const first = await k.send("shell", "execute_request", { code: "await new Promise((r) => setTimeout(r, 200)); throw new Error('stop')", stop_on_error: true });
    const second = await k.send("shell", "execute_request", { code: "globalThis.shouldNotRun = true" });
    expect((await k.reply(first)).content.status).toBe("error");
    expect((await k.reply(second)).content.status).toBe("aborted");
    expect(resultOf((await ok("typeof (globalThis as any).shouldNotRun")).iopub)).toEqual({ "text/plain": "'undefined'" });
  });

  /** The cell's stderr warning: with the cell's request as parent, during the cell or after its reply. */
  const warningOf = (msgId: string) => k.waitIopub((m) => m.parent_header.msg_id === msgId && m.header.msg_type === "stream" && m.content.name === "stderr" && /warning TS/.test(m.content.text), 20_000);

  it("reports type errors as warnings without blocking execution", async () => {
    await k.request("shell", "complete_request", { code: "Mat", cursor_pos: 3 }); // waits for the language service
    const r = await ok("const typed: number = 'not a number' as any as string; 'ran'");
    expect(resultOf(r.iopub)).toEqual({ "text/plain": "'ran'" });
    expect((await warningOf(r.msgId)).content.text).toMatch(/warning TS2322 at In\[\d+\]:1:7/);
    // The same cell again (its check result is reused) warns again, under its own name.
    const code = "const again: number = 'x' as any as string";
    for (let i = 0; i < 2; i++) {
      const again = await ok(code, { store_history: false });
      expect((await warningOf(again.msgId)).content.text).toMatch(/^warning TS2322 at <silent-\d+>:1:7: Type 'string' is not assignable to type 'number'\.\n$/);
    }
  });

  it("no false 'Cannot find name' for names a failed or interrupted cell declared before it stopped", async () => {
    // Notebooks' training cells: `const model = ...` then a loop that is interrupted or throws.
    const failed = await k.execute("const trainedModel = { step: 3 }; let losses: number[] = [1, 2]; throw new Error('stopped mid-training')");
    expect(failed.reply.content.status).toBe("error");
    const r = await ok("const next = trainedModel.step + losses.length; 'after'");
    await ok("'flush'");
    // Any warning of that cell would have come by now (the check of the cell after it has run).
    await warningOf((await ok("const probe: number = 'x' as any as string")).msgId);
    expect(k.iopubLog.some((m) => m.parent_header.msg_id === r.msgId && /Cannot find name/.test(m.content.text ?? ""))).toBe(false);
  });

  it("does not wait for the type check to reply; late warnings carry their own cell's parent header", async () => {
    // A cell that takes no time with a check that does: the reply may come first.
    const from = k.iopubLog.length;
    const first = await k.send("shell", "execute_request", { code: `const late${Date.now()}: number = 'x' as any as string; 1`, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
    const second = await k.send("shell", "execute_request", { code: "console.log('second cell')", silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
    expect((await k.reply(first)).content.status).toBe("ok");
    expect((await k.reply(second)).content.status).toBe("ok");
    await k.waitIopub((m) => m.parent_header.msg_id === second && m.header.msg_type === "status" && m.content.execution_state === "idle", 20_000, from);
    expect((await warningOf(first)).content.text).toMatch(/warning TS2322 at In\[\d+\]:1:/);
    const log = k.iopubLog.slice(from);
    // The second cell's output is its own: no warning of the first cell under its parent.
    expect(log.some((m) => m.parent_header.msg_id === second && /warning TS/.test(m.content.text ?? ""))).toBe(false);
    expect(log.filter((m) => m.parent_header.msg_id === second && m.header.msg_type === "stream").map((m) => m.content.text).join("")).toBe("second cell\n");
  });
});

describe("display API", () => {
  it("display() with an id, then updating it in place", async () => {
    const r = await ok("const h = display({ 'text/plain': 'v1', 'text/html': '<b>v1</b>' }, { id: 'myid' }); h.update(markdown('**v2**')); updateDisplay('myid', 'v3')");
    const d = r.iopub.filter((m) => m.header.msg_type.endsWith("display_data"));
    expect(types(d)).toEqual(["display_data", "update_display_data", "update_display_data"]);
    expect(d.every((m) => m.content.transient.display_id === "myid")).toBe(true);
    expect(d[0]!.content.data["text/html"]).toBe("<b>v1</b>");
    expect(d[1]!.content.data["text/markdown"]).toBe("**v2**");
    expect(d[2]!.content.data["text/plain"]).toBe("'v3'");
    expect(resultOf(r.iopub)).toBeUndefined();
  });

  it("helpers produce their mime types", async () => {
    const r = await ok("display(html('<p>x</p>')); display(svg('<svg/>')); display(png(new Uint8Array([137, 80, 78, 71]))); display(json({ a: 1 })); display(markdown('# t'))");
    const d = r.iopub.filter((m) => m.header.msg_type === "display_data").map((m) => Object.keys(m.content.data).sort());
    expect(d).toEqual([
      ["text/html", "text/plain"],
      ["image/svg+xml", "text/plain"],
      ["image/png", "text/plain"],
      ["application/json", "text/plain"],
      ["text/markdown", "text/plain"],
    ]);
    expect(r.iopub.find((m) => m.content.data?.["image/png"])!.content.data["image/png"]).toBe("iVBORw==");
  });

  it("clearOutput({ wait }) sends clear_output", async () => {
    const r = await ok("console.log('a'); clearOutput({ wait: true }); console.log('b')");
    expect(types(r.iopub)).toEqual(["status", "execute_input", "stream", "clear_output", "stream", "status"]);
    expect(r.iopub[3]!.content.wait).toBe(true);
  });

  it("a progress bar is displayed once and updated in place", async () => {
    const r = await ok("const bar = progress({ total: 3, label: 'train', minIntervalMs: 0 }); for (let s = 1; s <= 3; s++) bar.update({ step: s, totalSteps: 3, loss: 1 / s, tokensPerSecond: 1000, etaSeconds: 3 - s }); bar.done()");
    const d = r.iopub.filter((m) => m.header.msg_type.endsWith("display_data"));
    expect(d[0]!.header.msg_type).toBe("display_data");
    expect(d.slice(1).every((m) => m.header.msg_type === "update_display_data" && m.content.transient.display_id === d[0]!.content.transient.display_id)).toBe(true);
    expect(d.at(-1)!.content.data["text/plain"]).toContain("3/3");
    expect(d.at(-1)!.content.data["text/plain"]).toMatch(/ done$/);
    expect(d.at(-1)!.content.data["text/html"]).toContain("<progress");
  });

  it("a progress bar shows elapsed<remaining time and the rate while running", async () => {
    const r = await ok("const bar2 = progress({ total: 4, label: 'steps', minIntervalMs: 0 }); for (let s = 1; s <= 2; s++) { await new Promise((res) => setTimeout(res, 150)); bar2.update(s); } bar2.status");
    const last = r.iopub.filter((m) => m.header.msg_type === "update_display_data").at(-1)!.content.data["text/plain"] as string;
    // About 0.15 s a step: 2/4 done after ~0.3 s, ~0.3 s to go.
    expect(last).toMatch(/^steps  50%\|#+\.+\| 2\/4 \[00:00<00:00, \d\.\d\d it\/s\]$/);
    const rate = Number(/(\d\.\d\d) it\/s/.exec(last)![1]);
    expect(rate).toBeGreaterThan(2);
    expect(rate).toBeLessThan(8);
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("'running'");
  });

  it("a bar left running by a cell that throws ends as failed, with the error", async () => {
    const r = await k.execute("const bar3 = progress({ total: 10, label: 'load', minIntervalMs: 0 }); bar3.update(3); throw new RangeError('row 7 is broken')", { stop_on_error: false });
    const d = r.iopub.filter((m) => m.header.msg_type.endsWith("display_data"));
    const last = d.at(-1)!;
    expect(last.header.msg_type).toBe("update_display_data");
    expect(last.content.data["text/plain"]).toMatch(/3\/10 \[00:00, .*\] failed: RangeError: row 7 is broken$/);
    expect(last.content.data["text/html"]).toContain('data-status="failed"');
    // The bar's end is drawn before the error, so the error is the last thing the cell shows.
    expect(r.iopub.findIndex((m) => m === last)).toBeLessThan(r.iopub.findIndex((m) => m.header.msg_type === "error"));
    expect((await ok("bar3.status")).iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("'failed'");
  });

  it("bar.fail(reason) ends a bar as failed; later updates do not revive it", async () => {
    const r = await ok("const bar4 = progress({ total: 2, minIntervalMs: 0 }); bar4.update(1); bar4.fail(new Error('disk full')); bar4.update(2); bar4.done(); bar4.status");
    const d = r.iopub.filter((m) => m.header.msg_type.endsWith("display_data"));
    expect(d.at(-1)!.content.data["text/plain"]).toMatch(/1\/2 .* failed: Error: disk full$/);
    expect(r.iopub.find((m) => m.header.msg_type === "execute_result")!.content.data["text/plain"]).toBe("'failed'");
  });

  it("page() puts a pager payload on the reply", async () => {
    const r = await ok("page('some help text')");
    expect(r.reply.content.payload).toEqual([{ source: "page", data: { "text/plain": "'some help text'" }, start: 0 }]);
  });
});

describe("stdin", () => {
  it("input() sends input_request and returns the reply", async () => {
    k.stdinHandler = (m) => {
      if (m.header.msg_type === "input_request") void k.send("stdin", "input_reply", { value: `answer to ${m.content.prompt}` }, m.header);
    };
    const r = await ok("const got = await input('q?'); got");
    expect(resultOf(r.iopub)).toEqual({ "text/plain": "'answer to q?'" });
    k.stdinHandler = undefined;
  });

  it("input() fails clearly when the front end does not allow stdin", async () => {
    const r = await k.execute("await prompt('no')", { allow_stdin: false });
    expect(r.reply.content.status).toBe("error");
    expect(r.reply.content.evalue).toMatch(/allow_stdin/);
  });
});

describe("comms", () => {
  it("routes comm_open / comm_msg / comm_close to registered targets and lists comms", async () => {
    await ok(`
      comms.registerTarget('echo', (comm, data: any) => {
        comm.send({ opened: data });
        comm.onMsg((d: any) => { if (d.boom) throw new Error('handler boom'); comm.send({ echo: d }); });
        comm.onClose(() => console.log('closed by front end'));
      });`);
    await k.send("shell", "comm_open", { comm_id: "c1", target_name: "echo", data: { hello: 1 } });
    await k.waitIopub((m) => m.header.msg_type === "comm_msg" && m.content.comm_id === "c1" && m.content.data.opened?.hello === 1, 5000);
    await k.send("shell", "comm_msg", { comm_id: "c1", data: { x: 2 } });
    await k.waitIopub((m) => m.header.msg_type === "comm_msg" && m.content.data.echo?.x === 2, 5000);
    const info = await k.request("shell", "comm_info_request", { target_name: "echo" });
    expect(info.content.comms).toEqual({ c1: { target_name: "echo" } });
    const none = await k.request("shell", "comm_info_request", { target_name: "other" });
    expect(none.content.comms).toEqual({});

    // A throwing handler is reported on stderr and the kernel carries on.
    await k.send("shell", "comm_msg", { comm_id: "c1", data: { boom: true } });
    await k.waitIopub((m) => m.header.msg_type === "stream" && m.content.name === "stderr" && m.content.text.includes("handler boom"), 5000);
    await k.send("shell", "comm_close", { comm_id: "c1", data: {} });
    await k.waitIopub((m) => m.header.msg_type === "stream" && m.content.text.includes("closed by front end"), 5000);
    expect((await k.request("shell", "comm_info_request", {})).content.comms.c1).toBeUndefined();
  });

  it("closes comm_open for an unknown target", async () => {
    await k.send("shell", "comm_open", { comm_id: "c2", target_name: "no.such.target", data: {} });
    await k.waitIopub((m) => m.header.msg_type === "comm_close" && m.content.comm_id === "c2", 5000);
  });

  it("opens comms from the kernel side", async () => {
    const r = await ok("const kc = comms.open('mixdistill.test', { v: 1 }); kc.send({ n: 2 }); kc.id");
    const open = r.iopub.find((m) => m.header.msg_type === "comm_open")!;
    expect(open.content.target_name).toBe("mixdistill.test");
    expect(open.content.data).toEqual({ v: 1 });
    expect(r.iopub.find((m) => m.header.msg_type === "comm_msg")!.content).toEqual({ comm_id: open.content.comm_id, data: { n: 2 } });
    expect(resultOf(r.iopub)).toEqual({ "text/plain": `'${open.content.comm_id}'` });
    const closed = await ok("kc.close({ bye: true }); [kc.closed, comms.get(kc.id) === undefined]");
    expect(closed.iopub.find((m) => m.header.msg_type === "comm_close")!.content).toEqual({ comm_id: open.content.comm_id, data: { bye: true } });
    expect(resultOf(closed.iopub)).toEqual({ "text/plain": "[ true, true ]" });
    const sendAfterClose = await k.execute("kc.send({})");
    expect(sendAfterClose.reply.content.evalue).toMatch(/is closed/);
  });
});

describe("history and introspection", () => {
  it("answers history tail, range and search", async () => {
    const first = await ok("'history-marker-1'");
    await ok("'history-marker-2'");
    const tail = await k.request("shell", "history_request", { hist_access_type: "tail", n: 2, output: false, raw: true });
    expect(tail.content.history.map((h: unknown[]) => h[2])).toEqual(["'history-marker-1'", "'history-marker-2'"]);
    const withOut = await k.request("shell", "history_request", { hist_access_type: "tail", n: 1, output: true, raw: true });
    expect(withOut.content.history[0][2]).toEqual(["'history-marker-2'", "'history-marker-2'"]);
    const n = first.reply.content.execution_count;
    const range = await k.request("shell", "history_request", { hist_access_type: "range", session: 0, start: n, stop: n + 1, output: false, raw: true });
    expect(range.content.history).toEqual([[1, n, "'history-marker-1'"]]);
    const search = await k.request("shell", "history_request", { hist_access_type: "search", pattern: "'history-marker-?'", output: false, raw: true, unique: true });
    expect(search.content.history.length).toBe(2);
  });

  it("is_complete: complete, incomplete with indent, invalid", async () => {
    const st = async (code: string) => (await k.request("shell", "is_complete_request", { code })).content;
    expect(await st("let x = 1")).toEqual({ status: "complete" });
    expect(await st("function f() {")).toEqual({ status: "incomplete", indent: "  " });
    expect((await st("let y = (1 +")).status).toBe("incomplete");
    expect((await st("let 1x = 2")).status).toBe("invalid");
  });

  it("completes names from earlier cells and members by type, with code-point cursors", async () => {
    await ok("const completionTarget = { alpha: 1, alphabet: 'x' }");
    const r = await k.request("shell", "complete_request", { code: "completionTarget.alp", cursor_pos: 20 });
    expect(new Set(r.content.matches)).toEqual(new Set(["alpha", "alphabet"]));
    expect([r.content.cursor_start, r.content.cursor_end]).toEqual([17, 20]);
    const code = "const s = '😀'; completionTar";
    const emoji = await k.request("shell", "complete_request", { code, cursor_pos: [...code].length });
    expect(emoji.content.matches).toEqual(["completionTarget"]);
    expect(emoji.content.cursor_start).toBe([...code].length - "completionTar".length);
  });

  it("inspects a symbol: signature and doc comment", async () => {
    await ok("/** Adds two numbers, documented. */\nfunction documentedAdd(a: number, b: number): number { return a + b }");
    const r = await k.request("shell", "inspect_request", { code: "documentedAdd(1, 2)", cursor_pos: 5, detail_level: 0 });
    expect(r.content.found).toBe(true);
    expect(r.content.data["text/plain"]).toContain("function documentedAdd(a: number, b: number): number");
    expect(r.content.data["text/plain"]).toContain("Adds two numbers, documented.");
    const none = await k.request("shell", "inspect_request", { code: "   ", cursor_pos: 1, detail_level: 0 });
    expect(none.content.found).toBe(false);
  });
});
