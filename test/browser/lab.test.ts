/// <reference lib="dom" />
/**
 * The extension in a real JupyterLab 4 front end: headless Chromium, Debian's jupyter_server, the
 * mixdistill kernel and the prebuilt labextension installed with `mixdistill install --prefix`.
 * One server and one browser for the suite; the steps run in order on one notebook.
 * Screenshots go to test-results/browser/.
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Locator, Page } from "playwright-core";
import { MIXER_MIME, parseMixerBundle, type MixerState } from "../../src/contract/index.js";
import { ARTIFACTS, ensureBuilt, missingPrerequisite, notebook, openBrowser, readJson, screenshotPath, startLab, type BrowserSession, type LabServer } from "./lab.js";

const missing = missingPrerequisite();
const N = 7500;

const LIVE = notebook([
  `import { synth, paperResults, longCotGap, gapPlot } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: ${N}, seed: 1 });\ncorpus.length`,
  `const seen: number[][] = [];\nconst m = mixer(corpus, { sources: ["long", "short"], weight: 0.2, onChange: (c) => seen.push(c.weights) });\ndisplay(m);`,
  `JSON.stringify({ value: m.value, long: m.composition.sources[0].questions, strategy: m.strategy, seed: m.seed, calls: seen.length, ms: m.lastComputeMs })`,
  `m.value = [0.5, 0.5];`,
  `const report = longCotGap(paperResults());\ndisplay(gapPlot(report));\nreport.entries.find((e) => e.student === "Qwen2.5-0.5B-Instruct" && e.benchmark === "Average")!.value`,
  `const fragile = mixer(corpus, { sources: ["long", "short"], weight: 0.2, onChange: () => { throw new Error("callback exploded"); } });\ndisplay(fragile);`,
]);

let lab: LabServer;
let session: BrowserSession;
let page: Page;
/** The steps build on each other: after the first failure the rest fail at once, naming it. */
let broken: string | undefined;
const requireEarlierSteps = (): void => {
  if (broken) throw new Error(`not run: an earlier step failed ("${broken}")`);
};
const timings: Record<string, number[]> = { keyboardToComposition: [], mouseToComposition: [], kernelComputeMs: [] };

const cells = (): Locator => page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell");
const mixerWidget = (): Locator => page.locator(".jp-NotebookPanel:visible .jp-MixdistillMixer").first();
const slider = (source: string): Locator => mixerWidget().locator(`input[type=range][data-source="${source}"]`);
const questions = (source: string): Locator => mixerWidget().locator(`tr[data-source="${source}"] .jp-MixdistillMixer-questions`);
const num = (s: string | null): number => Number((s ?? "").replace(/,/g, ""));

/** Cells run before the session has its kernel are silently skipped by JupyterLab: wait for it. */
async function kernelIdle(): Promise<void> {
  await expect
    .poll(async () => (await page.locator("#jp-main-statusbar").textContent()) ?? "", { timeout: 60_000 })
    .toMatch(/TypeScript \(mixdistill\) \| Idle/);
}

async function runCell(index: number): Promise<Locator> {
  const cell = cells().nth(index);
  await cell.locator(".jp-InputArea-prompt").click();
  await page.keyboard.press("Shift+Enter");
  // Done when the prompt shows the new execution count ([n]: rather than [*]: or the old one).
  await expect.poll(async () => (await cell.locator(".jp-InputArea-prompt").textContent()) ?? "", { timeout: 120_000 }).toMatch(/\[\d+\]/);
  await expect.poll(async () => (await cell.locator(".jp-InputArea-prompt").textContent()) ?? "", { timeout: 120_000 }).not.toMatch(/\*/);
  return cell;
}

async function cellResult(index: number): Promise<string> {
  const cell = await runCell(index);
  const text = (await cell.locator(".jp-OutputArea-output").last().textContent()) ?? "";
  return text.trim().replace(/^'|'$/g, "");
}

interface KernelView {
  value: number[];
  long: number;
  strategy: string;
  seed: number;
  calls: number;
  ms: number;
}
const kernelView = async (): Promise<KernelView> => JSON.parse(await cellResult(2)) as KernelView;
const shownWeights = async (): Promise<number[]> => JSON.parse((await mixerWidget().getAttribute("data-weights")) ?? "[]") as number[];

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
    const name = ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
    await page.screenshot({ path: screenshotPath(`failed-${name}`) }).catch(() => undefined);
    writeFileSync(join(ARTIFACTS, `failed-${name}.server.log`), lab.log().slice(-20_000));
  });

  afterAll(async () => {
    writeFileSync(join(ARTIFACTS, "timings.json"), JSON.stringify(timings, null, 2) + "\n");
    await session?.close();
    await lab?.stop();
  });

  it("loads the prebuilt extension, runs cells on the mixdistill kernel and shows a live mixer", async () => {
    await page.goto(`${lab.base}/lab/workspaces/t${Date.now()}/tree/live.ipynb?token=${lab.token}`);
    await cells().first().waitFor({ timeout: 60_000 });
    await kernelIdle();
    expect(await cellResult(0)).toBe(String(N));
    await runCell(1);
    await expect.poll(() => mixerWidget().getAttribute("data-mode"), { timeout: 30_000 }).toBe("live");
    expect(await shownWeights()).toEqual([0.2, 0.8]);
    expect(num(await questions("long").textContent())).toBe(0.2 * N);
    expect(num(await questions("short").textContent())).toBe(0.8 * N);
    await mixerWidget().screenshot({ path: screenshotPath("01-mixer-live") });
  }, 180_000);

  it("moves by keyboard: the kernel's value, the callback and the composition follow", async () => {
    requireEarlierSteps();
    const long = slider("long");
    await long.focus();
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
    await expect.poll(async () => num(await questions("long").textContent()), { timeout: 20_000 }).toBe(0.3 * N);
    timings.keyboardToComposition!.push(Date.now() - t0);
    expect(await shownWeights()).toEqual([0.3, 0.7]);
    expect(await slider("short").inputValue()).toBe("0.7");
    const k = await kernelView();
    expect(k.value).toEqual([0.3, 0.7]);
    expect(k.long).toBe(0.3 * N);
    expect(k.calls).toBeGreaterThanOrEqual(1);
    expect(k.calls).toBeLessThanOrEqual(10);
    timings.kernelComputeMs!.push(k.ms);
  });

  it("moves by mouse (click and drag): kernel and view agree", async () => {
    requireEarlierSteps();
    const box = (await slider("long").boundingBox())!;
    const t0 = Date.now();
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
    await expect.poll(async () => (await shownWeights())[0]!, { timeout: 20_000 }).toBeGreaterThan(0.6);
    await expect.poll(async () => num(await questions("long").textContent()), { timeout: 20_000 }).toBeGreaterThan(0.6 * N);
    timings.mouseToComposition!.push(Date.now() - t0);
    // Drag the short slider's thumb to the left end: long takes everything.
    const sbox = (await slider("short").boundingBox())!;
    const w = await shownWeights();
    await page.mouse.move(sbox.x + 8 + (sbox.width - 16) * w[1]!, sbox.y + sbox.height / 2);
    await page.mouse.down();
    for (const f of [0.2, 0.1, 0]) await page.mouse.move(sbox.x + sbox.width * f, sbox.y + sbox.height / 2, { steps: 4 });
    await page.mouse.up();
    await expect.poll(async () => await shownWeights(), { timeout: 20_000 }).toEqual([1, 0]);
    await expect.poll(async () => num(await questions("long").textContent()), { timeout: 20_000 }).toBe(N);
    const k = await kernelView();
    expect(k.value).toEqual([1, 0]);
    expect(k.long).toBe(N);
    await mixerWidget().screenshot({ path: screenshotPath("02-mixer-after-mouse") });
  });

  it("changes strategy and seed from the widget", async () => {
    requireEarlierSteps();
    await mixerWidget().locator("select.jp-MixdistillMixer-strategy").selectOption("interleave");
    const seed = mixerWidget().locator("input.jp-MixdistillMixer-seed");
    await seed.fill("7");
    await seed.press("Enter");
    await seed.blur();
    await expect.poll(async () => (await kernelView()).seed, { timeout: 20_000 }).toBe(7);
    expect((await kernelView()).strategy).toBe("interleave");
  });

  it("moves the slider when the value is set from code", async () => {
    requireEarlierSteps();
    await runCell(3);
    await expect.poll(() => slider("long").inputValue(), { timeout: 20_000 }).toBe("0.5");
    expect(await shownWeights()).toEqual([0.5, 0.5]);
    await expect.poll(async () => num(await questions("long").textContent()), { timeout: 20_000 }).toBeGreaterThan(0);
  });

  it("renders a gap plot with plotly: SVG present, hover shows the numbers", async () => {
    requireEarlierSteps();
    const expected = Number(await cellResult(4));
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

  it("switches to the dark theme: the plot and the widget follow", async () => {
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
    // The mixer's colors come from the theme's variables.
    const bg = await mixerWidget().locator("select.jp-MixdistillMixer-strategy").evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(bg).not.toBe("rgb(255, 255, 255)");
    await page.locator("#jupyterlab-splash").waitFor({ state: "detached", timeout: 20_000 });
    await page.screenshot({ path: screenshotPath("04-dark-theme") });
    await mixerWidget().screenshot({ path: screenshotPath("04-mixer-dark") });
  });

  it("shows the kernel's error reply when a callback fails, and both sides keep working", async () => {
    requireEarlierSteps();
    await runCell(5);
    const fragile = page.locator(".jp-NotebookPanel:visible .jp-MixdistillMixer").nth(1);
    await expect.poll(() => fragile.getAttribute("data-mode"), { timeout: 30_000 }).toBe("live");
    await fragile.locator('input[type=range][data-source="long"]').focus();
    await page.keyboard.press("ArrowRight");
    await expect.poll(async () => (await fragile.locator(".jp-MixdistillMixer-error").textContent()) ?? "", { timeout: 20_000 }).toMatch(/callback exploded/);
    expect(await fragile.getAttribute("data-mode")).toBe("live");
    expect(JSON.parse((await fragile.getAttribute("data-weights")) ?? "[]")).toEqual([0.21, 0.79]);
    expect((await kernelView()).value).toEqual([0.5, 0.5]);
    await fragile.screenshot({ path: screenshotPath("05-mixer-error-reply") });
  });

  it("saves the last state into the notebook", async () => {
    requireEarlierSteps();
    await cells().first().locator(".jp-InputArea-prompt").click();
    await page.keyboard.press("Control+s");
    let saved: MixerState | undefined;
    await expect.poll(() => {
      const nb = readJson(join(lab.rootDir, "live.ipynb")) as { cells: Array<{ outputs: Array<{ data?: Record<string, unknown> }> }> };
      const out = nb.cells[1]!.outputs.find((o) => o.data?.[MIXER_MIME]);
      const b = parseMixerBundle(out?.data?.[MIXER_MIME]);
      saved = b.ok ? b.value.state : undefined;
      return saved?.weights;
    }, { timeout: 20_000 }).toEqual([0.5, 0.5]);
    expect(saved!.strategy).toBe("interleave");
    expect(saved!.seed).toBe(7);
    copyFileSync(join(lab.rootDir, "live.ipynb"), join(lab.rootDir, "reopened.ipynb"));
  });

  it("re-attaches to the running kernel after a page reload", async () => {
    requireEarlierSteps();
    await page.reload();
    await mixerWidget().waitFor({ timeout: 60_000 });
    await expect.poll(() => mixerWidget().getAttribute("data-mode"), { timeout: 30_000 }).toBe("live");
    expect(await shownWeights()).toEqual([0.5, 0.5]);
    await slider("long").focus();
    await page.keyboard.press("ArrowLeft");
    await expect.poll(async () => (await kernelView()).value, { timeout: 20_000 }).toEqual([0.49, 0.51]);
  });

  it("reopened with a new kernel, the saved mixer is shown read-only", async () => {
    requireEarlierSteps();
    const saved = (() => {
      const nb = readJson(join(lab.rootDir, "reopened.ipynb")) as { cells: Array<{ outputs: Array<{ data?: Record<string, unknown> }> }> };
      const b = parseMixerBundle(nb.cells[1]!.outputs.find((o) => o.data?.[MIXER_MIME])?.data?.[MIXER_MIME]);
      if (!b.ok) throw new Error(b.error);
      return b.value.state;
    })();
    await page.goto(`${lab.base}/lab/workspaces/r${Date.now()}/tree/reopened.ipynb?token=${lab.token}`);
    await mixerWidget().waitFor({ timeout: 60_000 });
    // The new kernel is asked for the mixer and does not know it (an error reply, or a plain comm_close
    // when the comm arrives before the kernel has registered the target): the view keeps the saved state.
    await kernelIdle();
    await expect.poll(async () => (await mixerWidget().locator(".jp-MixdistillMixer-status").textContent()) ?? "", { timeout: 30_000 }).toMatch(/^read-only: (this mixer was made by an earlier kernel session|the kernel no longer has this mixer): re-run its cell/);
    expect(await mixerWidget().getAttribute("data-mode")).toBe("read-only");
    expect(await shownWeights()).toEqual([0.5, 0.5]);
    expect(await slider("long").isDisabled()).toBe(true);
    expect(num(await questions("long").textContent())).toBe(saved.composition.sources[0]!.questions);
    await mixerWidget().screenshot({ path: screenshotPath("06-mixer-read-only") });
  });

  it("logs no console errors beyond the known start-up noise", () => {
    expect(session.errors).toEqual([]);
  });
});
