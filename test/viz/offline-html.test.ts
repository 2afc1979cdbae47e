// The plots of a notebook exported by nbconvert to HTML draw in a browser with no network:
// the first plot carries plotly.js, the second relies on it.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { longCotGap, paperGaps, paperResults } from "../../src/gap/index.js";
import { benchmarkGapPlot, configurePlots, gapPlot, resetPlotlyInclusion } from "../../src/viz/index.js";

const CHROMIUM = "/usr/bin/chromium";
const PYTHON = "/usr/bin/python3";
const hasNbconvert = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import nbconvert"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const displayData = (bundle: Record<string, unknown>) => {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(bundle)) data[k] = typeof v === "string" ? v.split(/(?<=\n)/) : v;
  return { output_type: "display_data", data, metadata: {} };
};

describe.skipIf(!existsSync(CHROMIUM) || !hasNbconvert)("plots in an nbconvert HTML export, offline", () => {
  it("draws every plot with the one inlined plotly.js and no network", async () => {
    resetPlotlyInclusion();
    configurePlots({ plotlyJs: "once" });
    const rep = longCotGap(paperResults({ tables: [3], withExampleCounts: true }), { replicates: 200 });
    const b1 = gapPlot(rep)[Symbol.for("Jupyter.display")]();
    const b2 = benchmarkGapPlot(rep)[Symbol.for("Jupyter.display")]();
    const b3 = gapPlot([paperGaps(1), paperGaps(2)])[Symbol.for("Jupyter.display")]();
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "mixdistill", display_name: "TypeScript (mixdistill)", language: "typescript" }, language_info: { name: "typescript" } },
      cells: [b1, b2, b3].map((b, i) => ({ cell_type: "code", id: `c${i}`, execution_count: i + 1, metadata: {}, source: [`display(plot${i})`], outputs: [displayData(b)] })),
    };
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-html-"));
    writeFileSync(join(dir, "plots.ipynb"), JSON.stringify(nb));
    execFileSync(PYTHON, ["-m", "nbconvert", "--to", "html", join(dir, "plots.ipynb")], { stdio: "pipe" });
    const html = readFileSync(join(dir, "plots.html"), "utf8");
    expect(html.split("window.Plotly = Plotly").length - 1).toBe(1); // plotly.js inlined once

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      const blocked: string[] = [];
      await page.route("**/*", (route) => {
        if (route.request().url().startsWith("file:")) return route.continue();
        blocked.push(route.request().url());
        return route.abort();
      });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(pathToFileURL(join(dir, "plots.html")).href, { waitUntil: "load" });
      await page.waitForFunction(() => document.querySelectorAll(".mixdistill-plot .main-svg").length >= 3, undefined, { timeout: 30_000 });
      const state = await page.evaluate(() => ({
        plots: document.querySelectorAll(".mixdistill-plot").length,
        drawn: [...document.querySelectorAll(".mixdistill-plot")].filter((d) => d.querySelector(".main-svg")).length,
        bars: document.querySelectorAll(".mixdistill-plot .point").length,
        hiddenText: [...document.querySelectorAll<HTMLElement>(".mixdistill-plot-text")].filter((p) => p.style.display === "none").length,
      }));
      expect(state.plots).toBe(3);
      expect(state.drawn).toBe(3);
      expect(state.bars).toBeGreaterThanOrEqual(2 + 12 + 20); // 2 students in Fig 1; 2 x 6 in Figs 2-3; 2 x 10 in the two-panel Fig 1
      expect(state.hiddenText).toBe(3); // the text fallback gives way to the drawing
      expect(errors.filter((e) => /plotly|mixdistill/i.test(e))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
