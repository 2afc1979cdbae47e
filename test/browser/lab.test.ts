/// <reference lib="dom" />
/**
 * The extension's plots in a real JupyterLab 4 front end (the widgets, the mixer among them, are in
 * widgets.test.ts): headless Chromium, Debian's jupyter_server, the
 * mixdistill kernel and the prebuilt labextension installed with `mixdistill install --prefix`.
 * One server and one browser for the suite; the steps run in order on one notebook.
 * Screenshots go to test-results/browser/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, screenshotPath, startLab, type BrowserSession, type LabServer, notebookDriver, saveFailure } from "./lab.js";

const missing = missingPrerequisite();
const N = 7500;

const LIVE = notebook([
  `import { synth, paperResults, longCotGap, gapPlot } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: ${N}, seed: 1 });\ncorpus.length`,
  `const report = longCotGap(paperResults());\ndisplay(gapPlot(report));\nreport.entries.find((e) => e.student === "Qwen2.5-0.5B-Instruct" && e.benchmark === "Average")!.value`,
]);

let lab: LabServer;
let session: BrowserSession;
let page: Page;
const { cells, kernelIdle, cellResult } = notebookDriver(() => page);
/** The steps build on each other: after the first failure the rest fail at once, naming it. */
let broken: string | undefined;
const requireEarlierSteps = (): void => {
  if (broken) throw new Error(`not run: an earlier step failed ("${broken}")`);
};

describe.skipIf(missing !== null)(`JupyterLab front end${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    lab = await startLab({ "live.ipynb": LIVE });
    session = await openBrowser();
    page = session.page;
  }, 600_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !page) return;
    broken ??= ctx.task.name;
    await saveFailure(ctx.task.name, "failed", page, lab);
  });

  afterAll(async () => {
    await session?.close();
    await lab?.stop();
  });

  it("loads the prebuilt extension and runs cells on the mixdistill kernel", async () => {
    await page.goto(`${lab.base}/lab/workspaces/t${Date.now()}/tree/live.ipynb?token=${lab.token}`);
    await cells().first().waitFor({ timeout: 60_000 });
    await kernelIdle();
    expect(await cellResult(0)).toBe(String(N));
  }, 180_000);

  it("renders a gap plot with plotly: SVG present, hover shows the numbers", async () => {
    requireEarlierSteps();
    const expected = Number(await cellResult(1));
    expect(expected).toBeCloseTo(-4.7, 5);
    const plot = page.locator(".jp-NotebookPanel:visible .jp-MixdistillPlot").first();
    await plot.locator("svg.main-svg").first().waitFor({ timeout: 30_000 });
    const bars = plot.locator(".barlayer .point path");
    await expect.poll(() => bars.count(), { timeout: 10_000 }).toBeGreaterThan(3);
    await plot.scrollIntoViewIfNeeded();
    const bar = (await bars.first().boundingBox())!;
    await page.mouse.move(bar.x + bar.width / 2, bar.y + bar.height / 2);
    const hover = plot.locator(".hoverlayer .hovertext");
    await hover.first().waitFor({ timeout: 10_000 });
    const text = ((await hover.first().textContent()) ?? "").replace(/\u2212/g, "-");
    expect(text).toContain(expected.toFixed(1));
    await plot.screenshot({ path: screenshotPath("03-gap-plot-light") });
  });

  it("resizes the plot with the panel", async () => {
    requireEarlierSteps();
    const svg = page.locator(".jp-NotebookPanel:visible .jp-MixdistillPlot svg.main-svg").first();
    const before = (await svg.boundingBox())!.width;
    await page.setViewportSize({ width: 1000, height: 1000 });
    await expect.poll(async () => (await svg.boundingBox())!.width, { timeout: 10_000 }).toBeLessThan(before - 100);
    await page.setViewportSize({ width: 1400, height: 1000 });
    await expect.poll(async () => (await svg.boundingBox())!.width, { timeout: 10_000 }).toBeGreaterThan(before - 20);
  });

  it("switches to the dark theme: the plot follows", async () => {
    requireEarlierSteps();
    const plot = page.locator(".jp-NotebookPanel:visible .jp-MixdistillPlot").first();
    const fontFill = () => plot.locator("svg.main-svg .xtick text").first().evaluate((e) => getComputedStyle(e).fill);
    const lightFill = await fontFill();
    await page.getByRole("menuitem", { name: "Settings", exact: true }).click({ timeout: 10_000 });
    await page.locator(".lm-Menu .lm-Menu-item", { hasText: "Theme" }).first().hover({ timeout: 10_000 });
    await page.locator(".lm-Menu .lm-Menu-item", { hasText: "JupyterLab Dark" }).first().click({ timeout: 10_000 });
    await expect.poll(() => page.evaluate(() => document.body.dataset.jpThemeLight), { timeout: 20_000 }).toBe("false");
    await expect.poll(() => plot.getAttribute("data-theme"), { timeout: 10_000 }).toBe("dark");
    await expect.poll(fontFill, { timeout: 10_000 }).not.toBe(lightFill);
    await page.locator("#jupyterlab-splash").waitFor({ state: "detached", timeout: 20_000 });
    await page.screenshot({ path: screenshotPath("04-dark-theme") });
  });

  it("logs no console errors beyond the known start-up noise", () => {
    expect(session.errors).toEqual([]);
  });
});
