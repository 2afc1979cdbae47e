/**
 * A study store as a Markdown report a person reads (and a repository shows): every cell with its
 * seeds and interval, every gap with its sign, the reading, and what is still to run. Computed from
 * the store alone, so re-running it on the same store gives the same text.
 */
import { accuracyReport, formatParams } from "../gap/metrics.js";
import type { ResultsStore } from "./store.js";
import { gapSign, planStudy, plannedRuns, studyData, studyReading, studyResults, summarizeStudy, type StudyData, type StudyPreset } from "./study.js";

const pct = (x: number): string => x.toFixed(1);
const interval = (lo?: number, hi?: number): string => (lo === undefined || hi === undefined ? "-" : `[${pct(lo)}, ${pct(hi)}]`);
const params = (n?: number): string => (n === undefined ? "" : formatParams(n));

export type StudyReportSection = "summary" | "cells" | "gaps" | "reading";

/**
 * The Markdown report of a preset's store (see the module comment); `sections` picks parts of it
 * and their order (default: summary, reading, cells, gaps: the finding before the tables it comes from). A caller that already read the store passes what it read (`sweeps`
 * from studyResults, `summary` from summarizeStudy with the same replicates), so it is not read again.
 */
export function studyMarkdown(
  store: string | ResultsStore,
  p: StudyPreset,
  opts: { replicates?: number; data?: StudyData; title?: string | false; sections?: StudyReportSection[]; sweeps?: ReturnType<typeof studyResults>; summary?: Pick<ReturnType<typeof summarizeStudy>, "runs" | "gaps"> } = {},
): string {
  const order = [...new Set<StudyReportSection>(opts.sections ?? ["summary", "reading", "cells", "gaps"])];
  const data = opts.data ?? studyData(p);
  const replicates = opts.replicates ?? 2000;
  const sweeps = opts.sweeps ?? studyResults(store, p, data);
  const { runs, gaps } = opts.summary ?? summarizeStudy(store, p, { replicates, data });
  const planned = plannedRuns(planStudy(p, data));
  const section: Record<StudyReportSection, (out: string[]) => void> = {
    summary: (out) => {
      if (opts.title !== false) out.push(`# ${opts.title ?? `Study \`${p.name}\``}`, "", `${p.description}`, "");
      out.push(
        `Task \`${p.task.task}\` (${JSON.stringify(p.task)}), ${p.testQuestions} test questions, ${p.epochs} epochs under equal epochs, ` +
          `the tokens of ${p.tokenEpochs ?? p.epochs} epochs of the axis's mix under equal tokens. ` +
          `${runs.length} of ${planned} planned runs finished. Accuracy is the mean over the finished seeds; ` +
          `intervals are 95% percentile bootstraps over the test questions and the seeds (${replicates} replicates).`,
        "",
      );
    },
    cells: (out) => {
      out.push("## Every cell", "");
      out.push("| part | budget | training questions | student | parameters | variant | accuracy % | 95% interval | by seed (seed: accuracy %) | training tok/s per worker |");
      out.push("|---|---|---:|---|---:|---|---:|---|---|---:|");
      for (const { sweep, results, runs: sr } of sweeps) {
        for (const v of sweep.variants) {
          const vr = sr.filter((r) => r.variant === v.name);
          if (vr.length === 0) continue;
          for (const e of accuracyReport(results, v.name, { replicates }).entries.filter((x) => x.benchmark === p.task.task)) {
            const mine = vr.filter((r) => r.student === e.student);
            if (mine.length === 0) continue;
            const tps = mine.filter((r) => r.trainTokensPerSecond !== undefined);
            const rate = tps.length ? Math.round(tps.reduce((s, r) => s + r.trainTokensPerSecond!, 0) / tps.length) : undefined;
            out.push(`| ${sweep.part} | ${sweep.budget} | ${sweep.trainQuestions} | ${e.student} | ${params(e.params ?? mine[0]!.params)} | ${v.name} | ${pct(e.value)} | ${interval(e.interval?.lo, e.interval?.hi)} | ${[...mine].sort((a, b) => a.seed - b.seed).map((r) => `${r.seed}: ${pct(r.accuracy)}`).join(", ")} | ${rate ?? ""} |`);
          }
        }
      }
      if (runs.length === 0) out.push("", `No finished runs in the store yet.`);
      else out.push("", "Parameter counts include the learned position embeddings, sized to the variant's longest example, so one student has more of them on long traces.");
      out.push("");
    },
    gaps: (out) => {
      out.push("## Gaps", "", "Points of accuracy; hurt: the interval is below 0, helped: above 0, unclear: it contains 0.", "");
      out.push("| sweep | gap | student | gap (points) | 95% interval | sign |");
      out.push("|---|---|---|---:|---|---|");
      for (const g of gaps) out.push(`| ${g.sweep} | ${g.name} (${g.formula}) | ${g.student} | ${g.value >= 0 ? "+" : ""}${pct(g.value)} | ${interval(g.lo, g.hi)} | ${gapSign(g)} |`);
      out.push("");
    },
    reading: (out) => {
      out.push("## Reading", "", "Computed from the gaps (`studyReading`):", "");
      for (const l of studyReading(gaps).lines) out.push(`- ${l}`);
      out.push("");
    },
  };
  const out: string[] = [];
  for (const name of order) section[name](out);
  return out.join("\n");
}
