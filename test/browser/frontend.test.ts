/// <reference lib="dom" />
/**
 * The front end `npm start` serves (extension/app): every core plugin of the JupyterLab release it is
 * built from and the standard widget manager are active, and the features a JupyterLab user reaches
 * for first work with the mixdistill kernel: Shift+Tab inspection of a function defined in a cell,
 * an application/json output as a tree, maths in markdown, a console on a notebook's kernel.
 * Screenshots go to test-results/browser/.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { ROOT, ensureBuilt, missingPrerequisite, openBrowser, screenshotPath, startLab, type BrowserSession, type LabServer, notebookDriver, saveFailure } from "./lab.js";

const missing = missingPrerequisite();
/** The product's notebooks, served beside the test notebook. */
const PRODUCT = Object.fromEntries(
  readdirSync(join(ROOT, "notebooks"))
    .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
    .map((f) => [f, JSON.parse(readFileSync(join(ROOT, "notebooks", f), "utf8")) as unknown]),
);

const FRONT = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: "mixdistill", display_name: "TypeScript (mixdistill)", language: "typescript" },
    language_info: { name: "typescript" },
  },
  cells: [
    { cell_type: "code", id: "define", metadata: {}, execution_count: null, outputs: [],
      source: "/** Adds two to a count. */\nfunction addTwo(count: number): number {\n  return count + 2;\n}\nconst shared = 41;" },
    { cell_type: "code", id: "call", metadata: {}, execution_count: null, outputs: [], source: "addTwo(3)" },
    { cell_type: "code", id: "json", metadata: {}, execution_count: null, outputs: [],
      source: 'json({ study: "learnability gap", students: [{ name: "Qwen2.5-0.5B", long: 0.31, short: 0.35 }] })' },
    { cell_type: "markdown", id: "maths", metadata: {}, source: "The gap is $\\Delta = P_{\\text{long}} - P_{\\text{short}}$." },
    { cell_type: "code", id: "late", metadata: {}, execution_count: null, outputs: [], source: 'const late: number = "not a number";\n"ran"' },
  ],
};

let lab: LabServer;
let session: BrowserSession;
let page: Page;
const { cells, runCell } = notebookDriver(() => page);


describe.skipIf(missing !== null)(`the JupyterLab front end${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    // Type warnings held back 1.5 s, so they certainly come after the cell's reply and idle status.
    lab = await startLab({ "front.ipynb": FRONT, ...PRODUCT }, { MIXDISTILL_LAB_EXPOSE_APP: "1", MIXDISTILL_TYPECHECK_DELAY_MS: "1500" });
    session = await openBrowser();
    page = session.page;
    await page.goto(`${lab.base}/lab/workspaces/f${Date.now()}/tree/front.ipynb?token=${lab.token}`);
    await cells().first().waitFor({ timeout: 60_000 });
  }, 600_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !page) return;
    await saveFailure(ctx.task.name, "failed-front", page, lab);
  });

  afterAll(async () => {
    await session?.close();
    await lab?.stop();
  });

  it("activates every core plugin package of the release and the widget manager", async () => {
    await expect
      .poll(async () => (await page.locator("#jp-main-statusbar").textContent()) ?? "", { timeout: 60_000 })
      .toMatch(/TypeScript \(mixdistill\) \| Idle/);
    const app = JSON.parse(readFileSync(join(ROOT, "extension", "app", "app.json"), "utf8")) as {
      extensions: Record<string, string>;
      mimeExtensions: Record<string, string>;
    };
    const core = JSON.parse(readFileSync(join(ROOT, "extension", "core", "package.json"), "utf8")) as {
      jupyterlab: { extensions: Record<string, string>; mimeExtensions: Record<string, string> };
    };
    // The build lists the release's whole set.
    for (const pkg of [...Object.keys(core.jupyterlab.extensions), ...Object.keys(core.jupyterlab.mimeExtensions)])
      expect(Object.keys(app.extensions).includes(pkg) || Object.keys(app.mimeExtensions).includes(pkg), pkg).toBe(true);
    const state = await page.evaluate(() => {
      const lab = (window as unknown as { jupyterapp: { listPlugins(): string[]; isPluginActivated(id: string): boolean } }).jupyterapp;
      const ids = lab.listPlugins();
      return { ids, active: ids.filter((id) => lab.isPluginActivated(id)) };
    });
    // Every package contributes plugins to the page (mime extensions as renderer plugins).
    for (const pkg of [...Object.keys(app.extensions), ...Object.keys(app.mimeExtensions)])
      expect(state.ids.some((id) => id.startsWith(`${pkg}:`)), `plugins of ${pkg}`).toBe(true);
    for (const id of [
      "@jupyter-widgets/jupyterlab-manager:plugin",
      "@jupyterlab/tooltip-extension:notebooks",
      "@jupyterlab/inspector-extension:notebooks",
      "@jupyterlab/mathjax-extension:plugin",
      "@jupyterlab/console-extension:tracker",
      "@jupyterlab/toc-extension:registry",
      "@jupyterlab/running-extension:plugin",
      "@jupyterlab/help-extension:about",
      "@jupyterlab/csvviewer-extension:csv",
      "@jupyterlab/imageviewer-extension:plugin",
      "mixdistill-labextension:plot",
      "mixdistill-labextension:widgets",
    ])
      expect(state.active, id).toContain(id);
    expect(session.errors).toEqual([]);
    await page.screenshot({ path: screenshotPath("front-end") });
  }, 60_000);

  it("Shift+Tab shows the signature and doc comment of a function defined in an earlier cell", async () => {
    await runCell(0);
    const call = cells().nth(1);
    await call.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("Shift+Tab");
    const tip = page.locator(".jp-Tooltip");
    await tip.waitFor({ timeout: 20_000 });
    await expect.poll(async () => (await tip.textContent()) ?? "", { timeout: 20_000 }).toMatch(/addTwo\(count: number\): number/);
    expect(await tip.textContent()).toContain("Adds two to a count.");
    await page.keyboard.press("Escape");
  }, 180_000);

  it("renders an application/json output as a collapsible tree", async () => {
    const cell = await runCell(2);
    const tree = cell.locator(".jp-RenderedJSON");
    await tree.waitFor({ timeout: 20_000 });
    await expect.poll(async () => (await tree.textContent()) ?? "", { timeout: 10_000 }).toContain("students");
    expect(await tree.textContent()).toContain("learnability gap");
  }, 180_000);

  it("typesets an equation in a markdown cell", async () => {
    const md = cells().nth(3);
    await md.locator(".jp-InputArea-prompt").click();
    await page.keyboard.press("Shift+Enter");
    await md.locator(".jp-RenderedMarkdown mjx-container").first().waitFor({ timeout: 30_000 });
    expect(await md.locator(".jp-RenderedMarkdown").textContent()).not.toContain("$\\Delta");
  }, 60_000);

  it("shows a type warning that arrives after the cell finished, in that cell's output", async () => {
    const cell = await runCell(4);
    const outputs = cell.locator(".jp-OutputArea-output");
    await expect.poll(async () => (await outputs.allTextContents()).join("\n"), { timeout: 10_000 }).toContain("ran");
    // The cell is done (its prompt shows the count) and the warning is not there yet: it comes later.
    expect((await outputs.allTextContents()).join("\n")).not.toContain("not assignable");
    await expect
      .poll(async () => (await cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allTextContents()).join("\n"), { timeout: 20_000 })
      .toMatch(/Type 'string' is not assignable to type 'number'/);
    await cell.screenshot({ path: screenshotPath("front-end-late-warning") });
  }, 60_000);

  it("opens a console on the notebook's kernel: names defined in the notebook are there", async () => {
    await page.evaluate(() =>
      (window as unknown as { jupyterapp: { commands: { execute(id: string, args?: unknown): Promise<unknown> } } }).jupyterapp.commands.execute(
        "notebook:create-console",
      ),
    );
    const consolePanel = page.locator(".jp-ConsolePanel:visible");
    await consolePanel.waitFor({ timeout: 30_000 });
    const prompt = consolePanel.locator(".jp-CodeConsole-promptCell .cm-content");
    await prompt.click();
    await page.keyboard.type("addTwo(shared - 1)");
    await page.keyboard.press("Shift+Enter");
    await expect
      .poll(async () => (await consolePanel.locator(".jp-CodeConsole-content .jp-OutputArea-output").last().textContent()) ?? "", { timeout: 60_000 })
      .toContain("42");
    expect(session.errors).toEqual([]);
  }, 120_000);

  it("opens each of the product's notebooks without marking it modified", async () => {
    expect(Object.keys(PRODUCT).length).toBeGreaterThanOrEqual(4);
    for (const path of Object.keys(PRODUCT)) {
      const dirty = await page.evaluate(async (p) => {
        type Model = { dirty: boolean };
        type Panel = { context: { ready: Promise<void>; model: Model }; sessionContext: { ready: Promise<void> } };
        const lab = (window as unknown as { jupyterapp: { commands: { execute(id: string, args?: unknown): Promise<unknown> } } }).jupyterapp;
        const panel = (await lab.commands.execute("docmanager:open", { path: p })) as Panel;
        await panel.context.ready;
        await panel.sessionContext.ready;
        // Kernel info arrives after the session is ready; give the notebook time to apply it.
        await new Promise((r) => setTimeout(r, 3000));
        return panel.context.model.dirty;
      }, path);
      // (JupyterLab marks a notebook modified when the kernel's language_info differs from the saved one.)
      expect(dirty, `${path} is marked modified after opening`).toBe(false);
    }
  }, 180_000);

  it("lists the installed prebuilt extensions in the extension manager", async () => {
    await page.evaluate(() =>
      (window as unknown as { jupyterapp: { shell: { activateById(id: string): void } } }).jupyterapp.shell.activateById("extensionmanager.main-view"),
    );
    const panel = page.locator("#extensionmanager\\.main-view");
    await panel.waitFor({ timeout: 20_000 });
    const yes = panel.locator(".jp-extensionmanager-disclaimer button", { hasText: /yes/i });
    if (await yes.count()) await yes.first().click();
    const entry = panel.locator(".jp-extensionmanager-entry", { hasText: "mixdistill-labextension" });
    await entry.first().waitFor({ timeout: 30_000 });
    expect(await panel.locator(".jp-extensionmanager-error").count()).toBe(0);
    await page.screenshot({ path: screenshotPath("front-end-extensions") });
    expect(session.errors).toEqual([]);
  }, 60_000);
});

