/**
 * `mixdistill gaps DIR | --run STUDENT:VARIANT=PATH ... | FILE.csv ...`: the gap report with
 * intervals from evaluation runs (lm-evaluation-harness folders, with their samples files for
 * paired intervals) and CSV files in the import format; the plot written as HTML.
 */
import { existsSync, statSync } from "node:fs";
import { writeFileAtomic } from "../data/atomic.js";
import { formatGapReport, gapReportHtml } from "../gap/metrics.js";
import { importRuns, parseRunFlag, runsInDir, standardGaps, type EvalRun } from "../gap/runs.js";
import { gapPlot } from "../viz/plots.js";
import { configurePlots } from "../viz/bundle.js";
import { intFlag, one, parseArgs, UsageError } from "./args.js";

export const GAPS_HELP = `usage: mixdistill gaps DIR | --run STUDENT:VARIANT=PATH ... | FILE.csv ... [options]

  DIR                a folder with one sub-folder per run named <student>-<variant> (variant after the
                     last hyphen, e.g. qwen2.5-0.5b-long), optionally seed<N>/ below it, holding what
                     lm-evaluation-harness wrote for --output_path (results_*.json; with --log_samples
                     the samples_<task>_*.jsonl give paired intervals); CSV files in DIR are read too
  --run S:V=PATH     one run anywhere (a folder or a results_*.json); repeatable
  FILE.csv           results in the CSV import format
  --html FILE        write the plot and the tables as one offline HTML page
  --replicates N     bootstrap replicates (default 2000)
  --seed S           seed of the resampling (default 0)
  --json             print the reports as JSON
`;

export async function cmdGaps(argv: string[], io: { out(t: string): void; err(t: string): void }): Promise<number> {
  const p = parseArgs(argv, { values: ["run", "html", "replicates", "seed"], repeat: ["run"], booleans: ["json"] });
  if (p.booleans.has("help")) {
    io.out(GAPS_HELP);
    return 0;
  }
  const runs: EvalRun[] = [];
  const csv: string[] = [];
  for (const a of p.positional) {
    if (!existsSync(a)) throw new UsageError(`${a}: no such file or folder`);
    if (statSync(a).isDirectory()) {
      const r = runsInDir(a);
      runs.push(...r.runs);
      csv.push(...r.csv);
    } else if (a.endsWith(".csv")) csv.push(a);
    else throw new UsageError(`${a}: expected a folder of runs or a .csv file`);
  }
  for (const r of p.values.get("run") ?? []) {
    try {
      runs.push(parseRunFlag(r));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (runs.length === 0 && csv.length === 0) throw new UsageError("give a folder of runs, --run STUDENT:VARIANT=PATH, or CSV files");
  const rs = importRuns(runs, { csv });
  const reports = standardGaps(rs, { replicates: intFlag(p, "replicates", 2000), seed: intFlag(p, "seed", 0) });
  if (p.booleans.has("json")) io.out(JSON.stringify(reports, null, 2) + "\n");
  else io.out(reports.map((r) => formatGapReport(r)).join("\n\n") + "\n");
  const html = one(p, "html");
  if (html !== undefined) {
    configurePlots({ plotlyJs: "every" });
    const plot = gapPlot(reports).toBundle()["text/html"] as string;
    const page = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>mixdistill gaps</title></head><body>\n${plot}\n${reports.map(gapReportHtml).join("\n")}\n</body></html>\n`;
    await writeFileAtomic(html, page);
    io.err(`wrote ${html}\n`);
  }
  return 0;
}
