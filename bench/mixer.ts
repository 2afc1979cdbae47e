/**
 * What a slider move costs, end to end: a key press on a slider in a real JupyterLab page (headless
 * Chromium, the repository's front end with the standard widget manager, the mixdistill kernel) to the
 * page showing the kernel's answer, timed in the page (keydown to the DOM change).
 *   mixer  the mixer widget (anywidget, its view in _esm): the long weight moves by one step and the
 *          composition table shows the new count of long questions, recomputed in the kernel for a
 *          7,500-question corpus.
 *   peer   the plain ipywidgets round trip the mixer is measured against (the custom mime route is
 *          gone): IntSlider `a` moves, the kernel's observer sets IntSlider `b`, the page shows b's
 *          new readout. Same page, same kernel, same run.
 * Then the kernel-side cost alone (update in, composition out) per strategy, through the real widget
 * model and the library's mixComposition over an in-memory comm.
 * Usage: npm run bench -- mixer [--n 7500] [--moves 20] [--kernel-moves 100]
 */
import type { Page } from "playwright-core";
import { synth } from "../src/data/index.js";
import { installWidgets, type Mixer } from "../kernel/widgets/index.js";
import { ensureBuilt, missingPrerequisite, notebook, openBrowser, startLab } from "../test/browser/lab.js";
import { FakeHost } from "../test/browser/fake-host.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("n", 7500);
const moves = arg("moves", 20);
const kernelMoves = arg("kernel-moves", 100);
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (xs: number[]): string => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)} ms`;

/**
 * Presses `key` on the focused element and resolves with the milliseconds, measured in the page,
 * from the keydown to `done()` (evaluated on every DOM change under `root`) becoming true.
 */
async function timeKey(page: Page, key: string, root: string, done: string): Promise<number> {
  await page.evaluate(
    ({ root, done }) => {
      const w = window as unknown as { benchResult?: Promise<number> };
      w.benchResult = new Promise<number>((resolve, reject) => {
        const el = document.querySelector(root);
        if (!el) return reject(new Error(`no element ${root}`));
        const check = new Function("root", `return (${done})(root)`) as (r: Element) => boolean;
        let t0 = 0;
        document.addEventListener("keydown", () => (t0 = performance.now()), { capture: true, once: true });
        const obs = new MutationObserver(() => {
          if (t0 && check(el)) {
            obs.disconnect();
            resolve(performance.now() - t0);
          }
        });
        obs.observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
        setTimeout(() => {
          obs.disconnect();
          reject(new Error(`no answer within 10 s (${root}: ${el.textContent?.slice(0, 300)})`));
        }, 10_000);
      });
    },
    { root, done },
  );
  await page.keyboard.press(key);
  return page.evaluate(() => (window as unknown as { benchResult: Promise<number> }).benchResult);
}

async function endToEnd(): Promise<{ mixer: number[]; peer: number[] }> {
  ensureBuilt();
  const cells = [
    `import { synth } from "mixdistill";\nconst corpus = synth({ task: "mixed", n: ${n}, seed: 1 });\ncorpus.length`,
    `const m = mixer(corpus, { sources: ["long", "short"], weight: 0.2 });\nm`,
    `const a = widgets.IntSlider({ value: 0, max: 1000, description: "a" });\nconst b = widgets.IntSlider({ value: 0, max: 1000, description: "b" });\na.observe((c) => { b.value = c.new as number; }, "value");\nwidgets.VBox([a, b])`,
  ];
  const lab = await startLab({ "bench.ipynb": notebook(cells) });
  const session = await openBrowser();
  const { page } = session;
  try {
    await page.goto(`${lab.base}/lab/workspaces/b${Date.now()}/tree/bench.ipynb?token=${lab.token}`);
    const cell = (i: number) => page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(i);
    await cell(0).waitFor({ timeout: 60_000 });
    for (let deadline = Date.now() + 60_000; !/Idle/.test((await page.locator("#jp-main-statusbar").textContent()) ?? ""); ) {
      if (Date.now() > deadline) throw new Error("the kernel did not start");
      await page.waitForTimeout(200);
    }
    for (let i = 0; i < cells.length; i++) {
      await cell(i).locator(".jp-InputArea-prompt").click();
      await page.keyboard.press("Shift+Enter");
    }
    const mixerRoot = "[data-bench=mixer]";
    const mix = cell(1).locator(".mixdistill-mixer");
    await mix.waitFor({ timeout: 60_000 });
    await mix.evaluate((e) => e.setAttribute("data-bench", "mixer"));
    const pair = cell(2).locator(".widget-vbox");
    await pair.locator(".widget-slider").nth(1).waitFor({ timeout: 60_000 });
    await pair.evaluate((e) => e.setAttribute("data-bench", "peer"));

    const mixer: number[] = [];
    const peer: number[] = [];
    // Warm-up, then alternate: one mixer move, one peer move, so both see the same conditions.
    let w = 20; // long weight in hundredths
    let v = 0;
    const mixerMove = async (): Promise<number> => {
      await page.locator(`${mixerRoot} input[data-source=long]`).focus();
      const key = w < 60 ? "ArrowRight" : "ArrowLeft";
      w += key === "ArrowRight" ? 1 : -1;
      const expected = Math.round((w / 100) * n).toLocaleString("en-US");
      return timeKey(page, key, mixerRoot, `(r) => r.querySelector('tr[data-source="long"] .mixdistill-mixer-questions')?.textContent === ${JSON.stringify(expected)}`);
    };
    const peerMove = async (): Promise<number> => {
      await pair.locator(".widget-slider").first().locator(".noUi-handle").focus();
      v += 1;
      return timeKey(page, "ArrowRight", "[data-bench=peer]", `(r) => r.querySelectorAll('.widget-readout')[1]?.textContent.trim() === ${JSON.stringify(String(v))}`);
    };
    for (let i = 0; i < 3; i++) {
      await mixerMove();
      await peerMove();
    }
    for (let i = 0; i < moves; i++) {
      mixer.push(await mixerMove());
      peer.push(await peerMove());
    }
    if (session.errors.length) console.log(`page errors: ${session.errors.join("; ")}`);
    return { mixer, peer };
  } finally {
    await session.close();
    await lab.stop();
  }
}

function kernelSide(): void {
  const t0 = performance.now();
  const corpus = synth({ task: "mixed", n, seed: 1 });
  console.log(`\nkernel side: corpus of ${n} questions (synth mixed) in ${(performance.now() - t0).toFixed(0)} ms`);
  for (const strategy of ["per-question", "interleave", "concat"] as const) {
    const host = new FakeHost();
    const { mixer } = installWidgets(host) as { mixer: (c: typeof corpus, o: object) => Mixer };
    const t1 = performance.now();
    const m = mixer(corpus, { sources: ["long", "short"], weight: 0.2, strategy });
    const createMs = performance.now() - t1;
    const comm = host.opened.at(-1)!;
    const times: number[] = [];
    for (let i = 0; i < kernelMoves; i++) {
      // A different weight every move (the slider's 0.01 steps, back and forth), so every move recomputes.
      const w = (1 + (i % 98)) / 100;
      const from = comm.sent.length;
      const s = performance.now();
      comm.receive({ method: "update", state: { weights: [w, 1 - w] }, buffer_paths: [] });
      times.push(performance.now() - s);
      const replies = comm.sent.slice(from) as Array<{ method: string; state?: { composition?: unknown } }>;
      if (!replies.some((r) => r.method === "update" && r.state?.composition)) throw new Error(`no composition in the replies ${JSON.stringify(replies).slice(0, 200)}`);
    }
    console.log(`  ${strategy.padEnd(12)} first composition ${createMs.toFixed(0)} ms; update -> composition: ${fmt(times)} (${kernelMoves} moves; m.lastComputeMs ${m.lastComputeMs.toFixed(1)})`);
  }
}

const missing = missingPrerequisite();
const result: Record<string, unknown> = { bench: "mixer", n };
if (missing) {
  console.log(`end to end: skipped (${missing})`);
  result.endToEnd = `skipped: ${missing}`;
} else {
  console.log(`end to end in JupyterLab: ${moves} slider moves each, key press to the page showing the kernel's answer`);
  const { mixer, peer } = await endToEnd();
  console.log(`  mixer (widget route, composition of ${n} questions recomputed): ${fmt(mixer)}`);
  console.log(`  peer  (IntSlider -> kernel observe -> IntSlider):           ${fmt(peer)}`);
  const ratio = pct(mixer, 50) / pct(peer, 50);
  console.log(`  ratio mixer / peer (medians, same run): ${ratio.toFixed(2)}`);
  Object.assign(result, { mixerMedianMs: pct(mixer, 50), mixerP95Ms: pct(mixer, 95), peerMedianMs: pct(peer, 50), peerP95Ms: pct(peer, 95), ratioMixerToPeer: ratio });
}
kernelSide();
console.log(JSON.stringify(result));
