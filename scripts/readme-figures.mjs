#!/usr/bin/env node
// Screenshots the toy study's figures from notebook 3's HTML report into docs/img, as the README shows them:
//   /usr/bin/python3 scripts/run_notebooks.py notebooks/03-toy-gap-study.ipynb --out /tmp/nb03
//   node scripts/readme-figures.mjs /tmp/nb03/03-toy-gap-study.html [docs/img]
// Each figure is found by its title; a missing one is an error that names it (nothing is written then).
import { chromium } from "playwright-core";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const FIGURES = [
  { title: "Long CoT Gap and Large Model CoT Gap of toy students (equal epochs)", file: "toy-gap-equal-epochs.png" },
  { title: "Long CoT Gap and Large Model CoT Gap of toy students (equal tokens)", file: "toy-gap-equal-tokens.png" },
  { title: "Accuracy against the share of long traces", file: "toy-mix-weight.png" },
  { title: "The Long CoT Gap taken apart", file: "toy-verbosity.png" },
];

const [report, outDir = "docs/img"] = process.argv.slice(2);
if (!report || !existsSync(report)) {
  console.error(`usage: node scripts/readme-figures.mjs REPORT.html [OUT_DIR]${report ? `\nno such file: ${report}` : ""}`);
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1.5 });
  await page.goto(pathToFileURL(resolve(report)).href);
  await page.waitForSelector(".js-plotly-plot .main-svg", { timeout: 30_000 });
  const plots = page.locator(".js-plotly-plot");
  const titles = await plots.evaluateAll((els) => els.map((e) => e.querySelector(".gtitle")?.textContent ?? ""));
  const found = FIGURES.map((f) => ({ ...f, index: titles.findIndex((t) => t.startsWith(f.title)) }));
  const missing = found.filter((f) => f.index < 0);
  if (missing.length > 0) throw new Error(`${report}: no plot titled ${missing.map((m) => JSON.stringify(m.title)).join(", ")} (plots found: ${JSON.stringify(titles)})`);
  for (const f of found) {
    const tmp = join(outDir, `.${f.file}.tmp.png`);
    await plots.nth(f.index).screenshot({ path: tmp });
    renameSync(tmp, join(outDir, f.file));
    console.log(`${join(outDir, f.file)}: ${titles[f.index]}`);
  }
} finally {
  await browser.close();
}
