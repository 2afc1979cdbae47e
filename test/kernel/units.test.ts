/** In-process units of the kernel: wire format, cell rewrite, history, install, CLI. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DELIMITER, DigestHistory, Signer, decode, encode, newHeader, parseConnectionInfo, readConnectionFile } from "../../kernel/protocol/wire.js";
import { transformCell } from "../../kernel/execute/transform.js";
import { isComplete } from "../../kernel/execute/completeness.js";
import { History, globToRegExp } from "../../kernel/history.js";
import { findLabextension, install, kernelSpec, logoPng } from "../../kernel/install.js";
import { toMimeBundle, isMimeBundle, progressBundle } from "../../kernel/execute/display.js";
import { resolvePackage } from "../../kernel/execute/resolve.js";
import { REPO } from "./client.js";

const tmp = () => mkdtempSync(join(tmpdir(), "mdk-unit-"));

describe("wire", () => {
  const signer = new Signer("secret");
  const frames = () => encode(signer, [Buffer.from("id1")], newHeader("execute_request", "s"), {}, { m: 1 }, { code: "1" });

  it("rejects a replayed message when given a digest history, and accepts it without one", () => {
    const history = new DigestHistory();
    const f = frames();
    expect(decode(f, signer, undefined, history).ok).toBe(true);
    const again = decode(f, signer, undefined, history);
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.reason).toMatch(/replayed/);
    expect(decode(f, signer).ok).toBe(true);
    expect(decode(frames(), signer, undefined, history).ok).toBe(true);
  });

  it("forgets the oldest signatures beyond its bound", () => {
    const h = new DigestHistory(2);
    expect([h.add("a"), h.add("b"), h.add("c"), h.add("a"), h.add("c")]).toEqual([true, true, true, true, false]);
  });

  it("checks frame sizes before computing the signature", () => {
    let signed = 0;
    const counting = new Signer("secret");
    const sign = counting.sign.bind(counting);
    counting.sign = (parts) => {
      signed += parts.reduce((n, p) => n + p.length, 0);
      return sign(parts);
    };
    const big = encode(signer, [], newHeader("execute_request", "s"), {}, {}, { code: "x".repeat(10_000) });
    const d = decode(big, counting, { maxJsonBytes: 1000 });
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(/content frame of \d+ bytes exceeds 1000/);
    expect(signed).toBe(0);
  });

  it("round-trips a signed message with identities and buffers", () => {
    const f = [...frames(), Buffer.from("buf")];
    const d = decode(f, signer);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message.identities.map(String)).toEqual(["id1"]);
    expect(d.message.header.msg_type).toBe("execute_request");
    expect(d.message.header.version).toBe("5.3");
    expect(d.message.content).toEqual({ code: "1" });
    expect(d.message.buffers.map(String)).toEqual(["buf"]);
  });

  it("rejects bad signatures, tampering, missing frames and malformed JSON", () => {
    const f = frames();
    const sigAt = f.findIndex((x) => x.toString() === DELIMITER) + 1;
    const wrongSig = f.slice();
    wrongSig[sigAt] = Buffer.from("f".repeat(64));
    expect(decode(wrongSig, signer)).toEqual({ ok: false, reason: "bad or missing signature" });
    const tampered = f.slice();
    tampered[sigAt + 4] = Buffer.from(JSON.stringify({ code: "evil()" }));
    expect(decode(tampered, signer).ok).toBe(false);
    expect(decode(f, new Signer("other")).ok).toBe(false);
    expect(decode(f.slice(0, sigAt + 3), signer).ok).toBe(false);
    expect(decode([Buffer.from("x")], signer).ok).toBe(false);
    const parts = [Buffer.from("{oops"), Buffer.from("{}"), Buffer.from("{}"), Buffer.from("{}")];
    const r = decode([Buffer.from(DELIMITER), Buffer.from(signer.sign(parts)), ...parts], signer);
    expect(r.ok === false && r.reason).toMatch(/header is not valid JSON/);
    const noType = [Buffer.from(JSON.stringify({ msg_id: "a", session: "s" })), Buffer.from("{}"), Buffer.from("{}"), Buffer.from("{}")];
    const r2 = decode([Buffer.from(DELIMITER), Buffer.from(signer.sign(noType)), ...noType], signer);
    expect(r2.ok === false && r2.reason).toBe("header.msg_type must be a non-empty string");
    expect(decode(f, signer, { maxJsonBytes: 10 }).ok).toBe(false);
  });

  it("validates connection files, naming the file and field", () => {
    const good = { transport: "tcp", ip: "127.0.0.1", shell_port: 1, iopub_port: 2, stdin_port: 3, control_port: 4, hb_port: 5, key: "k", signature_scheme: "hmac-sha256" };
    expect(parseConnectionInfo(good).shell_port).toBe(1);
    expect(() => parseConnectionInfo({ ...good, hb_port: "5" }, "conn.json")).toThrow('conn.json: field "hb_port" must be an integer port number, got "5"');
    expect(() => parseConnectionInfo({ ...good, signature_scheme: "none" }, "c")).toThrow(/signature_scheme/);
    const dir = tmp();
    writeFileSync(join(dir, "bad.json"), "{");
    expect(() => readConnectionFile(join(dir, "bad.json"))).toThrow(/bad\.json: cannot read connection file/);
  });
});

describe("cell rewrite", () => {
  it("turns top-level declarations into globals and returns the last expression", async () => {
    const t = await transformCell("const a: number = 1\nlet { b, c: [d] } = { b: 2, c: [3] }\nfunction f() { return a }\nclass K {}\nf()", "cell");
    expect(t.declared.sort()).toEqual(["K", "a", "b", "d", "f"]);
    expect(t.hasResult).toBe(true);
    expect(t.script.split("\n").length).toBeGreaterThanOrEqual(5);
    expect(t.script).not.toMatch(/\bconst a\b|\blet\b/);
  });

  it("runs cells without semicolons as written", async () => {
    const t = await transformCell("let a = 1\nlet b = 2\nclass C {}\nconst d = [a, b]\nd", "c");
    expect(() => new Function(t.script.replace(/^var [^;]*;/, ""))).not.toThrow();
    const g = globalThis as Record<string, unknown>;
    g.__mixdistill_rt = { global: globalThis, freeze: () => undefined, atEnd: () => undefined };
    const value = await (0, eval)(t.script);
    expect(value).toEqual({ value: [1, 2] });
  });

  it("keeps line numbers of plain JavaScript cells and maps TypeScript ones", async () => {
    const js = await transformCell("let x = 1\n\nthrow new Error('e')", "c");
    expect(js.map).toBeUndefined();
    expect(js.script.split("\n")[2]).toContain("throw new Error");
    const ts = await transformCell("let x: number = 1\n\nthrow new Error('e')", "c");
    expect(ts.map?.sources).toEqual(["c"]);
  });

  it("sends `f<T>(x)` through TypeScript, not JavaScript", async () => {
    const t = await transformCell("id<number>(5)", "c");
    expect(t.script).toContain("id(5)");
  });

  it("rewrites imports to the kernel's resolver", async () => {
    const t = await transformCell("import def, { a as b } from 'pkg'; import * as ns from 'x'; import type { T } from 'y'", "c");
    expect(t.script).toContain('__mixdistill_rt.import("pkg")');
    expect(t.script).toContain('b = __mixdistill_rt.namedExport(');
    expect(t.script).toContain("ns = __mdImport1");
    expect(t.script).not.toContain('"y"');
  });

  it("classifies completeness", async () => {
    expect(await isComplete("let a = 1")).toEqual({ status: "complete" });
    expect(await isComplete("if (a) {\n  b()")).toEqual({ status: "incomplete", indent: "  " });
    expect(await isComplete("const s = `open")).toEqual({ status: "incomplete", indent: "" });
    expect(await isComplete("const s = 'open")).toEqual({ status: "invalid" });
  });
});

describe("display bundles", () => {
  it("raw bundles, rich objects and plain values", () => {
    expect(isMimeBundle({ "text/html": "<b/>" })).toBe(true);
    expect(isMimeBundle({ html: "<b/>" })).toBe(false);
    expect(toMimeBundle({ "text/html": "<b/>" })).toEqual({ "text/html": "<b/>", "text/plain": "<text/html>" });
    expect(toMimeBundle({ [Symbol.for("Jupyter.display")]: () => ({ "text/markdown": "*a*" }) })["text/markdown"]).toBe("*a*");
    expect(toMimeBundle(10n)).toEqual({ "text/plain": "10n" });
    expect(() => toMimeBundle({ [Symbol.for("Jupyter.display")]: () => 5 })).toThrow(/must return a mime bundle/);
  });

  it("progress bundles read like tqdm: percentage, bar, count, elapsed<remaining, rate, training numbers", () => {
    const running = (p: Parameters<typeof progressBundle>[1], elapsedSeconds: number) => progressBundle("train", p, { status: "running", elapsedSeconds })["text/plain"];
    // Remaining time from the rate so far: 5 steps in 12.5 s, 5 to go.
    expect(running({ step: 5, totalSteps: 10, loss: 0.5, tokensPerSecond: 1234 }, 12.5)).toBe(
      "train  50%|###############...............| 5/10 [00:12<00:12, 2.50 s/it] loss 0.5000 1,234 tok/s",
    );
    // The caller's own estimate wins; fast loops show it/s; hours are H:MM:SS.
    expect(running({ step: 300, totalSteps: 1000, etaSeconds: 3723 }, 2)).toBe("train  30%|#########.....................| 300/1000 [00:02<1:02:03, 150 it/s]");
    expect(running({ step: 7, totalSteps: 0 }, 2)).toBe("train 7 it [00:02, 3.50 it/s]");
    expect(progressBundle("", { step: 3, totalSteps: 4 }, { status: "running", elapsedSeconds: 1, unit: "batch" })["text/plain"]).toBe(
      " 75%|#######################.......| 3/4 [00:01<00:00, 3.00 batch/s]",
    );
  });

  it("progress bundles show the end state in words and colour, without a remaining time", () => {
    const end = (status: "done" | "failed" | "interrupted", reason?: string) => progressBundle("eval", { step: 4, totalSteps: 8 }, { status, elapsedSeconds: 65, reason });
    expect(end("done")["text/plain"]).toBe("eval  50%|###############...............| 4/8 [01:05, 16.25 s/it] done");
    expect(end("failed", "RangeError: bad")["text/plain"]).toMatch(/4\/8 \[01:05, 16\.25 s\/it\] failed: RangeError: bad$/);
    expect(end("interrupted")["text/plain"]).toMatch(/\[01:05, 16\.25 s\/it\] interrupted$/);
    const colours = new Set(
      (["running", "done", "failed", "interrupted"] as const).map((status) => {
        const h = progressBundle("x", { step: 1, totalSteps: 2 }, { status, elapsedSeconds: 1 })["text/html"] as string;
        expect(h).toContain(`data-status="${status}"`);
        return /accent-color:([^;"]+)/.exec(h)![1];
      }),
    );
    expect(colours.size).toBe(4);
    expect(end("failed", "<b>")["text/html"]).toContain("failed: &lt;b&gt;");
  });
});

describe("package resolution", () => {
  it("follows exports maps with import conditions and subpath patterns", () => {
    const dir = tmp();
    const pkg = join(dir, "node_modules", "@scope", "esm");
    mkdirSync(join(pkg, "lib"), { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ exports: { ".": [{ import: "./lib/index.js" }], "./feature/*": { node: { import: "./lib/*.js" } } } }));
    expect(resolvePackage("@scope/esm", join(dir, "a", "b"))).toBe(join(pkg, "lib", "index.js"));
    expect(resolvePackage("@scope/esm/feature/x", dir)).toBe(join(pkg, "lib", "x.js"));
    expect(resolvePackage("@scope/esm/other", dir)).toBeUndefined();
    expect(resolvePackage("missing", dir)).toBeUndefined();
  });
});

describe("history", () => {
  it("tail, range, search with unique and n", () => {
    const h = new History();
    ["a = 1", "b = 2", "a = 1", "c"].forEach((input, i) => h.add({ line: i + 1, input, output: i === 3 ? "out" : null }));
    expect(h.query({ hist_access_type: "tail", n: 2, output: false })).toEqual([[1, 3, "a = 1"], [1, 4, "c"]]);
    expect(h.query({ hist_access_type: "tail", n: 1, output: true })).toEqual([[1, 4, ["c", "out"]]]);
    expect(h.query({ hist_access_type: "range", session: 0, start: 2, stop: 3, output: false })).toEqual([[1, 2, "b = 2"]]);
    expect(h.query({ hist_access_type: "range", session: 7, output: false })).toEqual([]);
    expect(h.query({ hist_access_type: "search", pattern: "a*", output: false })).toHaveLength(2);
    expect(h.query({ hist_access_type: "search", pattern: "a*", unique: true, output: false })).toEqual([[1, 3, "a = 1"]]);
    expect(h.query({ hist_access_type: "search", pattern: "?", n: 1, output: false })).toEqual([[1, 4, "c"]]);
    expect(globToRegExp("x.[ab]*").test("x.b1")).toBe(true);
    expect(globToRegExp("x.[ab]*").test("xcb1")).toBe(false);
  });
});

describe("install", () => {
  it("finds JupyterLab's widget manager and anywidget where JupyterLab would, and says when they are missing", () => {
    const dir = tmp();
    const data = join(dir, "share", "jupyter");
    const none = { JUPYTER_PATH: "" };
    expect(findLabextension("@jupyter-widgets/jupyterlab-manager", data, none, [])).toBeUndefined();
    const venv = join(dir, "venv");
    const mgr = join(venv, "share", "jupyter", "labextensions", "@jupyter-widgets", "jupyterlab-manager");
    mkdirSync(mgr, { recursive: true });
    writeFileSync(join(mgr, "package.json"), "{}");
    expect(findLabextension("@jupyter-widgets/jupyterlab-manager", data, { VIRTUAL_ENV: venv }, [])).toBe(mgr);
    expect(findLabextension("anywidget", data, { VIRTUAL_ENV: venv }, [])).toBeUndefined();
  });

  it("writes the kernelspec with an absolute node, message interrupts and valid PNG logos", () => {
    const dir = tmp();
    const r = install(REPO, join(dir, "share", "jupyter"));
    const spec = JSON.parse(readFileSync(join(r.kernelDir, "kernel.json"), "utf8"));
    expect(spec).toEqual(kernelSpec(REPO));
    expect(spec.argv[0]).toBe(process.execPath);
    expect(spec.argv[0].startsWith("/")).toBe(true);
    expect(spec.interrupt_mode).toBe("message");
    expect(spec.display_name).toBe("TypeScript (mixdistill)");
    expect(spec.language).toBe("typescript");
    for (const size of [32, 64]) {
      const png = readFileSync(join(r.kernelDir, `logo-${size}x${size}.png`));
      expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size]);
    }
    expect(logoPng(32).equals(logoPng(32))).toBe(true);
    // Installing again replaces the directory as a whole.
    install(REPO, join(dir, "share", "jupyter"));
    expect(existsSync(`${r.kernelDir}.tmp-${process.pid}`)).toBe(false);
  });

  it("copies the prebuilt labextension when the repository has one", () => {
    const fakeRoot = tmp();
    mkdirSync(join(fakeRoot, "extension", "labextension", "static"), { recursive: true });
    writeFileSync(join(fakeRoot, "extension", "labextension", "package.json"), "{}");
    writeFileSync(join(fakeRoot, "extension", "labextension", "static", "remoteEntry.js"), "x");
    const data = join(tmp(), "data");
    const r = install(fakeRoot, data);
    expect(r.labextensionDir).toBe(join(data, "labextensions", "mixdistill-labextension"));
    expect(readFileSync(join(r.labextensionDir!, "static", "remoteEntry.js"), "utf8")).toBe("x");
  });

  it("installs the mixdistill nbconvert template: lab's, with plotly.js and MathJax verbatim and no require.js", () => {
    const data = join(tmp(), "data");
    const r = install(REPO, data);
    expect(r.nbconvertTemplateDir).toBe(join(data, "nbconvert", "templates", "mixdistill"));
    expect(JSON.parse(readFileSync(join(r.nbconvertTemplateDir, "conf.json"), "utf8")).base_template).toBe("lab");
    const index = readFileSync(join(r.nbconvertTemplateDir, "index.html.j2"), "utf8");
    expect(index).toMatch(/^\{%- extends 'lab\/index\.html\.j2' -%\}/);
    for (const block of ["html_head_js", "jupyter_widgets", "html_head_js_mathjax"]) expect(index).toContain(`{%- block ${block} -%}`);
    const plotly = readFileSync(join(r.nbconvertTemplateDir, "plotly.min.js.j2"), "utf8");
    expect(plotly.startsWith("{% raw %}") && plotly.endsWith("{% endraw %}")).toBe(true);
    expect(plotly).not.toMatch(/<\/script/i);
  });

  it("jupyter_client lists the installed kernelspec", () => {
    const prefix = tmp();
    const cli = spawnSync(process.execPath, [join(REPO, "bin", "mixdistill.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    expect(cli.status, cli.stderr).toBe(0);
    const py = spawnSync("/usr/bin/python3", ["-c", "import json; from jupyter_client.kernelspec import KernelSpecManager as M; print(json.dumps(M().get_all_specs()))"], {
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") },
    });
    expect(py.status, py.stderr).toBe(0);
    const specs = JSON.parse(py.stdout);
    expect(specs.mixdistill.spec.display_name).toBe("TypeScript (mixdistill)");
    expect(specs.mixdistill.spec.interrupt_mode).toBe("message");
  });
});

describe("cli", () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [join(REPO, "bin", "mixdistill.js"), ...args], { encoding: "utf8" });
  it("--version, --help and errors", () => {
    expect(run("--version").stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
    expect(run("--help").stdout).toContain("install [--user | --prefix DIR]");
    const bad = run("frobnicate");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
    expect(run("kernel").status).toBe(2);
    const missing = run("kernel", "/nonexistent/conn.json");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("/nonexistent/conn.json: cannot read connection file");
  });
});
