/**
 * The same kind of notebook exported with nbconvert (executed headlessly on the mixdistill kernel)
 * to HTML with the mixdistill template: the plots draw offline, and the mixer shows its last state as
 * static content, with or without widget state in the notebook. Each HTML is opened in headless
 * Chromium with every non-file request refused.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WIDGET_STATE_MIME, WIDGET_VIEW_MIME } from "../../src/contract/widget.js";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, ROOT, screenshotPath } from "./lab.js";

const missing = missingPrerequisite();

const NB = notebook([
  `import { synth, paperResults, longCotGap, gapPlot } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: 2000, seed: 5 });`,
  `display(gapPlot(longCotGap(paperResults())));`,
  `const m = mixer(corpus, { sources: ["long", "short"], weight: 0.2 });\nm.show();`,
  `m.value = [0.35, 0.65];\nm.composition.sources[0].questions`,
]);

let tmp: string;
let executed: Record<string, unknown> & { cells: unknown[]; metadata: Record<string, unknown> };

describe.skipIf(missing !== null)(`nbconvert HTML export${missing ? ` (skipped: ${missing})` : ""}`, () => {
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), "mixdistill-export-"));
    const prefix = join(tmp, "prefix");
    const inst = spawnSync(process.execPath, [join(ROOT, "bin", "mixdistill.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    if (inst.status !== 0) throw new Error(`mixdistill install failed:\n${inst.stderr}`);
    writeFileSync(join(tmp, "export.ipynb"), JSON.stringify(NB));
    const env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_DATA_DIR: join(tmp, "data"), JUPYTER_CONFIG_DIR: join(tmp, "config"), JUPYTER_RUNTIME_DIR: join(tmp, "runtime") };
    const nbconvert = (args: string[], what: string): void => {
      const r = spawnSync("/usr/bin/python3", ["-m", "nbconvert", ...args], { encoding: "utf8", env, timeout: 300_000 });
      if (r.status !== 0) throw new Error(`nbconvert ${what} failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
    };
    // Executed with the widget state stored in the notebook's metadata, as JupyterLab saves it when
    // asked and as `npm run notebooks` runs them.
    nbconvert(["--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.store_widget_state=True", "--output", "executed", "--output-dir", tmp, join(tmp, "export.ipynb")], "--execute");
    executed = JSON.parse(readFileSync(join(tmp, "executed.ipynb"), "utf8"));
    // The same notebook without widget state (as JupyterLab saves it by default).
    const stateless = structuredClone(executed);
    delete (stateless.metadata as Record<string, unknown>).widgets;
    writeFileSync(join(tmp, "stateless.ipynb"), JSON.stringify(stateless));
    // With the template JupyterLab's HTML export uses on the servers `npm start` runs (extension/app/serve.py).
    for (const name of ["executed", "stateless"]) nbconvert(["--to", "html", "--template", "mixdistill", "--output-dir", tmp, join(tmp, `${name}.ipynb`)], `--to html ${name}.ipynb`);
  }, 400_000);

  afterAll(async () => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The mixer's output (m.show()) in the executed notebook. */
  const mixerOutput = (): { data: Record<string, unknown> } => {
    const cells = executed.cells as Array<{ outputs: Array<{ data?: Record<string, unknown> }> }>;
    const out = cells[2]!.outputs.find((o) => o.data?.[WIDGET_VIEW_MIME]);
    if (!out) throw new Error("the mixer cell has no widget-view output");
    return out as { data: Record<string, unknown> };
  };

  it("stores the mixer's widget state (its last weights) in the executed notebook's metadata", () => {
    const modelId = (mixerOutput().data[WIDGET_VIEW_MIME] as { model_id: string }).model_id;
    const widgets = (executed.metadata as { widgets?: Record<string, { state: Record<string, { state: Record<string, unknown> }> }> }).widgets;
    const model = widgets?.[WIDGET_STATE_MIME]?.state[modelId];
    expect(model, "the mixer's model in the notebook's widget state").toBeDefined();
    expect(model!.state.weights).toEqual([0.35, 0.65]);
    // m.show() displayed with a display id, so `m.value = ...` in a later cell updated that output's fallback too.
    expect(String(mixerOutput().data["text/html"])).toContain('data-mixdistill-weights="[0.35,0.65]"');
  });

  for (const name of ["executed", "stateless"] as const) {
    const what = name === "executed" ? "with widget state" : "without widget state";

    it(`${what}: the HTML shows the mixer's static view with its last state, not an empty widget placeholder`, () => {
      const html = readFileSync(join(tmp, `${name}.html`), "utf8");
      expect(html).toContain("mixdistill-mixer-static");
      expect(html).toContain('data-mixdistill-weights="[0.35,0.65]"');
      // No widget manager is in the page, so no widget view is left for one to fill in.
      expect(html).not.toContain(`<script type="${WIDGET_VIEW_MIME}"`);
      expect(html).not.toContain('class="jupyter-widgets jp-OutputArea-output');
      // The saved state still travels with the page (for a tool that reads it) when the notebook had it.
      expect(html.includes(`<script type="${WIDGET_STATE_MIME}">`)).toBe(name === "executed");
    });

    it(`${what}: opens offline, plots drawn by plotly.js from the page itself, mixer table shown`, async () => {
      const session = await openBrowser();
      try {
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
        await page.goto(`file://${join(tmp, `${name}.html`)}`);
        const plot = page.locator(".mixdistill-plot");
        await plot.locator("svg.main-svg").first().waitFor({ timeout: 30_000 });
        expect(await plot.locator(".barlayer .point").count()).toBeGreaterThan(3);
        const table = page.locator(".mixdistill-mixer-static table");
        await table.waitFor();
        expect(await table.isVisible()).toBe(true);
        const longRow = table.locator("tbody tr").first();
        expect(await longRow.locator("td").first().textContent()).toBe("long");
        expect(await longRow.locator("td").nth(1).textContent()).toBe("35%");
        // The last cell printed the kernel's count for long after the change.
        const outputs = page.locator(".jp-OutputArea-output");
        const kernelCount = Number(((await outputs.last().textContent()) ?? "").trim());
        expect(kernelCount).toBe(Math.round(0.35 * 2000));
        expect(await longRow.locator("td").nth(2).textContent()).toBe(kernelCount.toLocaleString("en-US"));
        expect(await longRow.locator("svg rect").count()).toBeGreaterThan(0);
        await page.screenshot({ path: screenshotPath(name === "executed" ? "10-nbconvert-export" : "10-nbconvert-export-stateless"), fullPage: true });
        // Nothing fetched from the network: plotly.js is in the page, and no widget manager is asked for.
        expect(external).toEqual([]);
        // The mixdistill template inlines what the page needs: no require.js or MathJax files are asked for
        // (Debian's own template links them from /usr/share/javascript, often not installed).
        expect(missingFiles).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await session.close();
      }
    });
  }
});
