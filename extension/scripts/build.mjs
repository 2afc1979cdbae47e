#!/usr/bin/env node
/**
 * Builds the extension package in three steps, each skipped when its inputs are unchanged
 * (a content hash per step is kept in .build-stamps/):
 *   lib          type-checks src/ and bundles it (with the shared contract) into lib/index.js
 *   labextension the prebuilt (federated) extension in labextension/, as `build-labextension` makes it
 *   app          the JupyterLab front end in app/build/ (used by the browser tests and `npm start`)
 * Usage: node scripts/build.mjs [lib|labextension|app ...] [--force]
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

const ext = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(ext, "..");
const stamps = join(ext, ".build-stamps");
const args = process.argv.slice(2);
const force = args.includes("--force");
const steps = args.filter((a) => !a.startsWith("--"));
const wanted = steps.length ? steps : ["lib", "labextension", "app"];
for (const s of wanted) if (!["lib", "labextension", "app"].includes(s)) fail(`unknown step ${JSON.stringify(s)}`);

function fail(msg) {
  process.stderr.write(`extension build: ${msg}\n`);
  process.exit(1);
}

function files(p) {
  if (!existsSync(p)) return [];
  if (statSync(p).isFile()) return [p];
  return readdirSync(p).sort().flatMap((n) => files(join(p, n)));
}

function hashOf(paths) {
  const h = createHash("sha256");
  for (const f of paths.flatMap(files)) h.update(relative(root, f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex");
}

function run(cmd, argv, cwd) {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { cwd, stdio: "inherit" });
  if (r.status !== 0) fail(`${cmd} ${argv.join(" ")} exited with ${r.status ?? r.signal}`);
  return Date.now() - t0;
}

function step(name, inputs, outputs, build, variant = "") {
  const stampFile = join(stamps, `${name}.json`);
  const hash = hashOf(inputs) + variant;
  let old = null;
  try {
    old = JSON.parse(readFileSync(stampFile, "utf8")).hash;
  } catch {}
  if (!force && old === hash && outputs.every((o) => existsSync(o))) {
    console.log(`extension build: ${name} is up to date`);
    return;
  }
  const ms = build();
  mkdirSync(stamps, { recursive: true });
  const tmp = `${stampFile}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ hash, builtAt: new Date().toISOString() }) + "\n");
  renameSync(tmp, stampFile);
  console.log(`extension build: ${name} built in ${(ms / 1000).toFixed(1)} s`);
}

// One build at a time (the browser suites build on demand from parallel test workers): a lock
// directory holding the owner's pid; a lock whose owner is gone is taken over.
const lockDir = join(stamps, ".lock");
function acquireLock() {
  mkdirSync(stamps, { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "pid"), String(process.pid));
      return;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lockDir, "pid"), "utf8"));
    } catch {}
    let alive = false;
    try {
      if (owner) alive = (process.kill(owner, 0), true);
    } catch {}
    if (owner && !alive) rmSync(lockDir, { recursive: true, force: true });
    else if (Date.now() > deadline) fail(`waited 15 min for another build (lock ${lockDir})`);
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}
acquireLock();
process.on("exit", () => {
  try {
    if (Number(readFileSync(join(lockDir, "pid"), "utf8")) === process.pid) rmSync(lockDir, { recursive: true, force: true });
  } catch {}
});

const lock = join(root, "package-lock.json");
// MIXDISTILL_DEV_BUILD=1: an unminified labextension, much faster to build (for working on the extension).
const devBuild = process.env.MIXDISTILL_DEV_BUILD === "1";
const libInputs = [join(ext, "src"), join(ext, "tsconfig.json"), join(root, "src", "contract")];

if (wanted.includes("lib"))
  step("lib", libInputs, [join(ext, "lib", "index.js")], () => {
    let ms = run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(ext, "tsconfig.json")], ext);
    const t0 = Date.now();
    require("esbuild").buildSync({
      entryPoints: [join(ext, "src", "index.ts")],
      outfile: join(ext, "lib", "index.js"),
      bundle: true,
      format: "esm",
      target: "es2020",
      platform: "browser",
      packages: "external", // @jupyterlab/*, @lumino/*, plotly: resolved (and shared) by the federation build
      sourcemap: false,
      logLevel: "warning",
    });
    return ms + Date.now() - t0;
  });

if (wanted.includes("labextension"))
  step("labextension", [join(ext, "lib"), join(ext, "style"), join(ext, "package.json"), join(ext, "core"), lock],
    [join(ext, "labextension", "package.json")], () => {
      const builder = join(root, "node_modules", "@jupyterlab", "builder", "lib", "build-labextension.js");
      return run(process.execPath, [builder, ...(devBuild ? ["--development"] : []), "--core-path", join(ext, "core"), ext], ext);
    }, devBuild ? ":development" : "");

if (wanted.includes("app"))
  step("app", [join(ext, "app", "app.json"), join(ext, "app", "index.js"), join(ext, "app", "bootstrap.js"), join(ext, "app", "publicpath.js"),
    join(ext, "app", "templates"), join(ext, "app", "webpack.config.cjs"), join(ext, "core"), lock],
    [join(ext, "app", "build", "index.html")], () => {
      const webpackCli = join(root, "node_modules", "webpack-cli", "bin", "cli.js");
      return run(process.execPath, [webpackCli, "--config", join(ext, "app", "webpack.config.cjs")], ext);
    });
