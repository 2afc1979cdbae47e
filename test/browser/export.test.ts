/**
 * The same kind of notebook exported with nbconvert (executed headlessly on the mixdistill kernel)
 * to HTML: the plots draw offline, and the mixer shows its last state as static content.
 * The HTML is opened in headless Chromium with every non-file request refused.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WIDGET_VIEW_MIME } from "../../src/contract/widget.js";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, ROOT, screenshotPath, type BrowserSession } from "./lab.js";

const missing = missingPrerequisite();

const NB = notebook([
  `import { synth, paperResults, longCotGap, gapPlot } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: 2000, seed: 5 });`,
  `display(gapPlot(longCotGap(paperResults())));`,
  `const m = mixer(corpus, { sources: ["long", "short"], weight: 0.2 });\nm.show();`,
  `m.value = [0.35, 0.65];\nm.composition.sources[0].questions`,
]);

let tmp: string;
let session: BrowserSession;

describe.skipIf(missing !== null)(`nbconvert HTML export${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), "mixdistill-export-"));
    const prefix = join(tmp, "prefix");
    const inst = spawnSync(process.execPath, [join(ROOT, "bin", "mixdistill.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    if (inst.status !== 0) throw new Error(`mixdistill install failed:\n${inst.stderr}`);
    writeFileSync(join(tmp, "export.ipynb"), JSON.stringify(NB));
    const r = spawnSync(
      "/usr/bin/python3",
      // As a notebook saved by JupyterLab (whose widget manager does not save widget state unless
      // asked) and as `npm run notebooks` runs them: without widget state, nbconvert shows each
      // widget's static fallback. (With it, nbconvert draws widgets with the widget HTML manager from
      // a CDN, which cannot work offline.) With the template JupyterLab's HTML export uses on the servers
      // `npm start` runs (extension/app/serve.py).
      ["-m", "nbconvert", "--to", "html", "--template", "mixdistill", "--execute", "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.store_widget_state=False", "--output-dir", tmp, join(tmp, "export.ipynb")],
      {
        encoding: "utf8",
        env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_DATA_DIR: join(tmp, "data"), JUPYTER_CONFIG_DIR: join(tmp, "config"), JUPYTER_RUNTIME_DIR: join(tmp, "runtime") },
        timeout: 300_000,
      },
    );
    if (r.status !== 0) throw new Error(`nbconvert --execute failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
    session = await openBrowser();
  }, 400_000);

  afterAll(async () => {
    await session?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("keeps the mixer's last state (set from code after display) in the notebook", () => {
    // m.show() displayed with a display id, so `m.value = ...` in a later cell updated that output.
    const html = readFileSync(join(tmp, "export.html"), "utf8");
    expect(html).toContain("mixdistill-mixer-static");
    expect(html).toContain('data-mixdistill-weights="[0.35,0.65]"');
    // Without widget state the widget view is not rendered by nbconvert: only its fallbacks are.
    expect(html).not.toContain(`<script type="${WIDGET_VIEW_MIME}"`);
  });

  it("opens offline: plots drawn by plotly.js from the page itself, mixer table shown", async () => {
    const { page, errors } = session;
    const external: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
      external.push(url);
      return route.abort();
    });
    const missingFiles: string[] = [];
    page.on("requestfailed", (r) => void (r.url().startsWith("file:") && missingFiles.push(r.url())));
    await page.goto(`file://${join(tmp, "export.html")}`);
    const plot = page.locator(".mixdistill-plot");
    await plot.locator("svg.main-svg").first().waitFor({ timeout: 30_000 });
    expect(await plot.locator(".barlayer .point").count()).toBeGreaterThan(3);
    const table = page.locator(".mixdistill-mixer-static table");
    await table.waitFor();
    const longRow = table.locator("tbody tr").first();
    expect(await longRow.locator("td").first().textContent()).toBe("long");
    expect(await longRow.locator("td").nth(1).textContent()).toBe("35%");
    // The last cell printed the kernel's count for long after the change.
    const outputs = page.locator(".jp-OutputArea-output");
    const kernelCount = Number(((await outputs.last().textContent()) ?? "").trim());
    expect(kernelCount).toBe(Math.round(0.35 * 2000));
    expect(await longRow.locator("td").nth(2).textContent()).toBe(kernelCount.toLocaleString("en-US"));
    expect(await longRow.locator("svg rect").count()).toBeGreaterThan(0);
    await page.screenshot({ path: screenshotPath("10-nbconvert-export"), fullPage: true });
    // Nothing fetched from the network: plotly.js is in the page.
    expect(external).toEqual([]);
    // The mixdistill template inlines what the page needs: no require.js or MathJax files are asked for
    // (Debian's own template links them from /usr/share/javascript, often not installed).
    expect(missingFiles).toEqual([]);
    expect(errors).toEqual([]);
  });
});
