// A notebook exported by nbconvert to HTML with the `mixdistill` template (what `mixdistill install`
// provides, and what `npm run notebooks` and JupyterLab's HTML export on `npm start` use) draws its
// plots and its markdown maths in a browser with no network, and asks for no file that is not there.
// The notebook itself carries no plotly.js: the template adds it once at export time.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { longCotGap, paperGaps, paperResults } from "../../src/gap/index.js";
import { benchmarkGapPlot, gapPlot } from "../../src/viz/index.js";

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

describe.skipIf(!existsSync(CHROMIUM) || !hasNbconvert)("plots and maths in an nbconvert HTML export, offline", () => {
  it("draws every plot with plotly.js added once at export, renders LaTeX, and requests no missing file", async () => {
    const rep = longCotGap(paperResults({ tables: [3], withExampleCounts: true }), { replicates: 200 });
    const bundles = [gapPlot(rep), benchmarkGapPlot(rep), gapPlot([paperGaps(1), paperGaps(2)])].map((p) => p[Symbol.for("Jupyter.display")]());
    for (const b of bundles) expect(b["text/html"] as string).not.toContain("plotly.js v"); // the notebook stays small
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "mixdistill", display_name: "TypeScript (mixdistill)", language: "typescript" }, language_info: { name: "typescript" } },
      cells: [
        { cell_type: "markdown", id: "m0", metadata: {}, source: ["The gap $\\Delta_{Long} = P_{long} - P_{short}$ and\n", "$$\\bar P = \\frac{1}{5}\\sum_b P_b$$"] },
        ...bundles.map((b, i) => ({ cell_type: "code", id: `c${i}`, execution_count: i + 1, metadata: {}, source: [`display(plot${i})`], outputs: [displayData(b)] })),
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), "mixdistill-html-"));
    try {
      const prefix = join(dir, "prefix");
      execFileSync(process.execPath, [join(import.meta.dirname, "..", "..", "bin", "mixdistill.js"), "install", "--prefix", prefix], { stdio: "pipe" });
      writeFileSync(join(dir, "plots.ipynb"), JSON.stringify(nb));
      const env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") };
      execFileSync(PYTHON, ["-m", "nbconvert", "--to", "html", "--template", "mixdistill", join(dir, "plots.ipynb")], { stdio: "pipe", env });
      const html = readFileSync(join(dir, "plots.html"), "utf8");
      expect(html.match(/plotly\.js v\d+\.\d+\.\d+/g)?.length).toBe(1); // plotly.js inlined once
      expect(html).not.toMatch(/<script[^>]+src=/); // nothing to fetch: no require.js, no MathJax or widget files
      expect(html).not.toContain("require.min.js");

      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
      });
      try {
        const page = await browser.newPage();
        const blocked: string[] = [];
        const failed: string[] = [];
        const consoleErrors: string[] = [];
        await page.route("**/*", (route) => {
          if (route.request().url().startsWith("file:")) return route.continue();
          blocked.push(route.request().url());
          return route.abort();
        });
        page.on("requestfailed", (r) => failed.push(r.url()));
        page.on("console", (m) => {
          if (m.type() === "error") consoleErrors.push(m.text());
        });
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(String(e)));
        await page.goto(pathToFileURL(join(dir, "plots.html")).href, { waitUntil: "load" });
        await page.waitForFunction(() => document.querySelectorAll(".mixdistill-plot .main-svg").length >= 3, undefined, { timeout: 30_000 });
        await page.waitForFunction(() => document.querySelectorAll("mjx-container svg").length >= 2, undefined, { timeout: 30_000 });
        const state = await page.evaluate(() => ({
          plots: document.querySelectorAll(".mixdistill-plot").length,
          drawn: [...document.querySelectorAll(".mixdistill-plot")].filter((d) => d.querySelector(".main-svg")).length,
          bars: document.querySelectorAll(".mixdistill-plot .point").length,
          hiddenText: [...document.querySelectorAll<HTMLElement>(".mixdistill-plot-text")].filter((p) => p.style.display === "none").length,
          maths: document.querySelectorAll("mjx-container").length,
          rawDollar: document.body.innerText.includes("$\\Delta"),
        }));
        expect(state.plots).toBe(3);
        expect(state.drawn).toBe(3);
        expect(state.bars).toBeGreaterThanOrEqual(2 + 12 + 20); // 2 students in Fig 1; 2 x 6 in Figs 2-3; 2 x 10 in the two-panel Fig 1
        expect(state.hiddenText).toBe(3); // the text fallback gives way to the drawing
        expect(state.maths).toBe(2); // inline and display maths typeset
        expect(state.rawDollar).toBe(false);
        expect({ blocked, failed, consoleErrors, errors }).toEqual({ blocked: [], failed: [], consoleErrors: [], errors: [] });
      } finally {
        await browser.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("without the template, a plot shows its numbers and says how to get the drawing", () => {
    const b = gapPlot(longCotGap(paperResults({ tables: [3] }), { replicates: 50 }))[Symbol.for("Jupyter.display")]();
    expect(b["text/html"] as string).toContain("mixdistill-plot-text");
    expect(b["text/html"] as string).toContain("--template mixdistill");
  });
});
