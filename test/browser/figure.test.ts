/// <reference lib="dom" />
/**
 * Notebook 01's two-panel Figure 1 (both gaps against student size, 820 px high) drawn whole: in
 * JupyterLab (light, after switching to dark, after a resize) and in the offline HTML report, both
 * panels and every tick label lie inside the output area and no two axis titles overlap.
 * Screenshots of the figure, light and dark, go to test-results/browser/ (docs/img/ has copies).
 * Also: notebook 01 saved from JupyterLab after Run All stays small (no plotly.js in it).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Locator, Page } from "playwright-core";
import { gapPlot } from "../../src/viz/index.js";
import { paperGaps } from "../../src/gap/index.js";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, ROOT, screenshotPath, startLab, type BrowserSession, type LabServer, notebookDriver } from "./lab.js";

const missing = missingPrerequisite();
const FIGURE = `gapPlot([paperGaps(1), paperGaps(2)], { title: "Learnability gaps in the paper (Tables 1 and 2)" })`;
const NB = notebook([`import { paperGaps, gapPlot } from "mixdistill";`, FIGURE]);

interface Box { x: number; y: number; width: number; height: number }
interface Layout {
  area: Box;
  svg: Box;
  panels: Box[];
  ticks: Array<{ text: string; box: Box }>;
  titles: Array<{ text: string; box: Box }>;
}

/** Boxes of the figure under `root` (an output area): the drawing, its panels, tick labels and titles. */
async function layoutOf(root: Locator): Promise<Layout> {
  return root.evaluate((area) => {
    const box = (e: Element) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    const svg = area.querySelector("svg.main-svg")!;
    return {
      area: box(area),
      svg: box(svg),
      // One drag rectangle per panel (plotly's .draglayer .xy, .x2y2, ...): the panel's plotting area.
      panels: [...area.querySelectorAll(".draglayer .nsewdrag")].map(box),
      ticks: [...area.querySelectorAll(".xtick text, .ytick text, .x2tick text, .y2tick text")]
        .filter((t) => (t.textContent ?? "").trim() !== "")
        .map((t) => ({ text: t.textContent ?? "", box: box(t) })),
      titles: [...area.querySelectorAll(".g-xtitle text, .g-ytitle text, .g-x2title text, .g-y2title text, .g-gtitle text")]
        .filter((t) => (t.textContent ?? "").trim() !== "")
        .map((t) => ({ text: t.textContent ?? "", box: box(t) })),
    };
  });
}

const inside = (b: Box, outer: Box, slack = 1): boolean =>
  b.x >= outer.x - slack && b.y >= outer.y - slack && b.x + b.width <= outer.x + outer.width + slack && b.y + b.height <= outer.y + outer.height + slack;
const overlap = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

function expectWhole(l: Layout, where: string): void {
  expect(l.svg.height, `${where}: the figure's own height`).toBeGreaterThanOrEqual(819);
  expect(inside(l.svg, l.area), `${where}: drawing ${JSON.stringify(l.svg)} inside the output area ${JSON.stringify(l.area)}`).toBe(true);
  const panels = l.panels.filter((p) => p.width > 0 && p.height > 0);
  expect(panels.length, `${where}: two panels`).toBeGreaterThanOrEqual(2);
  for (const p of panels) expect(inside(p, l.area), `${where}: panel inside`).toBe(true);
  expect(l.ticks.length, `${where}: tick labels`).toBeGreaterThan(10);
  for (const t of l.ticks) expect(inside(t.box, l.area), `${where}: tick "${t.text}" ${JSON.stringify(t.box)} inside ${JSON.stringify(l.area)}`).toBe(true);
  expect(l.titles.length, `${where}: axis titles and the figure title`).toBeGreaterThanOrEqual(4);
  for (let i = 0; i < l.titles.length; i++) {
    for (let j = i + 1; j < l.titles.length; j++) {
      expect(overlap(l.titles[i]!.box, l.titles[j]!.box), `${where}: "${l.titles[i]!.text}" ${JSON.stringify(l.titles[i]!.box)} overlaps "${l.titles[j]!.text}" ${JSON.stringify(l.titles[j]!.box)}`).toBe(false);
    }
  }
}

let lab: LabServer;
let session: BrowserSession;
let page: Page;
const { cells, runCell } = notebookDriver(() => page);


describe.skipIf(missing !== null)(`Figure 1, two panels, whole${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    const nb01 = JSON.parse(readFileSync(join(ROOT, "notebooks", "01-paper-learnability-gap.ipynb"), "utf8")) as unknown;
    lab = await startLab({ "figure.ipynb": NB, "01-paper-learnability-gap.ipynb": nb01 }, { MIXDISTILL_LAB_EXPOSE_APP: "1" });
    session = await openBrowser();
    page = session.page;
  }, 600_000);

  afterAll(async () => {
    await session?.close();
    await lab?.stop();
  });

  it("in JupyterLab: light, after a theme switch and after a resize", async () => {
    await page.goto(`${lab.base}/lab/workspaces/f${Date.now()}/tree/figure.ipynb?token=${lab.token}`);
    await cells().first().waitFor({ timeout: 60_000 });
    await expect.poll(async () => (await page.locator("#jp-main-statusbar").textContent()) ?? "", { timeout: 60_000 }).toMatch(/Idle/);
    await runCell(0);
    const cell = await runCell(1);
    const area = cell.locator(".jp-OutputArea-output").last();
    await area.locator("svg.main-svg").first().waitFor({ timeout: 30_000 });
    await area.scrollIntoViewIfNeeded();
    expectWhole(await layoutOf(area), "light");
    await area.screenshot({ path: screenshotPath("figure1-two-panel-light") });

    await page.getByRole("menuitem", { name: "Settings", exact: true }).click({ timeout: 10_000 });
    await page.locator(".lm-Menu .lm-Menu-item", { hasText: "Theme" }).first().hover({ timeout: 10_000 });
    await page.locator(".lm-Menu .lm-Menu-item", { hasText: "JupyterLab Dark" }).first().click({ timeout: 10_000 });
    await expect.poll(() => page.evaluate(() => document.body.dataset.jpThemeLight), { timeout: 20_000 }).toBe("false");
    await page.locator("#jupyterlab-splash").waitFor({ state: "detached", timeout: 20_000 });
    await expect.poll(() => cell.locator(".jp-MixdistillPlot").getAttribute("data-theme"), { timeout: 10_000 }).toBe("dark");
    await area.scrollIntoViewIfNeeded();
    expectWhole(await layoutOf(area), "dark");
    await area.screenshot({ path: screenshotPath("figure1-two-panel-dark") });

    await page.setViewportSize({ width: 900, height: 1000 });
    await expect.poll(async () => (await layoutOf(area)).svg.width, { timeout: 10_000 }).toBeLessThan(900);
    await page.waitForTimeout(300);
    expectWhole(await layoutOf(area), "dark, 900 px window");
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.waitForTimeout(300);
    expectWhole(await layoutOf(area), "dark, back to 1400 px");
  }, 300_000);

  it("in the offline HTML report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-figure-"));
    try {
      const prefix = join(dir, "prefix");
      execFileSync(process.execPath, [join(ROOT, "bin", "mixdistill.js"), "install", "--prefix", prefix], { stdio: "pipe" });
      const bundle = gapPlot([paperGaps(1), paperGaps(2)], { title: "Learnability gaps in the paper (Tables 1 and 2)" })[Symbol.for("Jupyter.display")]();
      const data = Object.fromEntries(Object.entries(bundle).map(([k, v]) => [k, typeof v === "string" ? v.split(/(?<=\n)/) : v]));
      const nb = notebook([{ source: FIGURE, execution_count: 1, outputs: [{ output_type: "execute_result", execution_count: 1, data, metadata: {} }] }]);
      writeFileSync(join(dir, "figure.ipynb"), JSON.stringify(nb));
      execFileSync("/usr/bin/python3", ["-m", "nbconvert", "--to", "html", "--template", "mixdistill", join(dir, "figure.ipynb")], {
        stdio: "pipe",
        env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") },
      });
      const report = await session.context.newPage();
      await report.route("**/*", (route) => (route.request().url().startsWith("file:") ? route.continue() : route.abort()));
      await report.goto(pathToFileURL(join(dir, "figure.html")).href);
      const area = report.locator(".jp-OutputArea-output").first();
      await area.locator("svg.main-svg").first().waitFor({ timeout: 30_000 });
      expectWhole(await layoutOf(area), "offline HTML");
      await report.setViewportSize({ width: 900, height: 1000 });
      await report.waitForTimeout(500);
      expectWhole(await layoutOf(area), "offline HTML, 900 px window");
      await report.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("notebook 01 saved after Run All is under 300 KB and carries no plotly.js", async () => {
    const path = "01-paper-learnability-gap.ipynb";
    const state = await page.evaluate(async (p) => {
      type Cell = { model: { type: string; executionCount: number | null } };
      type Panel = { context: { ready: Promise<void>; save(): Promise<void>; model: { dirty: boolean } }; sessionContext: { ready: Promise<void>; session: { kernel: { status: string } | null } | null }; content: { widgets: Cell[] } };
      const app = (window as unknown as { jupyterapp: { commands: { execute(id: string, args?: unknown): Promise<unknown> } } }).jupyterapp;
      const panel = (await app.commands.execute("docmanager:open", { path: p })) as Panel;
      await panel.context.ready;
      await panel.sessionContext.ready;
      await new Promise((r) => setTimeout(r, 2000));
      await app.commands.execute("notebook:run-all-cells");
      const code = () => panel.content.widgets.filter((c) => c.model.type === "code");
      const deadline = Date.now() + 240_000;
      while (Date.now() < deadline) {
        const done = code().every((c) => typeof c.model.executionCount === "number") && panel.sessionContext.session?.kernel?.status === "idle";
        if (done) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      await panel.context.save();
      return { cells: code().length, ran: code().filter((c) => typeof c.model.executionCount === "number").length };
    }, path);
    expect(state.ran).toBe(state.cells);
    const saved = join(lab.rootDir, path);
    const text = readFileSync(saved, "utf8");
    expect(text).toContain("application/vnd.mixdistill.plot.v1+json"); // the plots are there, drawn by the extension
    expect(text.match(/plotly\.js v\d+\.\d+\.\d+/g) ?? []).toEqual([]);
    expect(statSync(saved).size).toBeLessThan(300 * 1024);
    console.log(`notebook 01 saved after Run All: ${(statSync(saved).size / 1024).toFixed(0)} KB`);
  }, 300_000);
});
