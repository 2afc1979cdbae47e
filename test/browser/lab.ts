/**
 * Harness for the browser suite: a real JupyterLab 4 front end (extension/app) on Debian's
 * jupyter_server, with the mixdistill kernelspec and prebuilt labextension installed the way users
 * install them (`mixdistill install --prefix`), driven in headless Chromium by playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Locator, type Page } from "playwright-core";
import { expect } from "vitest";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const ARTIFACTS = join(ROOT, "test-results", "browser");
const PYTHON = "/usr/bin/python3";
const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Why the suite cannot run here, or null when it can. */
export function missingPrerequisite(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  const py = spawnSync(PYTHON, ["-c", "import jupyter_server, jupyterlab_server"], { encoding: "utf8" });
  if (py.status !== 0) return "Debian's python3-jupyter-server / python3-jupyterlab-server are not installed";
  return null;
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Builds what is missing or stale: the library and kernel (dist/), the labextension and the front end. */
export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, "dist", "kernel", "cli.js")) || !existsSync(join(ROOT, "dist", "kernel", "widgets", "mixer.js"))) {
    spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
    if (!existsSync(join(ROOT, "dist", "kernel", "cli.js"))) throw new Error("dist/kernel/cli.js missing after `npm run build`");
  }
  run(process.execPath, [join(ROOT, "extension", "scripts", "build.mjs")], "extension build");
}

const freePort = (): Promise<number> =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? ok(a.port) : fail(new Error("no port"))));
    });
  });

export interface LabServer {
  base: string;
  token: string;
  /** The notebook directory the server serves. */
  rootDir: string;
  /** The Jupyter data dir the kernelspec and labextension were installed into. */
  dataDir: string;
  log(): string;
  stop(): Promise<void>;
}

/** Installs mixdistill into a temp prefix and starts the server on `notebooks` (name -> JSON). */
export async function startLab(notebooks: Record<string, unknown>, extraEnv: Record<string, string> = {}): Promise<LabServer> {
  const tmp = mkdtempSync(join(tmpdir(), "mixdistill-lab-"));
  const prefix = join(tmp, "prefix");
  const rootDir = join(tmp, "notebooks");
  mkdirSync(rootDir, { recursive: true });
  for (const [name, nb] of Object.entries(notebooks)) writeFileSync(join(rootDir, name), JSON.stringify(nb, null, 1));
  run(process.execPath, [join(ROOT, "bin", "mixdistill.js"), "install", "--prefix", prefix], "mixdistill install --prefix");
  const dataDir = join(prefix, "share", "jupyter");
  if (!existsSync(join(dataDir, "labextensions", "mixdistill-labextension", "package.json")))
    throw new Error(`mixdistill install did not put the labextension in ${dataDir}/labextensions`);
  const port = await freePort();
  const token = `t${Math.random().toString(36).slice(2)}`;
  const logFile = join(tmp, "server.log");
  const args = [
    join(ROOT, "extension", "app", "serve.py"),
    "--state-dir", join(tmp, "state"),
    `--port=${port}`, "--ip=127.0.0.1", "--no-browser",
    `--ServerApp.token=${token}`, `--ServerApp.root_dir=${rootDir}`,
    "--ServerApp.port_retries=0",
  ];
  if (process.getuid?.() === 0) args.push("--allow-root");
  const env = {
    ...process.env,
    JUPYTER_PATH: dataDir,
    JUPYTER_DATA_DIR: join(tmp, "data"),
    JUPYTER_CONFIG_DIR: join(tmp, "config"),
    JUPYTER_RUNTIME_DIR: join(tmp, "runtime"),
    JUPYTER_NO_CONFIG: "1",
    ...extraEnv,
  };
  let output = "";
  const proc: ChildProcess = spawn(PYTHON, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`jupyter server exited with ${proc.exitCode}:\n${output}`);
    try {
      const r = await fetch(`${base}/api/status?token=${token}`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`jupyter server did not answer within 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    token,
    rootDir,
    dataDir,
    log: () => output,
    stop: async () => {
      writeFileSync(logFile, output);
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise<void>((ok) => {
          const t = setTimeout(() => {
            proc.kill("SIGKILL");
            ok();
          }, 10_000);
          proc.once("exit", () => {
            clearTimeout(t);
            ok();
          });
        });
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * Console noise of JupyterLab 4 itself; anything else logged as an error fails a test. (The "Maximum
 * call stack size exceeded" design-token errors FINDINGS.md lists are gone: the front end is built
 * with the FAST versions JupyterLab ships, see extension/app/webpack.config.cjs.)
 */
const KNOWN_NOISE: RegExp[] = [
  /Not same Y\.Doc/,
  // JupyterLab 4.6.3's debugger asks the kernel for its modules after every execute_reply and throws,
  // unhandled, when there is no debug session: so with every kernel that has no debugger support.
  /No active debugger session/,
  /Failed to load resource: the server responded with a status of 404 .*\/(api\/(lsp|nbconvert|kernelspecs\/.*\/logo)|favicon)/,
];

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors that are not known start-up noise. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<BrowserSession> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const keep = (text: string) => {
    if (!KNOWN_NOISE.some((r) => r.test(text))) errors.push(text);
  };
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") keep(`console.error: ${m.text()}`);
  });
  page.on("pageerror", (e) => keep(`page error: ${e.message}`));
  return { browser, context, page, errors, close: () => browser.close() };
}

export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, `${name}.png`);
}

/** A notebook for the mixdistill kernel. */
export function notebook(cells: Array<string | { source: string; outputs?: unknown[]; execution_count?: number | null }>): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "mixdistill", display_name: "TypeScript (mixdistill)", language: "typescript" },
      language_info: { name: "typescript" },
    },
    cells: cells.map((c, i) => {
      const cell = typeof c === "string" ? { source: c } : c;
      return { cell_type: "code", id: `cell-${i}`, metadata: {}, execution_count: cell.execution_count ?? null, outputs: cell.outputs ?? [], source: cell.source };
    }),
  };
}

export const readJson = (p: string): unknown => JSON.parse(readFileSync(p, "utf8"));

/** Drives the visible notebook of a page: its cells, the kernel's idle state, running a cell. */
export interface NotebookDriver {
  cells(): Locator;
  /** Cells run before the session has its kernel are silently skipped by JupyterLab: wait for it. */
  kernelIdle(): Promise<void>;
  /** Runs cell `index` (Shift+Enter) and waits until its prompt shows a new execution count. */
  runCell(index: number): Promise<Locator>;
  /** Runs cell `index` and returns the text of its last output (quotes of a string value removed). */
  cellResult(index: number): Promise<string>;
}

export function notebookDriver(page: () => Page): NotebookDriver {
  const cells = (): Locator => page().locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell");
  const prompt = async (cell: Locator): Promise<string> => (await cell.locator(".jp-InputArea-prompt").textContent()) ?? "";
  const runCell = async (index: number): Promise<Locator> => {
    const cell = cells().nth(index);
    await cell.locator(".jp-InputArea-prompt").click();
    await page().keyboard.press("Shift+Enter");
    // Done when the prompt shows the new execution count ([n]: rather than [*]: or the old one).
    await expect.poll(() => prompt(cell), { timeout: 120_000 }).toMatch(/\[\d+\]/);
    await expect.poll(() => prompt(cell), { timeout: 120_000 }).not.toMatch(/\*/);
    return cell;
  };
  return {
    cells,
    kernelIdle: async () => {
      await expect
        .poll(async () => (await page().locator("#jp-main-statusbar").textContent()) ?? "", { timeout: 60_000 })
        .toMatch(/TypeScript \(mixdistill\) \| Idle/);
    },
    runCell,
    cellResult: async (index: number) => {
      const cell = await runCell(index);
      const text = (await cell.locator(".jp-OutputArea-output").last().textContent()) ?? "";
      return text.trim().replace(/^'|'$/g, "");
    },
  };
}

/** After a failed test: a screenshot of the page and the tail of the server's log, named `<prefix>-<test name>` under ARTIFACTS. */
export async function saveFailure(testName: string, prefix: string, page: Page, lab: LabServer): Promise<void> {
  const name = testName.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
  await page.screenshot({ path: screenshotPath(`${prefix}-${name}`) }).catch(() => undefined);
  writeFileSync(join(ARTIFACTS, `${prefix}-${name}.server.log`), lab.log().slice(-20_000));
}
