/**
 * The paper's Tables 1-3 through the same result model as the user's own numbers, and a check of
 * the tables against themselves: every reported gap and average recomputed from the reported
 * accuracies, with rounding differences and the known typos flagged rather than hidden.
 */
import { AVERAGE, ResultSet, type ResultRow } from "./results.js";
import { displayable, largeModelCotGap, longCotGap, type GapReport, type IntervalOptions } from "./metrics.js";
import {
  BENCHMARK_EXAMPLES,
  BENCHMARKS,
  STUDENT_PARAMS,
  TABLE1,
  TABLE2,
  TABLE3,
  type AverageGapTable,
} from "./reference/tables.js";

export * as paperTables from "./reference/tables.js";

export interface PaperResultsOptions {
  /** Which tables to load; default all three. */
  tables?: Array<1 | 2 | 3>;
  /**
   * Attach the evaluation set sizes of the official code (MATH assumed 500) to Table 3 rows, so
   * intervals over evaluation examples can be computed. Default false: numbers exactly as reported.
   */
  withExampleCounts?: boolean;
  /**
   * Replace the Table 3 Llama-3.2-3B small-teacher AIME cell (3.3) by 0.0, the value its reported
   * average (31.2) and Figure 3 imply. Default false: as printed.
   */
  fixKnownTypo?: boolean;
}

/** The Llama-3.2-3B small-teacher AIME cell of Table 3: 3.3 printed, 0.0 implied by the row's average. */
export const KNOWN_TYPO = { table: "Table 3", student: "Llama-3.2-3B-Instruct", variant: "small", benchmark: "AIME", printed: 3.3, implied: 0.0 } as const;

/**
 * The paper's reported accuracies as result rows: Tables 1-2 as pre-averaged (AVERAGE) rows,
 * Table 3 per benchmark (its averages follow from the benchmarks, as for the user's results).
 */
export function paperResults(opts: PaperResultsOptions = {}): ResultSet {
  const tables = opts.tables ?? [1, 2, 3];
  const rows: ResultRow[] = [];
  for (const [i, t] of [[1, TABLE1], [2, TABLE2]] as Array<[1 | 2, AverageGapTable]>) {
    if (!tables.includes(i)) continue;
    for (const r of t.rows) {
      const base = { student: r.student, params: STUDENT_PARAMS[r.student], benchmark: AVERAGE, budget: "epochs=2", source: `paper ${t.table}` };
      rows.push({ ...base, variant: t.plusVariant, accuracy: r.plus }, { ...base, variant: t.minusVariant, accuracy: r.minus });
    }
  }
  if (tables.includes(3)) {
    for (const r of TABLE3.rows) {
      for (const b of BENCHMARKS) {
        const typo = opts.fixKnownTypo && r.student === KNOWN_TYPO.student && r.variant === KNOWN_TYPO.variant && b === KNOWN_TYPO.benchmark;
        const row: ResultRow = {
          student: r.student,
          params: STUDENT_PARAMS[r.student],
          variant: r.variant,
          benchmark: b,
          accuracy: typo ? KNOWN_TYPO.implied : r.scores[b],
          budget: "epochs=2",
          source: `paper Table 3${typo ? " (AIME typo corrected)" : ""}`,
        };
        if (opts.withExampleCounts) row.n = BENCHMARK_EXAMPLES[b];
        rows.push(row);
      }
    }
  }
  return new ResultSet(rows);
}

export type CheckStatus = "exact" | "rounding" | "inconsistent" | "label";

export interface ReferenceCheck {
  table: string;
  student: string;
  /** What was recomputed, e.g. "Delta_Long = P_Long - P_Short" or "Average of long". */
  quantity: string;
  reported: number | string;
  recomputed: number | string;
  difference?: number;
  /** exact; within what rounding to one decimal allows; beyond it; or a mislabelled row. */
  status: CheckStatus;
  note?: string;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Worst-case disagreement from rounding: inputs and output printed to one decimal (+-0.05 each). */
function classify(recomputed: number, reported: number, bound: number): { difference: number; status: CheckStatus } {
  const difference = round(recomputed - reported, 6);
  if (Math.abs(round(recomputed, 1) - reported) < 1e-9) return { difference, status: "exact" };
  return { difference, status: Math.abs(difference) <= bound + 1e-9 ? "rounding" : "inconsistent" };
}

/**
 * Every reported gap and average of Tables 1-3 recomputed from the reported accuracies, and the
 * quantities the tables share cross-checked. A gap of two one-decimal numbers can differ from its
 * printed value by up to 0.1 through rounding alone (0.05 per input, 0.05 for the output, less one
 * half-unit since the output is itself rounded from an unrounded gap): within 0.1 is "rounding".
 */
export function referenceChecks(): ReferenceCheck[] {
  const out: ReferenceCheck[] = [];
  for (const t of [TABLE1, TABLE2]) {
    const name = t === TABLE1 ? "Delta_Long = P_Long - P_Short" : "Delta_Large = P_Large - P_Small";
    for (const r of t.rows) {
      const recomputed = round(r.plus - r.minus, 6);
      const c = classify(recomputed, r.reportedGap, 0.1);
      const check: ReferenceCheck = { table: t.table, student: r.student, quantity: name, reported: r.reportedGap, recomputed, ...c };
      if (c.status === "rounding") check.note = "difference of the rounded accuracies; within rounding of the unrounded ones";
      out.push(check);
      const better = r.reportedGap > 0 ? ["Long", "Strong"] : ["Short", "Weak"];
      if (!better.includes(r.better))
        out.push({ table: t.table, student: r.student, quantity: "Better column vs sign of the gap", reported: r.better, recomputed: better.join("/"), status: "inconsistent" });
      if (r.labelInPaper)
        out.push({
          table: t.table,
          student: r.student,
          quantity: "student label",
          reported: r.labelInPaper,
          recomputed: r.student,
          status: "label",
          note: "mislabelled in the paper's table; Table 4 lists the student used",
        });
    }
  }
  for (const r of TABLE3.rows) {
    const recomputed = round(BENCHMARKS.reduce((s, b) => s + r.scores[b], 0) / BENCHMARKS.length, 6);
    const c = classify(recomputed, r.reportedAverage, 0.1);
    const check: ReferenceCheck = { table: TABLE3.table, student: r.student, quantity: `Average of ${r.variant}`, reported: r.reportedAverage, recomputed, ...c };
    if (r.student === KNOWN_TYPO.student && r.variant === KNOWN_TYPO.variant)
      check.note = `known typo: the AIME cell reads ${KNOWN_TYPO.printed}; the reported average implies ${KNOWN_TYPO.implied} (so does Figure 3). ${r.note ?? ""}`.trim();
    else if (c.status === "rounding") check.note = "mean of rounded accuracies; within rounding";
    out.push(check);
  }
  // The same accuracies appear in Table 3 and in Tables 1-2 for the 3B students.
  for (const [t, plus, minus] of [[TABLE1, "long", "short"], [TABLE2, "large", "small"]] as const) {
    for (const tr of t.rows) {
      for (const [variant, value] of [[plus, tr.plus], [minus, tr.minus]] as const) {
        const r3 = TABLE3.rows.find((r) => r.student === tr.student && r.variant === variant);
        if (!r3) continue;
        const c = classify(r3.reportedAverage, value, 0);
        out.push({
          table: `${t.table} vs Table 3`,
          student: tr.student,
          quantity: `reported average of ${variant}`,
          reported: value,
          recomputed: r3.reportedAverage,
          ...c,
          note: c.status === "exact" ? "the tables agree" : "the tables disagree",
        });
      }
    }
  }
  return out;
}

/** The checks as a text table, differences first. */
export function formatReferenceChecks(checks: ReferenceCheck[] = referenceChecks()): string {
  const order: Record<CheckStatus, number> = { inconsistent: 0, label: 1, rounding: 2, exact: 3 };
  const sorted = [...checks].sort((a, b) => order[a.status] - order[b.status]);
  const counts = Object.fromEntries((["exact", "rounding", "inconsistent", "label"] as CheckStatus[]).map((s) => [s, checks.filter((c) => c.status === s).length]));
  const lines = [`Paper Tables 1-3 recomputed: ${counts.exact} exact, ${counts.rounding} within rounding, ${counts.inconsistent} inconsistent, ${counts.label} mislabelled`];
  for (const c of sorted)
    lines.push(`${c.status.padEnd(12)} ${c.table.padEnd(19)} ${c.student.padEnd(23)} ${c.quantity}: reported ${c.reported}, recomputed ${c.recomputed}${c.note ? ` (${c.note})` : ""}`);
  return lines.join("\n");
}

/**
 * Table 1 (Long CoT Gap) or Table 2 (Large Model CoT Gap) recomputed from its reported accuracies,
 * each entry carrying the printed gap and whether the recomputed one reproduces it exactly, within
 * rounding, or not.
 */
export function paperGaps(table: 1 | 2, opts: IntervalOptions = {}): GapReport {
  const t = table === 1 ? TABLE1 : TABLE2;
  const rs = paperResults({ tables: [table] });
  const report = table === 1 ? longCotGap(rs, opts) : largeModelCotGap(rs, opts);
  for (const e of report.entries) {
    const row = t.rows.find((r) => r.student === e.student);
    if (!row) continue;
    const { status } = classify(round(e.value, 6), row.reportedGap, 0.1);
    e.reported = { value: row.reportedGap, status: status === "label" ? "exact" : status, source: `paper ${t.table}${row.labelInPaper ? ` (printed as ${row.labelInPaper})` : ""}` };
  }
  return displayable({ ...report, name: `${report.name}, paper ${t.table} recomputed` });
}
