/**
 * The kernel side of the mixer widget against an in-memory host: a widget model on the Jupyter
 * widget protocol 2.1 (anywidget, its view in `_esm`), updates from a front end (applied, echoed,
 * the composition sent back; bad ones answered with an error and the state kept), value set from
 * code, callbacks, and the display bundle's fallbacks.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { MixComposition } from "../../src/contract/index.js";
import { WIDGET_VIEW_MIME } from "../../src/contract/widget.js";
import { synth } from "../../src/data/index.js";
import type { CorpusRecord } from "../../src/data/record.js";
import { installWidgets, MIXER_ANYWIDGET_ID, type Mixer, type MixerChange, type MixerOptions } from "../../kernel/widgets/index.js";
import { MIXER_VIEW_ESM } from "../../kernel/widgets/mixer-view.generated.js";
import { FakeHost, type FakeComm } from "./fake-host.js";

let corpus: CorpusRecord[];
beforeAll(() => {
  corpus = synth({ task: "mixed", n: 400, seed: 3 });
});

function setup(opts: MixerOptions = { sources: ["long", "short"], weight: 0.2 }) {
  const host = new FakeHost();
  const globals = installWidgets(host) as { mixer: (c: CorpusRecord[], o?: MixerOptions) => Mixer };
  const m = globals.mixer(corpus, opts);
  const comm = host.opened.at(-1)!;
  return { host, m, comm, mixer: globals.mixer };
}

type Sent = { method: string; state?: Record<string, unknown>; content?: { type?: string; message?: string } };
const sentSince = (c: FakeComm, from: number): Sent[] => c.sent.slice(from) as Sent[];
const count = (c: MixComposition, src: string): number => c.sources.find((s) => s.source === src)!.questions;
const update = (c: FakeComm, state: Record<string, unknown>): Sent[] => {
  const from = c.sent.length;
  c.receive({ method: "update", state, buffer_paths: [] });
  return sentSince(c, from);
};

describe("kernel-side mixer (a widget model)", () => {
  it("computes the Mix-Long composition: 20% of the questions answered long", () => {
    const { m } = setup();
    expect(m.value).toEqual([0.2, 0.8]);
    expect(m.composition.total.questions).toBe(400);
    expect(count(m.composition, "long")).toBe(80);
    expect(count(m.composition, "short")).toBe(320);
    const long = m.composition.sources[0]!;
    expect(long.meanTokens).toBeGreaterThan(m.composition.sources[1]!.meanTokens);
    expect(long.histogram.counts.reduce((a, b) => a + b, 0)).toBe(80);
  });

  it("opens a jupyter.widget comm whose state names weights, strategy, seed and the composition, its view in _esm", () => {
    const { m, comm } = setup();
    expect(comm.target).toBe("jupyter.widget");
    expect(comm.openMetadata).toEqual({ version: "2.1.0" });
    const st = (comm.openData as { state: Record<string, unknown> }).state;
    expect(st).toMatchObject({
      _model_name: "AnyModel",
      _model_module: "anywidget",
      _view_name: "AnyView",
      _anywidget_id: MIXER_ANYWIDGET_ID,
      sources: ["long", "short"],
      weights: [0.2, 0.8],
      strategy: "per-question",
      seed: 0,
      weightBy: "examples",
    });
    expect(st._esm).toBe(MIXER_VIEW_ESM);
    expect(MIXER_VIEW_ESM).toMatch(/export\s*\{[^}]*as default/);
    expect(count(st.composition as MixComposition, "long")).toBe(80);
    expect(m.id).toBe(comm.id);
  });

  it("displays as a widget view with text/plain and a static text/html view of the state", () => {
    const { m } = setup();
    const bundle = (m as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]!();
    expect(bundle[WIDGET_VIEW_MIME]).toEqual({ model_id: m.id, version_major: 2, version_minor: 1 });
    expect(bundle["text/plain"]).toMatch(/long=0\.20, short=0\.80/);
    const html = bundle["text/html"] as string;
    expect(html).toContain("<table");
    expect(html).toContain(">80<");
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("each question is used once, answered by one source drawn by the weights");
  });

  it("applies an update from a front end: echo_update, the new composition, .value and onChange follow", () => {
    const changes: MixerChange[] = [];
    const { m, comm } = setup({ sources: ["long", "short"], weight: 0.2, onChange: (c) => changes.push(c) });
    const out = update(comm, { weights: [0.5, 0.5] });
    expect(out[0]).toEqual({ method: "echo_update", state: { weights: [0.5, 0.5] }, buffer_paths: [] });
    const comp = out.find((x) => x.method === "update" && x.state && "composition" in x.state)!.state!.composition as MixComposition;
    expect(count(comp, "long")).toBe(200);
    expect(m.value).toEqual([0.5, 0.5]);
    expect(changes).toEqual([{ weights: [0.5, 0.5], strategy: "per-question", seed: 0, origin: "frontend" }]);
    update(comm, { strategy: "interleave", seed: 7 });
    expect(m.strategy).toBe("interleave");
    expect(m.seed).toBe(7);
    expect(changes).toHaveLength(2);
    // interleave repeats questions: the examples written outnumber the questions used.
    expect(m.composition.total.questions).toBeGreaterThan(m.composition.total.questionsUsed!);
    const from = comm.sent.length;
    comm.receive({ method: "request_state" });
    const full = sentSince(comm, from)[0]!;
    expect(full.method).toBe("update");
    expect(full.state).toMatchObject({ weights: [0.5, 0.5], strategy: "interleave", seed: 7, _esm: MIXER_VIEW_ESM });
  });

  it("answers bad state from a front end with an error on that comm and keeps its last valid state", () => {
    const { m, comm } = setup();
    const before = JSON.stringify(m.state);
    const bad: Array<[unknown, RegExp]> = [
      [{ method: "update", state: { weights: "half" } }, /weights: expected 2 weights/],
      [{ method: "update", state: { weights: [0.7, 0.7, 0.1] } }, /expected 2 weights/],
      [{ method: "update", state: { weights: [1.2, -0.2] } }, /weights: \[0\]: expected a number in \[0, 1\], got 1\.2/],
      [{ method: "update", state: { weights: [0, 0] } }, /sum to 0/],
      [{ method: "update", state: { weights: [0.5, null] } }, /\[1\]/],
      [{ method: "update", state: { strategy: "shuffle" } }, /strategy: .*per-question, interleave, concat.*"shuffle"/],
      [{ method: "update", state: { seed: -1 } }, /seed: expected a non-negative integer/],
      [{ method: "update", state: { seed: 1.5 } }, /seed/],
      [{ method: "update", state: { composition: { total: {} } } }, /composition` is not a trait a front end can set/],
      [{ method: "update", state: { weights: [0.5, 0.5], seed: "x" } }, /seed/],
      [{ method: "nope" }, /unknown method "nope"/],
      [null, /expected an object/],
      [{ method: "update", state: { weights: [0.5, 0.5] }, buffer_paths: [["weights", 5, "x"]] }, /buffer/],
    ];
    for (const [msg, why] of bad) {
      const from = comm.sent.length;
      expect(() => comm.receive(msg)).not.toThrow();
      const out = sentSince(comm, from);
      const err = out.find((x) => x.method === "custom" && x.content?.type === "error");
      expect(err, JSON.stringify(msg)).toBeDefined();
      expect(err!.content!.message).toMatch(why);
      // Views that tried to set a value snap back to the kept one.
      for (const x of out) if (x.method === "update" && x.state?.weights) expect(x.state.weights).toEqual([0.2, 0.8]);
      expect(JSON.stringify(m.state)).toBe(before);
    }
    // The mixed update (good weights, bad seed) was all or nothing.
    expect(m.value).toEqual([0.2, 0.8]);
    expect(comm.closed).toBe(false);
  });

  it("normalises weights that do not sum to 1 and tells the front end the kept values", () => {
    const { m, comm } = setup();
    const out = update(comm, { weights: [0.25, 0.25] });
    expect(m.value).toEqual([0.5, 0.5]);
    expect(out.some((x) => x.method === "update" && JSON.stringify(x.state?.weights) === "[0.5,0.5]")).toBe(true);
  });

  it("sends a value set from code to the front ends; a bad one throws and changes nothing", () => {
    const changes: MixerChange[] = [];
    const { m, comm } = setup({ sources: ["long", "short"], weight: 0.2, onChange: (c) => changes.push(c) });
    const from = comm.sent.length;
    m.value = 0.3;
    const out = sentSince(comm, from);
    expect(out[0]!.method).toBe("update");
    expect(out[0]!.state!.weights).toEqual([0.3, 0.7]);
    expect(count(out[0]!.state!.composition as MixComposition, "long")).toBe(120);
    expect(changes.at(-1)?.origin).toBe("code");
    expect(() => (m.value = [0.5, 0.2, 0.3])).toThrow(/value/);
    expect(() => ((m as { strategy: string }).strategy = "shuffle")).toThrow(/strategy/);
    expect(m.value).toEqual([0.3, 0.7]);
    expect(m.mixOptions).toMatchObject({ sources: ["long", "short"], weights: [0.3, 0.7], strategy: "per-question", seed: 0 });
    m.close();
    expect(m.live).toBe(false);
    expect(comm.closed).toBe(true);
    expect(() => (m.value = 0.5)).toThrow(/re-run its cell/);
  });

  it("reports a failing onChange on the comm instead of crashing", () => {
    const { m, comm } = setup({ sources: ["long", "short"], weight: 0.2, onChange: () => { throw new Error("boom"); } });
    const out = update(comm, { weights: [0.6, 0.4] });
    expect(m.value).toEqual([0.6, 0.4]);
    expect(out.some((x) => x.method === "custom" && /boom/.test(x.content?.message ?? ""))).toBe(true);
  });

  it("refreshes outputs made with show() when code changes the value (headless runs keep the final mix)", () => {
    const { m, host } = setup();
    m.show();
    m.value = [0.6, 0.4];
    const bundles = host.displays[0]!.bundles;
    expect(bundles).toHaveLength(2);
    expect(bundles[1]!["text/plain"]).toMatch(/long=0\.60/);
    expect(bundles[1]!["text/html"]).toContain('data-mixdistill-weights="[0.6,0.4]"');
    expect(bundles[1]![WIDGET_VIEW_MIME]).toEqual(bundles[0]![WIDGET_VIEW_MIME]);
  });

  it("supports three sources and validates options with the field named", () => {
    const { m, mixer } = setup({ sources: ["long", "short", "pad"], weights: [1, 1, 2] });
    expect(m.value).toEqual([0.25, 0.25, 0.5]);
    expect(m.composition.sources.map((s) => s.questions).reduce((a, b) => a + b, 0)).toBe(400);
    expect(() => mixer(corpus, { sources: ["long"] })).toThrow(/sources/);
    expect(() => mixer(corpus, { sources: ["long", "medium"] })).toThrow(/no question has a "medium" response \(sources in this corpus: long, short, large, small, pad, long_noslip\)/);
    expect(() => mixer(corpus, { sources: ["long", "short"], weight: 2 })).toThrow(/weight/);
    expect(() => mixer(corpus, { sources: ["long", "short"], weight: 0.2, seed: 1.5 })).toThrow(/seed/);
    // Weight vectors from code are checked once, by the library's mix options.
    expect(() => mixer(corpus, { sources: ["long", "short"], weights: [1, -1] })).toThrow('mix option "weights[1]": expected a non-negative number, got -1');
    expect(() => mixer(corpus, { sources: ["long", "short"], weights: [0, 0] })).toThrow('mix option "weights": weights sum to 0');
    expect(() => { m.value = [0.5, 0.5]; }).toThrow('mix option "value": expected 3 weights (one per source), got 2');
    expect(() => { m.value = 0.5; }).toThrow(/a single number sets the first of two weights; this mixer has 3 sources/);
    expect(m.value).toEqual([0.25, 0.25, 0.5]);
    expect(() => mixer(corpus, { sources: ["long", "short"], strategy: "x" as never })).toThrow(/strategy/);
    expect(() => mixer([], {})).toThrow(/corpus/);
  });

  it("sends the view bundled from extension/src/mixer-view.ts as it is now", () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "..", "..", "scripts", "bundle-views.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
