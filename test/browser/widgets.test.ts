/// <reference lib="dom" />
/**
 * Jupyter widgets made in TypeScript cells, in a real JupyterLab 4 front end with the standard widget
 * manager (@jupyter-widgets/jupyterlab-manager): ipywidgets' own views for the controls, and the
 * mixer, an anywidget whose view (its `_esm`) the mixdistill labextension hosts in that manager.
 * Headless Chromium, Debian's jupyter_server, `mixdistill install --prefix`; one server and one
 * notebook, the steps in order. Screenshots go to test-results/browser/ (and docs/img/mixer.png).
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Locator, Page } from "playwright-core";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, ROOT, screenshotPath, startLab, type BrowserSession, type LabServer, notebookDriver, saveFailure } from "./lab.js";

const missing = missingPrerequisite();
const N = 7500;

const CELLS = [
  /* 0 */ `import { synth } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: ${N}, seed: 1 });\ncorpus.length`,
  /* 1 */ `const seenS: number[] = [];\nconst s = widgets.IntSlider({ value: 3, min: 0, max: 10, description: "n" });\ns.observe((c) => seenS.push(c.new as number), "value");\ns`,
  /* 2 */ `JSON.stringify({ value: s.value, seen: seenS })`,
  /* 3 */ `s.value = 8;`,
  /* 4 */ `widgets.HBox([widgets.IntSlider({ value: 1, description: "a" }), widgets.Text({ value: "hello", description: "b" }), widgets.Checkbox({ value: true, description: "c" })])`,
  /* 5 */ `const seen: number[][] = [];\nconst m = mixer(corpus, { sources: ["long", "short"], weight: 0.2, onChange: (c) => seen.push(c.weights) });\nm`,
  /* 6 */ `JSON.stringify({ value: m.value, long: m.composition.sources[0].questions, strategy: m.strategy, seed: m.seed, calls: seen.length, ms: m.lastComputeMs })`,
  /* 7 */ `m.value = [0.5, 0.5];`,
  /* 8 */ `const m3 = mixer(corpus, { sources: ["long", "short", "pad"], weights: [0.2, 0.3, 0.5], strategy: "interleave" });\nm3`,
  /* 9 */ `JSON.stringify(m3.value)`,
  /* 10 */ `const fragile = mixer(corpus, { sources: ["long", "short"], weight: 0.2, onChange: () => { throw new Error("callback exploded"); } });\nfragile`,
];

let lab: LabServer;
let session: BrowserSession;
let page: Page;
const { cells, kernelIdle, runCell, cellResult } = notebookDriver(() => page);
let broken: string | undefined;
const requireEarlierSteps = (): void => {
  if (broken) throw new Error(`not run: an earlier step failed ("${broken}")`);
};

const output = (cell: number): Locator => cells().nth(cell).locator(".jp-OutputArea-output").first();
const mixerIn = (cell: number): Locator => output(cell).locator(".mixdistill-anywidget .mixdistill-mixer");
const slider = (mix: Locator, source: string): Locator => mix.locator(`input[type=range][data-source="${source}"]`);
const questions = (mix: Locator, source: string): Locator => mix.locator(`tr[data-source="${source}"] .mixdistill-mixer-questions`);
const weightsOf = async (mix: Locator): Promise<number[]> => JSON.parse((await mix.getAttribute("data-weights")) ?? "[]") as number[];
const num = (s: string | null): number => Number((s ?? "").replace(/,/g, ""));

describe.skipIf(missing !== null)(`widgets in JupyterLab${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    lab = await startLab({ "widgets.ipynb": notebook(CELLS) }, { MIXDISTILL_LAB_EXPOSE_APP: "1" });
    session = await openBrowser();
    page = session.page;
  }, 600_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== "fail" || !page) return;
    broken ??= ctx.task.name;
    await saveFailure(ctx.task.name, "failed-widgets", page, lab);
  });

  afterAll(async () => {
    await session?.close();
    await lab?.stop();
  });

  it("an IntSlider made in a cell renders with ipywidgets' view; moved in the page, it changes .value in the kernel and observe fires", async () => {
    await page.goto(`${lab.base}/lab/workspaces/w${Date.now()}/tree/widgets.ipynb?token=${lab.token}`);
    await cells().first().waitFor({ timeout: 60_000 });
    await kernelIdle();
    expect(await cellResult(0)).toBe(String(N));
    await runCell(1);
    const view = output(1).locator(".widget-slider");
    await view.waitFor({ timeout: 30_000 });
    expect(((await view.locator(".widget-readout").textContent()) ?? "").trim()).toBe("3");
    const handle = view.locator(".noUi-handle");
    await handle.focus();
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await expect.poll(async () => ((await view.locator(".widget-readout").textContent()) ?? "").trim(), { timeout: 10_000 }).toBe("5");
    await expect.poll(async () => JSON.parse(await cellResult(2)) as { value: number; seen: number[] }, { timeout: 20_000 }).toEqual({ value: 5, seen: [4, 5] });
  }, 240_000);

  it("setting .value from a cell moves the slider in the page", async () => {
    requireEarlierSteps();
    await runCell(3);
    const view = output(1).locator(".widget-slider");
    await expect.poll(async () => ((await view.locator(".widget-readout").textContent()) ?? "").trim(), { timeout: 10_000 }).toBe("8");
    const at = await view.locator(".noUi-handle").getAttribute("aria-valuenow");
    expect(Number(at)).toBe(8);
    // A change from code fires observe too.
    expect((JSON.parse(await cellResult(2)) as { seen: number[] }).seen).toEqual([4, 5, 8]);
  });

  it("an HBox of controls lays its children out in a row", async () => {
    requireEarlierSteps();
    await runCell(4);
    const box = output(4).locator(".widget-hbox").first();
    await box.waitFor({ timeout: 30_000 });
    const kids = box.locator(":scope > .widget-inline-hbox, :scope > .jupyter-widgets");
    await expect.poll(() => kids.count(), { timeout: 10_000 }).toBe(3);
    const boxes = await Promise.all([0, 1, 2].map(async (i) => (await kids.nth(i).boundingBox())!));
    expect(boxes[1]!.x).toBeGreaterThanOrEqual(boxes[0]!.x + boxes[0]!.width - 1);
    expect(boxes[2]!.x).toBeGreaterThanOrEqual(boxes[1]!.x + boxes[1]!.width - 1);
    for (const b of boxes) expect(Math.abs(b.y - boxes[0]!.y)).toBeLessThan(boxes[0]!.height);
    expect(await box.locator("input[type=text]").inputValue()).toBe("hello");
    expect(await box.locator("input[type=checkbox]").isChecked()).toBe(true);
  });

  it("the mixer renders through the widget manager and its slider drives the kernel's mix", async () => {
    requireEarlierSteps();
    await runCell(5);
    const mix = mixerIn(5);
    await mix.waitFor({ timeout: 30_000 });
    // A view made by the widget manager (a lumino widget of jupyterlab-manager's renderer), not a mime renderer.
    // The AnyView's element, a lumino widget the widget manager's renderer made (the labextension has no mime renderer for it).
    expect(await mix.evaluate((e) => e.parentElement!.className)).toBe("lm-Widget mixdistill-anywidget");
    expect(await weightsOf(mix)).toEqual([0.2, 0.8]);
    expect(num(await questions(mix, "long").textContent())).toBe(0.2 * N);
    expect(((await mix.locator(".mixdistill-mixer-strategyNote").textContent()) ?? "")).toBe("each question is used once, answered by one source drawn by the weights");
    // per-question uses each question once: one "questions" column.
    expect(await mix.locator("th").allTextContents()).toEqual(["source", "weight", "questions", "tokens", "mean tokens", "lengths"]);
    await slider(mix, "long").focus();
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
    await expect.poll(async () => num(await questions(mix, "long").textContent()), { timeout: 20_000 }).toBe(0.3 * N);
    expect(await weightsOf(mix)).toEqual([0.3, 0.7]);
    expect(await slider(mix, "short").inputValue()).toBe("0.7");
    const k = JSON.parse(await cellResult(6)) as { value: number[]; long: number; calls: number };
    expect(k.value).toEqual([0.3, 0.7]);
    expect(k.long).toBe(0.3 * N);
    expect(k.calls).toBeGreaterThanOrEqual(1);
    expect(k.calls).toBeLessThanOrEqual(10);
    // Strategy and seed from the view.
    await mix.locator("select.mixdistill-mixer-strategy").selectOption("concat");
    const seed = mix.locator("input.mixdistill-mixer-seed");
    await seed.fill("7");
    await seed.press("Enter");
    await seed.blur();
    await expect.poll(async () => (JSON.parse(await cellResult(6)) as { seed: number }).seed, { timeout: 20_000 }).toBe(7);
    expect((JSON.parse(await cellResult(6)) as { strategy: string }).strategy).toBe("concat");
    await expect.poll(() => mix.locator("th").allTextContents(), { timeout: 10_000 }).toContain("examples written");
  }, 120_000);

  it("setting the mixer's value from a cell moves its sliders", async () => {
    requireEarlierSteps();
    await runCell(7);
    const mix = mixerIn(5);
    await expect.poll(() => slider(mix, "long").inputValue(), { timeout: 20_000 }).toBe("0.5");
    expect(await weightsOf(mix)).toEqual([0.5, 0.5]);
  });

  it("three sources: moving one slider visibly rebalances the others; interleave shows questions used and examples written", async () => {
    requireEarlierSteps();
    await runCell(8);
    const mix = mixerIn(8);
    await mix.waitFor({ timeout: 30_000 });
    expect(await mix.locator("th").allTextContents()).toEqual(["source", "weight", "questions used", "examples written", "tokens", "mean tokens", "lengths"]);
    const total = mix.locator("tr.mixdistill-mixer-total");
    const used = num(await total.locator(".mixdistill-mixer-questions").textContent());
    const written = num(await total.locator(".mixdistill-mixer-examples").textContent());
    expect(used).toBeLessThanOrEqual(N);
    expect(written).toBeGreaterThan(used);
    expect((await mix.locator(".mixdistill-mixer-note").textContent()) ?? "").toMatch(/rescales the others in proportion/);
    await slider(mix, "pad").focus();
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowLeft");
    // pad 0.5 -> 0.4; long and short share the 0.1 in their 2:3 proportion.
    await expect.poll(() => weightsOf(mix), { timeout: 10_000 }).toEqual([0.24, 0.36, 0.4]);
    expect(await slider(mix, "short").inputValue()).toBe("0.36");
    expect(await mix.locator("tr[data-source=short] .mixdistill-mixer-weightCell").textContent()).toBe("36%");
    await expect.poll(async () => JSON.parse(await cellResult(9)) as number[], { timeout: 20_000 }).toEqual([0.24, 0.36, 0.4]);
  }, 120_000);

  it("fits an 800 px wide window without overflowing; screenshot for the README", async () => {
    requireEarlierSteps();
    // The notebook takes the window (file browser closed), as a notebook in an 800 px window does.
    await page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click();
    await page.setViewportSize({ width: 800, height: 900 });
    const mix = mixerIn(8);
    await mix.scrollIntoViewIfNeeded();
    await expect.poll(() => mix.evaluate((e) => e.scrollWidth <= e.clientWidth + 1), { timeout: 10_000 }).toBe(true);
    const area = (await output(8).boundingBox())!;
    const box = (await mix.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(area.x - 1);
    expect(box.x + box.width).toBeLessThanOrEqual(area.x + area.width + 1);
    const table = (await mix.locator("table").boundingBox())!;
    expect(table.x + table.width).toBeLessThanOrEqual(box.x + box.width + 1);
    const shot = screenshotPath("mixer-800px");
    await mix.screenshot({ path: shot });
    mkdirSync(join(ROOT, "docs", "img"), { recursive: true });
    copyFileSync(shot, join(ROOT, "docs", "img", "mixer.png"));
    await page.setViewportSize({ width: 1400, height: 1000 });
  });

  it("shows the kernel's error when a callback fails, and both sides keep working", async () => {
    requireEarlierSteps();
    await runCell(10);
    const fragile = mixerIn(10);
    await fragile.waitFor({ timeout: 30_000 });
    await slider(fragile, "long").focus();
    await page.keyboard.press("ArrowRight");
    await expect.poll(async () => (await fragile.locator(".mixdistill-mixer-error").textContent()) ?? "", { timeout: 20_000 }).toMatch(/callback exploded/);
    expect(await weightsOf(fragile)).toEqual([0.21, 0.79]);
    // The other mixer is untouched.
    expect((JSON.parse(await cellResult(6)) as { value: number[] }).value).toEqual([0.5, 0.5]);
  });

  it("logs no console errors beyond the known start-up noise", () => {
    expect(session.errors).toEqual([]);
  });

  // Last: it restarts the kernel, which every earlier step needs.
  it("after a kernel restart or shutdown each mixer says to re-run its cell, with no internal ids, and its controls are disabled", async () => {
    requireEarlierSteps();
    const mixers = [mixerIn(5), mixerIn(8), mixerIn(10)];
    for (const mix of mixers) expect(await mix.locator(".mixdistill-mixer-lost").count()).toBe(0);
    await page.evaluate(async () => {
      const app = (window as unknown as { jupyterapp: { shell: { currentWidget: { sessionContext: { session: { kernel: { restart(): Promise<void> } } } } } } }).jupyterapp;
      await app.shell.currentWidget.sessionContext.session.kernel.restart();
    });
    const message = "This mixer's kernel has restarted or stopped: re-run the cell that made it to use it again.";
    for (const mix of mixers) {
      const lost = mix.locator(".mixdistill-mixer-lost");
      await lost.waitFor({ timeout: 30_000 });
      expect(await lost.textContent()).toBe(message);
      for (const control of await mix.locator("input, select").all()) expect(await control.isDisabled()).toBe(true);
    }
    // No comm or model id anywhere in what the user reads.
    const ids = await page.evaluate(() => {
      const w = (window as unknown as { jupyterapp: { shell: { currentWidget: { content: { widgets: Array<{ model: { sharedModel: { outputs?: Array<{ data?: Record<string, { model_id?: string }> }> } } }> } } } } }).jupyterapp;
      return w.shell.currentWidget.content.widgets.flatMap((c) => (c.model.sharedModel.outputs ?? []).map((o) => o.data?.["application/vnd.jupyter.widget-view+json"]?.model_id ?? "")).filter(Boolean);
    });
    expect(ids.length).toBeGreaterThanOrEqual(3);
    for (const mix of mixers) {
      const text = (await mix.textContent()) ?? "";
      for (const id of ids) expect(text).not.toContain(id);
      expect(text).not.toMatch(/[0-9a-f]{8}-?[0-9a-f]{4}|[0-9a-f]{16,}/i);
    }
    // A slider no longer moves (it is disabled), so nothing is sent to the new kernel.
    const before = await weightsOf(mixers[0]!);
    await slider(mixers[0]!, "long").press("ArrowRight").catch(() => undefined);
    expect(await weightsOf(mixers[0]!)).toEqual(before);
    await kernelIdle();
    // Re-running the cell makes a working mixer; shutting the kernel down disables it the same way.
    expect(await cellResult(0)).toBe(String(N));
    await runCell(10);
    const again = mixerIn(10);
    await again.waitFor({ timeout: 30_000 });
    expect(await again.locator(".mixdistill-mixer-lost").count()).toBe(0);
    expect(await slider(again, "long").isDisabled()).toBe(false);
    await page.evaluate(async () => {
      const app = (window as unknown as { jupyterapp: { shell: { currentWidget: { sessionContext: { shutdown(): Promise<void> } } } } }).jupyterapp;
      await app.shell.currentWidget.sessionContext.shutdown();
    });
    await again.locator(".mixdistill-mixer-lost").waitFor({ timeout: 30_000 });
    expect(await again.locator(".mixdistill-mixer-lost").textContent()).toBe(message);
    expect(await slider(again, "long").isDisabled()).toBe(true);
  }, 120_000);
});
