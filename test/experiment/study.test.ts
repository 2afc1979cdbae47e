// The study presets: per-variant decoding caps from the data, an oracle student (one that emits the
// reference response, cut at the cap like a generation) scoring 100% for every variant under each
// preset's settings, the plan (budget rules, data scales, parts), and a resumable run on one store.
import { afterAll, describe, expect, it } from "vitest";
import { StudentTokenizer } from "../../src/model/student-tokenizer.js";
import { answersMatch, lastBoxed } from "../../src/eval/extract.js";
import type { RunResult, RunSpec } from "../../src/train/spec.js";
import type { CorpusRecord } from "../../src/data/record.js";
import { decodeCap, epochTokens, estimateStudy, KNOB_GAPS, planStudy, plannedRuns, studyResults, runStudy, STUDY_PRESETS, studyData, studyReading, summarizeStudy, variantAxis, type StudyPreset } from "../../src/experiment/study.js";
import { studyMarkdown } from "../../src/experiment/study-report.js";
import { cmdStudy } from "../../src/cli/study.js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, tempDir } from "./helpers.js";

afterAll(cleanup);

/** A runner whose student emits, for every test question, each reference response its training data draws from. */
function oracle(records: CorpusRecord[]) {
  const byQuestion = new Map(records.map((r) => [r.question, r]));
  let runs = 0;
  const runner = async (spec: RunSpec): Promise<RunResult> => {
    runs++;
    // The styles the data draws from. A response can equal two styles (long and long_noslip when a
    // trace has no slip, pad and short when short is the longer): those count only if nothing else
    // in the data tells them apart.
    const matches = spec.train.map((e) => {
      const r = byQuestion.get(e.prompt)!;
      const m = Object.entries(r.responses).filter(([, v]) => v === e.response).map(([k]) => k);
      if (m.length === 0) throw new Error(`training response of ${r.id} is none of its styles`);
      return m;
    });
    const sources = new Set<string>(matches.filter((m) => m.length === 1).map((m) => m[0]!));
    for (const m of matches) if (!m.some((x) => sources.has(x))) sources.add(m[0]!);
    const texts = [...spec.train.flatMap((e) => [e.prompt, e.response]), ...spec.test.map((e) => e.prompt)];
    const tok = StudentTokenizer.trainChar(texts);
    const examples = spec.test.map((t) => {
      const r = byQuestion.get(t.prompt)!;
      // Correct only if every response the student may have learned survives the cap.
      let correct = true;
      let extracted: string | null = null;
      let generatedTokens = 0;
      for (const s of sources) {
        const ids = tok.encode(r.responses[s]!);
        const cut = ids.slice(0, spec.maxNewTokens);
        extracted = lastBoxed(tok.decode(cut));
        generatedTokens = Math.max(generatedTokens, cut.length);
        if (!answersMatch(extracted, t.answer)) correct = false;
      }
      return { id: t.id, correct, extracted, generatedTokens, stopped: true, ...(t.task ? { task: t.task } : {}) };
    });
    const k = examples.filter((e) => e.correct).length;
    return { accuracy: k / examples.length, examples, perTask: {}, perLevel: {}, trainTokens: 1, steps: 1, params: 1000, backend: "oracle", seconds: 0 };
  };
  return { runner, runs: () => runs };
}

describe("study presets", () => {
  for (const preset of Object.values(STUDY_PRESETS)) {
    it(`${preset.name}: an oracle student scores 100% on every variant under the preset's caps and budgets`, async () => {
      const data = studyData(preset);
      const store = tempDir();
      const o = oracle([...data.train, ...data.testRecords]);
      const errors: string[] = [];
      const status = await runStudy(preset, { store, workers: 2, runner: o.runner, onEvent: (_s, e) => void (e.type === "cell-error" && errors.push(e.error)) });
      expect(errors.slice(0, 3)).toEqual([]);
      expect(status).toBe("complete");
      const { runs, gaps } = summarizeStudy(store, preset, { replicates: 0 });
      const sweeps = planStudy(preset, data);
      const expected = sweeps.reduce((n, s) => n + s.students.length * s.variants.length * s.seeds.length, 0);
      expect(runs).toHaveLength(expected);
      for (const r of runs) expect(r.accuracy, `${r.sweep} ${r.variant}`).toBe(100);
      expect(gaps.length).toBeGreaterThan(0);
      for (const g of gaps) expect(g.value, `${g.sweep} ${g.name}`).toBe(0);
      if (preset.name === "full") {
        // One gap-versus-size curve over every size measured under the same rule, axis and scale.
        const curve = gaps.filter((g) => g.sweep === "full/all-sizes/equal-tokens/long/n=3000" && g.name === "Long CoT Gap");
        expect(curve.map((g) => g.student).sort()).toEqual(["micro", "mini", "nano", "small"]);
        // mini at equal epochs extends gap-vs-size's curve (the Long CoT axis only).
        const epochs = gaps.filter((g) => g.sweep === "full/all-sizes/equal-epochs/n=3000");
        expect([...new Set(epochs.filter((g) => g.name === "Long CoT Gap").map((g) => g.student))].sort()).toEqual(["micro", "mini", "nano"]);
        expect([...new Set(epochs.filter((g) => g.name === "Large Model CoT Gap").map((g) => g.student))].sort()).toEqual(["micro", "nano"]);
      }
      // Resumable: a second run computes nothing.
      const before = o.runs();
      await runStudy(preset, { store, workers: 2, runner: o.runner });
      expect(o.runs()).toBe(before);
    }, 120_000);
  }

  it("estimates from a calibration of steady training, counts only the cells not yet in the store", async () => {
    const tiny: StudyPreset = {
      ...STUDY_PRESETS.quick,
      name: "tiny",
      testQuestions: 8,
      poolQuestions: 40,
      epochs: 1,
      lrByStudent: { nano: 5e-3 },
      parts: [{ name: "p", description: "", students: ["nano"], variants: ["short", "long"], seeds: [0], budgets: ["equal-epochs"], trainQuestions: [40] }],
    };
    const data = studyData(tiny);
    const store = tempDir();
    const before = await estimateStudy(tiny, { workers: 1, store, data, calibrationSteps: 2 });
    expect(before.cells).toBe(2);
    expect(before.cached).toBe(0);
    expect(before.seconds).toBeGreaterThan(0);
    expect(before.calibration.nano!.trainTokensPerSecond).toBeGreaterThan(0);
    const o = oracle([...data.train, ...data.testRecords]);
    await runStudy(tiny, { store, runner: o.runner });
    const after = await estimateStudy(tiny, { workers: 1, store, data, calibrationSteps: 2 });
    expect([after.cells, after.cached, after.seconds]).toEqual([0, 2, 0]);
  }, 120_000);

  it("caps come from each variant's data; the cut is exercised: a cap below the longest response fails the oracle", async () => {
    const preset = STUDY_PRESETS.quick;
    const data = studyData(preset);
    const sweeps = planStudy(preset, data);
    const caps = new Map(sweeps[0]!.variants.map((v) => [v.name, v.maxNewTokens!]));
    for (const v of sweeps[0]!.variants) expect(v.maxNewTokens).toBe(decodeCap(v));
    expect(caps.get("long")!).toBeGreaterThan(3 * caps.get("short")!);
    const tight: StudyPreset = { ...preset, maxNewTokens: 40 };
    const store = tempDir();
    const o = oracle([...data.train, ...data.testRecords]);
    await runStudy(tight, { store, runner: o.runner });
    const { runs } = summarizeStudy(store, tight, { replicates: 0 });
    expect(runs.find((r) => r.variant === "long")!.accuracy).toBe(0);
  });

  it("quick is seed 0 of full's equal-tokens part: its finished cells are not trained again by full", async () => {
    const store = tempDir();
    const q = oracle([...studyData(STUDY_PRESETS.quick).train, ...studyData(STUDY_PRESETS.quick).testRecords]);
    await runStudy(STUDY_PRESETS.quick, { store, workers: 2, runner: q.runner });
    expect(q.runs()).toBe(12);
    const f = oracle([...studyData(STUDY_PRESETS.full).train, ...studyData(STUDY_PRESETS.full).testRecords]);
    await runStudy(STUDY_PRESETS.full, { store, workers: 2, runner: f.runner, parts: ["equal-tokens"] });
    expect(f.runs()).toBe(36 - 12);
  }, 120_000);

  it("reports a store as Markdown (every cell, every gap, the reading) and `study --report-only` runs nothing", async () => {
    const preset = STUDY_PRESETS.quick;
    const data = studyData(preset);
    const store = tempDir();
    const o = oracle([...data.train, ...data.testRecords]);
    await runStudy(preset, { store, workers: 2, runner: o.runner });
    const md = studyMarkdown(store, preset, { replicates: 50, data });
    const cellRows = md.split("\n").filter((l) => l.startsWith("| gap-vs-size |"));
    expect(cellRows).toHaveLength(12);
    // Each cell's mean, then its one seed's accuracy.
    for (const r of cellRows) expect(r).toMatch(/\| 100\.0 \| \[100\.0, 100\.0\] \| 0: 100\.0 \|/);
    expect(md).toContain("12 of 12 planned runs finished");
    expect(md).toMatch(/\| Long CoT Gap \(long - short\) \| micro \| \+0\.0 \|/);
    // The reading comes before the tables it is computed from, unless the caller orders the sections.
    expect(["## Reading", "## Every cell", "## Gaps"].map((h) => md.indexOf(h))).toEqual([...["## Reading", "## Every cell", "## Gaps"].map((h) => md.indexOf(h))].sort((a, b) => a - b));
    expect(md.indexOf("## Reading")).toBeGreaterThan(0);
    const picked = studyMarkdown(store, preset, { replicates: 50, data, sections: ["gaps", "reading"] });
    expect(picked.indexOf("## Gaps")).toBe(0);
    expect(picked.indexOf("## Reading")).toBeGreaterThan(0);
    expect(picked).not.toContain("## Every cell");
    expect(studyMarkdown(store, preset, { replicates: 50, data })).toBe(md);

    const before = o.runs();
    let out = "";
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
    const file = join(tempDir(), "report.md");
    expect(await cmdStudy(["--preset", "quick", "--out", store, "--report-only", "--markdown", file, "--replicates", "50"], io)).toBe(0);
    expect(o.runs()).toBe(before);
    expect(out).not.toContain("estimate:");
    expect(JSON.parse(out.trim().split("\n").at(-1)!)).toMatchObject({ preset: "quick", status: "complete" });
    expect(readFileSync(file, "utf8")).toBe(md);
    const missing = join(tempDir(), "nothing-here");
    await expect(cmdStudy(["--preset", "quick", "--out", missing, "--report-only"], io)).rejects.toThrow(`no results store at ${missing}`);
    expect(existsSync(missing)).toBe(false);
  }, 120_000);

  it("plans both budget rules, per axis for equal tokens, and one grid per data scale", () => {
    const full = STUDY_PRESETS.full;
    const data = studyData(full);
    const sweeps = planStudy(full, data);
    const names = sweeps.map((s) => s.name);
    expect(names[0]).toBe("full/gap-vs-size/equal-epochs/n=3000");
    const tokens = sweeps.filter((s) => s.budget === "equal-tokens");
    expect(tokens.map((s) => s.name)).toEqual([
      "full/equal-tokens/equal-tokens/long/n=3000",
      "full/equal-tokens/equal-tokens/large/n=3000",
      "full/larger-students/equal-tokens/long/n=3000",
      "full/larger-students/equal-tokens/large/n=3000",
      "full/verbosity/equal-tokens/long/n=3000",
    ]);
    // Each equal-tokens sweep holds one axis's variants and says which; equal-epochs sweeps have none.
    expect(tokens.map((s) => s.axis)).toEqual(["long", "large", "long", "large", "long"]);
    for (const s of tokens) for (const v of s.variants) expect(variantAxis(v.name)).toBe(s.axis);
    expect(sweeps.filter((s) => s.budget === "equal-epochs").every((s) => s.axis === undefined)).toBe(true);
    const mixLong = tokens[0]!.variants.find((v) => v.name === "mix-long")!;
    // Every variant of an axis trains on the tokens of tokenEpochs epochs of its mix.
    expect(full.tokenEpochs).toBe(4);
    expect(tokens[0]!.training).toEqual({ kind: "tokens", tokens: Math.round(4 * epochTokens(mixLong)) });
    expect(sweeps.filter((s) => s.part === "data-scale").map((s) => s.trainQuestions)).toEqual([1000, 2000, 3000]);
    // mini at equal epochs trains on the budget rule of gap-vs-size, so its cells extend that curve.
    const miniEpochs = sweeps.find((s) => s.part === "larger-equal-epochs")!;
    expect(miniEpochs.students).toEqual(["mini"]);
    expect(miniEpochs.training).toEqual(sweeps[0]!.training);
    expect(miniEpochs.variants.map((v) => v.name)).toEqual(["short", "long", "mix-long"]);
    for (const s of sweeps) for (const v of s.variants) expect(v.train.length).toBe(s.trainQuestions);
    // No test question is a training question.
    const trainQ = new Set(data.train.map((r) => r.question));
    expect(data.testRecords.filter((r) => trainQ.has(r.question))).toEqual([]);
    expect(trainQ.size).toBe(data.train.length);
    const weights = sweeps.find((s) => s.part === "mix-weight")!.variants.map((v) => v.weight);
    expect(weights).toEqual([0, 0.1, 0.2, 0.4, 0.6, 1]);
    // Students over at least 1.5 orders of magnitude of parameters, at least 3 seeds on the main grid.
    expect(new Set(sweeps.flatMap((s) => s.students))).toEqual(new Set(["nano", "micro", "mini", "small"]));
    expect(sweeps[0]!.seeds.length).toBeGreaterThanOrEqual(3);
  });
});

describe("the verbosity part", () => {
  it("trains its long_noslip and pad cells on the budget of the equal-tokens long axis, so its short and long cells are the committed ones", () => {
    const full = STUDY_PRESETS.full;
    const data = studyData(full);
    const sweeps = planStudy(full, data);
    const verbosity = sweeps.find((s) => s.part === "verbosity")!;
    const main = sweeps.find((s) => s.name === "full/equal-tokens/equal-tokens/long/n=3000")!;
    expect(verbosity.variants.map((v) => v.name)).toEqual(["short", "long", "long_noslip", "pad"]);
    expect(verbosity.training).toEqual(main.training);
    // long_noslip is long without its slips (never longer); pad is short padded to long's length.
    const [, long, noslip, pad] = verbosity.variants;
    const short = verbosity.variants[0]!;
    const slipped = long!.train.filter((e, i) => e.response !== noslip!.train[i]!.response).length;
    expect(slipped).toBeGreaterThan(0.1 * long!.train.length);
    long!.train.forEach((e, i) => expect(noslip!.train[i]!.response.length).toBeLessThanOrEqual(e.response.length));
    pad!.train.forEach((e, i) => {
      expect(e.response.length).toBe(Math.max(long!.train[i]!.response.length, short.train[i]!.response.length));
      expect(e.response.replace(/\n\.+/g, "")).toBe(short.train[i]!.response);
    });
    // The cells the part shares are read from the committed store: same seeds, same accuracies.
    const read = studyResults("results/study-full", full, data);
    const runsOf = (name: string, variants: string[]) =>
      read.find((x) => x.sweep.name === name)!.runs.filter((r) => variants.includes(r.variant)).map((r) => `${r.student} ${r.variant} ${r.seed} ${r.accuracy}`).sort();
    const shared = runsOf(verbosity.name, ["short", "long"]);
    expect(shared).toHaveLength(12);
    expect(shared).toEqual(runsOf(main.name, ["short", "long"]));
    expect(plannedRuns([verbosity])).toBe(24);
  }, 60_000);
});

describe("studyReading", () => {
  const g = (student: string, params: number, value: number, lo: number, hi: number, name = "Long CoT Gap") =>
    ({ sweep: "full/gap-vs-size/equal-epochs/n=1000", budget: "equal-epochs" as const, trainQuestions: 1000, name, formula: "", student, params, value, lo, hi, runs: {}, accuracy: {} });
  it("reads each student's sign from its interval and names the paper's pattern only when both halves hold", () => {
    const r = studyReading([g("nano", 4e4, -5, -8, -2), g("micro", 2e5, 1, -1, 3), g("mini", 7e5, 6, 2, 9)]);
    expect(r.verdicts.map((v) => v.sign)).toEqual(["hurt", "unclear", "helped"]);
    expect(r.patterns).toEqual([{ sweep: "full/gap-vs-size/equal-epochs/n=1000", gap: "Long CoT Gap", paperPattern: true }]);
    const neg = studyReading([g("nano", 4e4, -5, -8, -2), g("mini", 7e5, -6, -9, -2)]);
    expect(neg.patterns[0]!.paperPattern).toBe(false);
    expect(neg.lines.at(-1)).toMatch(/No setting tried shows both halves/);
    const mix = studyReading([g("nano", 4e4, 2, 0.5, 4, "mix-long gain over the better part")]);
    expect(mix.lines[0]).toMatch(/the mix beats both parts for the smallest student/);
  });

  it("states the direction of a gap with size, and whether the end points' intervals are apart", () => {
    const up = studyReading([g("nano", 4e4, 2, -2, 6), g("micro", 2e5, 16, 10, 22)]);
    expect(up.lines[0]).toMatch(/with size it rises from 2\.0 \(nano\) to 16\.0 \(micro\), intervals apart$/);
    const flat = studyReading([g("nano", 4e4, -49.3, -55, -43), g("micro", 2e5, -49.7, -55, -44)]);
    expect(flat.lines[0]).toMatch(/falls from -49\.3 \(nano\) to -49\.7 \(micro\), intervals overlapping$/);
    // A peak in between, apart from both ends, is named; one within an end's interval is not.
    const peak = studyReading([g("nano", 4e4, 2, -1, 6), g("micro", 2e5, 11, 4, 17), g("mini", 7e5, 41, 35, 48), g("small", 1.9e6, 8, 2, 13)]);
    expect(peak.lines[0]).toMatch(/rises from 2\.0 \(nano\) to 8\.0 \(small\), intervals overlapping; not monotone: it peaks at 41\.0 \(mini\), above both ends$/);
    expect(studyReading([g("nano", 4e4, 2, -1, 6), g("mini", 7e5, 10, 5, 15), g("small", 1.9e6, 8, 2, 13)]).lines[0]).not.toContain("not monotone");
    const dip = studyReading([g("nano", 4e4, -30, -45, -13), g("mini", 7e5, -57, -62, -51), g("small", 1.9e6, -20, -26, -14)]);
    expect(dip.lines[0]).toMatch(/not monotone: it dips to -57\.0 \(mini\), below both ends$/);
    expect(studyReading([g("nano", 4e4, 1, 0, 2, "mix-long gain over the better part"), g("micro", 2e5, 5, 4, 6, "mix-long gain over the better part")]).lines[0]).not.toContain("with size");
  });

  it("takes the Long CoT Gap apart into the slips' share and the rest of the long style, and reads length alone", () => {
    const sweep = "full/verbosity/equal-tokens/long/n=3000";
    const at = (student: string, params: number, name: string, value: number, lo: number, hi: number) => ({ ...g(student, params, value, lo, hi, name), sweep, trainQuestions: 3000 });
    const r = studyReading([
      at("nano", 4e4, "Long CoT Gap", -30, -36, -24), at("nano", 4e4, KNOB_GAPS.slips, -10, -14, -6), at("nano", 4e4, KNOB_GAPS.noSlips, -20, -25, -15), at("nano", 4e4, KNOB_GAPS.length, -2, -5, 1),
      at("micro", 2e5, "Long CoT Gap", -40, -46, -34), at("micro", 2e5, KNOB_GAPS.slips, -30, -35, -25), at("micro", 2e5, KNOB_GAPS.noSlips, -10, -13, -7), at("micro", 2e5, KNOB_GAPS.length, -8, -11, -5),
    ]);
    expect(r.lines).toContain(`${sweep} · ${KNOB_GAPS.slips}: nano -10.0 [-14.0, -6.0] hurt; micro -30.0 [-35.0, -25.0] hurt -> hurt for every student`);
    expect(r.lines).toContain(`${sweep} · ${KNOB_GAPS.length}: nano -2.0 [-5.0, 1.0] unclear; micro -8.0 [-11.0, -5.0] hurt -> unclear for nano, hurt for micro`);
    expect(r.lines).toContain(
      `${sweep} · micro: of the Long CoT Gap -40.0 [-46.0, -34.0] hurt, the slips and redos account for -30.0 [-35.0, -25.0] hurt (75%) and the rest of the long style (reflection, checks, recap, every step by place value) for -10.0 [-13.0, -7.0] hurt (25%); length alone (short traces with filler after the answer to the long length) gives -8.0 [-11.0, -5.0] hurt (20%)`,
    );
    // The knob gaps are not read for the paper's pattern; the Long CoT Gap still is.
    expect(r.patterns.map((x) => x.gap)).toEqual(["Long CoT Gap"]);
  });

  it("reads the data-scale knob across the sweeps that differ only in their training questions", () => {
    const at = (n: number, value: number, lo: number, hi: number, name = "Long CoT Gap", part = "data-scale") =>
      ({ ...g("micro", 2e5, value, lo, hi, name), sweep: `full/${part}/equal-epochs/n=${n}`, trainQuestions: n });
    const r = studyReading([at(2000, -10, -14, -6), at(1000, -1.3, -3, 0.3), at(3000, -21.3, -27, -15.7), at(1000, 2, -0.7, 4.7, "mix-long gain over the better part")]);
    const line = r.lines.filter((l) => l.includes("against training questions"));
    // One line for the Long CoT Gap (three sizes); the mix's gain has one size only, so no line.
    expect(line).toHaveLength(1);
    expect(line[0]).toBe("full/data-scale/equal-epochs · Long CoT Gap of micro against training questions: n=1000 -1.3 [-3.0, 0.3] unclear; n=2000 -10.0 [-14.0, -6.0] hurt; n=3000 -21.3 [-27.0, -15.7] hurt -> unclear -> hurt -> hurt as the data grows; with more data it falls from -1.3 (n=1000) to -21.3 (n=3000), intervals apart");
    const same = studyReading([at(1000, -5, -8, -2), at(3000, -6, -9, -3)]).lines.find((l) => l.includes("against training questions"));
    expect(same).toMatch(/-> hurt at every size of the data; with more data it falls from -5\.0 \(n=1000\) to -6\.0 \(n=3000\), intervals overlapping$/);
    // Other parts (another family of sweeps) are not mixed in.
    expect(studyReading([at(1000, -5, -8, -2), at(3000, -6, -9, -3, "Long CoT Gap", "gap-vs-size")]).lines.some((l) => l.includes("against training questions"))).toBe(false);
  });
});
