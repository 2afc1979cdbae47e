/**
 * The kernel side of the mixer widget against an in-memory host: the comm protocol (state, update,
 * errors), value set from code, several views, callbacks, and the mime bundle's fallbacks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MIXER_COMM_TARGET, MIXER_MIME, parseMixerBundle, parseMixerKernelMessage, type MixerState } from "../../src/contract/index.js";
import { synth } from "../../src/data/index.js";
import type { CorpusRecord } from "../../src/data/record.js";
import { installWidgets, type Mixer, type MixerChange, type MixerOptions } from "../../kernel/widgets/index.js";
import { FakeHost, type FakeComm } from "./fake-host.js";

let corpus: CorpusRecord[];
beforeAll(() => {
  corpus = synth({ task: "mixed", n: 400, seed: 3 });
});

function setup(opts: MixerOptions = { sources: ["long", "short"], weight: 0.2 }) {
  const host = new FakeHost();
  const globals = installWidgets(host) as { mixer: (c: CorpusRecord[], o?: MixerOptions) => Mixer };
  const m = globals.mixer(corpus, opts);
  const view = (): FakeComm => host.openFromFrontend(MIXER_COMM_TARGET, { comm_id: m.id });
  return { host, m, view };
}

const stateOf = (msg: unknown): MixerState => {
  const p = parseMixerKernelMessage(msg);
  if (!p.ok || p.value.type !== "state") throw new Error(`expected a state message, got ${JSON.stringify(msg)}`);
  return p.value.state;
};
const count = (s: MixerState, src: string): number => s.composition.sources.find((c) => c.source === src)!.questions;

describe("kernel-side mixer", () => {
  it("computes the Mix-Long composition: 20% of the questions answered long", () => {
    const { m } = setup();
    expect(m.value).toEqual([0.2, 0.8]);
    expect(m.composition.total.questions).toBe(400);
    expect(count(m.state, "long")).toBe(80);
    expect(count(m.state, "short")).toBe(320);
    const long = m.composition.sources[0]!;
    expect(long.meanTokens).toBeGreaterThan(m.composition.sources[1]!.meanTokens);
    expect(long.histogram.counts.reduce((a, b) => a + b, 0)).toBe(80);
  });

  it("displays as the mixer mime type with text/plain and a static text/html view", () => {
    const { m } = setup();
    const bundle = (m as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]!();
    const parsed = parseMixerBundle(bundle[MIXER_MIME]);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value.comm_id).toBe(m.id);
    expect(bundle["text/plain"]).toMatch(/long=0\.20, short=0\.80/);
    const html = bundle["text/html"] as string;
    expect(html).toContain("<table");
    expect(html).toContain(">80<");
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("each question is used once, answered by one source drawn by the weights");
  });

  it("answers a view's comm_open with the state, and an update with the new state and its request id", () => {
    const changes: MixerChange[] = [];
    const { m, view } = setup({ sources: ["long", "short"], weight: 0.2, onChange: (c) => changes.push(c) });
    const c = view();
    expect(stateOf(c.last()).weights).toEqual([0.2, 0.8]);
    c.receive({ type: "update", request_id: "r1", weights: [0.5, 0.5] });
    expect(c.last().request_id).toBe("r1");
    const s = stateOf(c.last());
    expect(count(s, "long")).toBe(200);
    expect(m.value).toEqual([0.5, 0.5]);
    expect(changes).toEqual([{ weights: [0.5, 0.5], strategy: "per-question", seed: 0, origin: "frontend" }]);
    c.receive({ type: "update", request_id: "r2", strategy: "interleave", seed: 7 });
    expect(m.strategy).toBe("interleave");
    expect(m.seed).toBe(7);
    c.receive({ type: "request_state", request_id: "r3" });
    expect(c.last()).toMatchObject({ type: "state", request_id: "r3" });
  });

  it("answers invalid messages with an error on the comm and keeps its state", () => {
    const { m, view } = setup();
    const c = view();
    const bad: unknown[] = [
      null,
      "hello",
      { type: "nope", request_id: "a" },
      { type: "update", request_id: "b" },
      { type: "update", request_id: "c", weights: [0.7, 0.7] },
      { type: "update", request_id: "d", weights: [0.2, 0.3, 0.5] },
      { type: "update", request_id: "e", weights: [1.2, -0.2] },
      { type: "update", request_id: "f", strategy: "shuffle" },
      { type: "update", request_id: "g", seed: -1 },
      { type: "update", request_id: 5, weights: [0.5, 0.5] },
    ];
    for (const msg of bad) {
      const before = c.sent.length;
      expect(() => c.receive(msg)).not.toThrow();
      expect(c.sent.length).toBe(before + 1);
      expect(c.last().type).toBe("error");
      expect(typeof c.last().message).toBe("string");
    }
    expect(c.sent.filter((x) => (x as { request_id?: string }).request_id === "d")).toHaveLength(1);
    expect((c.sent.find((x) => (x as { request_id?: string }).request_id === "d") as { message: string }).message).toMatch(/2 weights/);
    expect(m.value).toEqual([0.2, 0.8]);
    expect(c.closed).toBe(false);
  });

  it("refuses a comm for an unknown mixer with an error and closes it", () => {
    const { host } = setup();
    const c = host.openFromFrontend(MIXER_COMM_TARGET, { comm_id: "not-a-mixer" });
    expect(c.sent[0]).toMatchObject({ type: "error", message: expect.stringMatching(/re-run its cell/) });
    // What a user reads says what to do, without internal ids.
    expect((c.sent[0] as { message: string }).message).not.toContain("not-a-mixer");
    expect(c.closed).toBe(true);
    const d = host.openFromFrontend(MIXER_COMM_TARGET, 42);
    expect(d.sent[0]).toMatchObject({ type: "error" });
    expect(d.closed).toBe(true);
  });

  it("sends a value set from code to every view, and a change from one view to the others", () => {
    const changes: MixerChange[] = [];
    const { m, view } = setup({ sources: ["long", "short"], weight: 0.2, onChange: (c) => changes.push(c) });
    const a = view();
    const b = view();
    m.value = 0.3;
    expect(stateOf(a.last()).weights).toEqual([0.3, 0.7]);
    expect(stateOf(b.last()).weights).toEqual([0.3, 0.7]);
    expect(changes.at(-1)?.origin).toBe("code");
    a.receive({ type: "update", request_id: "x", weights: [0.9, 0.1] });
    expect(a.last().request_id).toBe("x");
    expect(b.last().request_id).toBeUndefined();
    expect(stateOf(b.last()).weights).toEqual([0.9, 0.1]);
    expect(() => (m.value = [0.5, 0.2, 0.3])).toThrow(/value/);
    expect(m.value).toEqual([0.9, 0.1]);
    const seen = a.sent.length;
    a.close();
    expect(m.views).toBe(1);
    m.value = [0.4, 0.6];
    expect(a.sent.length).toBe(seen);
    expect(stateOf(b.last()).weights).toEqual([0.4, 0.6]);
  });

  it("reports a failing onChange on the comm instead of crashing", () => {
    const { m, view } = setup({ sources: ["long", "short"], weight: 0.2, onChange: () => { throw new Error("boom"); } });
    const c = view();
    c.receive({ type: "update", request_id: "r", weights: [0.6, 0.4] });
    expect(m.value).toEqual([0.6, 0.4]);
    expect(c.sent.some((x) => (x as { type: string; message?: string }).type === "error" && /boom/.test((x as { message: string }).message))).toBe(true);
  });

  it("updates outputs made with show() when the value changes (headless runs keep the final mix)", () => {
    const { m, host } = setup();
    m.show();
    m.value = [0.6, 0.4];
    const bundles = host.displays[0]!.bundles;
    expect(bundles).toHaveLength(2);
    expect(bundles[1]!["text/plain"]).toMatch(/long=0\.60/);
  });

  it("supports three sources and validates options with the field named", () => {
    const { m } = setup({ sources: ["long", "short", "pad"], weights: [1, 1, 2] });
    expect(m.value).toEqual([0.25, 0.25, 0.5]);
    expect(m.composition.sources.map((s) => s.questions).reduce((a, b) => a + b, 0)).toBe(400);
    const host = new FakeHost();
    const { mixer } = installWidgets(host) as { mixer: (c: CorpusRecord[], o?: MixerOptions) => Mixer };
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
});
