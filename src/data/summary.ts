/**
 * A corpus at a glance: how many questions, which sources answered them at which level, and a few
 * examples with long texts elided. The kernel shows a cell's corpus value this way (text and HTML)
 * instead of printing every response in full.
 */
import type { CorpusRecord } from "./record.js";

export interface CorpusSummaryOptions {
  /** Examples shown (default 3): the first questions, in corpus order. */
  examples?: number;
  /** Texts longer than this many characters are cut in the middle (default 240). */
  maxChars?: number;
}

/** Whether a value is a corpus: a non-empty array of records with an id, a question and responses. */
export function isCorpus(value: unknown): value is CorpusRecord[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (const r of value as unknown[]) {
    if (r === null || typeof r !== "object") return false;
    const rec = r as Partial<CorpusRecord>;
    if (typeof rec.id !== "string" || typeof rec.question !== "string") return false;
    if (rec.responses === null || typeof rec.responses !== "object" || Array.isArray(rec.responses)) return false;
  }
  return true;
}

/** `text` cut in the middle when longer than `max` characters, saying how much was left out. */
export function elide(text: string, max = 240): string {
  if (text.length <= max) return text;
  const head = Math.ceil(max * 0.6);
  const tail = Math.max(0, max - head - 1);
  const cut = text.length - head - tail;
  return `${text.slice(0, head)} … [${cut.toLocaleString("en-US")} characters elided] … ${text.slice(text.length - tail)}`;
}

export interface CorpusCounts {
  questions: number;
  sources: string[];
  /** Level labels in order ("1".."5", and "none" for records without a level). */
  levels: string[];
  /** questions answered by `source` at `level`: counts[source][level]. */
  counts: Record<string, Record<string, number>>;
  /** Mean response length in characters per source. */
  meanChars: Record<string, number>;
  /** Questions per level, whoever answered them. */
  perLevel: Record<string, number>;
}

export function corpusCounts(corpus: readonly CorpusRecord[]): CorpusCounts {
  const sources = new Set<string>();
  const levelSet = new Set<number>();
  let unlevelled = false;
  for (const r of corpus) {
    for (const s of Object.keys(r.responses)) sources.add(s);
    if (typeof r.level === "number") levelSet.add(r.level);
    else unlevelled = true;
  }
  const levels = [...[...levelSet].sort((a, b) => a - b).map(String), ...(unlevelled ? ["none"] : [])];
  const src = [...sources].sort();
  const counts: Record<string, Record<string, number>> = {};
  const chars: Record<string, number> = {};
  for (const s of src) {
    counts[s] = Object.fromEntries(levels.map((l) => [l, 0]));
    chars[s] = 0;
  }
  const perLevel: Record<string, number> = Object.fromEntries(levels.map((l) => [l, 0]));
  for (const r of corpus) {
    const l = typeof r.level === "number" ? String(r.level) : "none";
    perLevel[l]!++;
    for (const [s, text] of Object.entries(r.responses)) {
      if (typeof text !== "string") continue;
      counts[s]![l]!++;
      chars[s]! += text.length;
    }
  }
  const meanChars = Object.fromEntries(src.map((s) => {
    const n = Object.values(counts[s]!).reduce((a, b) => a + b, 0);
    return [s, n ? Math.round(chars[s]! / n) : 0];
  }));
  return { questions: corpus.length, sources: src, levels, counts, meanChars, perLevel };
}

const fmt = (n: number): string => n.toLocaleString("en-US");
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim();

/** The corpus as text and HTML: counts per source and level, then a few examples, long texts elided. */
export function corpusSummary(corpus: readonly CorpusRecord[], opts: CorpusSummaryOptions = {}): { "text/plain": string; "text/html": string } {
  const max = opts.maxChars ?? 240;
  const c = corpusCounts(corpus);
  const shown = corpus.slice(0, Math.max(0, opts.examples ?? 3));
  const levelName = (l: string): string => (l === "none" ? "no level" : `L${l}`);
  const title = `Corpus: ${fmt(c.questions)} question${c.questions === 1 ? "" : "s"}, ${c.sources.length} source${c.sources.length === 1 ? "" : "s"} (${c.sources.join(", ")})`;

  const header = ["source", ...c.levels.map(levelName), "total", "mean chars"];
  const rows = [
    ...c.sources.map((s) => [s, ...c.levels.map((l) => fmt(c.counts[s]![l]!)), fmt(Object.values(c.counts[s]!).reduce((a, b) => a + b, 0)), fmt(c.meanChars[s]!)]),
    ["questions", ...c.levels.map((l) => fmt(c.perLevel[l]!)), fmt(c.questions), ""],
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ").trimEnd();
  const text = [title, "responses per source and level:", `  ${line(header)}`, ...rows.map((r) => `  ${line(r)}`)];
  if (shown.length) text.push(`examples (${shown.length} of ${fmt(c.questions)}):`);
  for (const r of shown) {
    const meta = [r.level !== undefined ? `level ${r.level}` : "", r.answer !== undefined ? `answer ${oneLine(String(r.answer))}` : ""].filter(Boolean).join(", ");
    text.push(`  ${r.id}${meta ? ` (${meta})` : ""}: ${elide(oneLine(r.question), max)}`);
    for (const [s, resp] of Object.entries(r.responses)) text.push(`    ${s}: ${elide(oneLine(String(resp)), max)}`);
  }

  const th = (v: string): string => `<th style="text-align:${v === header[0] ? "left" : "right"}">${esc(v)}</th>`;
  const html = [
    `<div class="mixdistill-corpus">`,
    `<p><b>${esc(title)}</b></p>`,
    `<table><caption style="text-align:left">responses per source and level</caption>`,
    `<thead><tr>${header.map(th).join("")}</tr></thead><tbody>`,
    ...rows.map((r) => `<tr>${r.map((v, i) => `<td style="text-align:${i === 0 ? "left" : "right"}">${esc(v)}</td>`).join("")}</tr>`),
    `</tbody></table>`,
    ...(shown.length ? [`<p>examples (${shown.length} of ${fmt(c.questions)}):</p><dl>`] : []),
    ...shown.map((r) =>
      `<dt><code>${esc(r.id)}</code>${r.level !== undefined ? ` level ${esc(String(r.level))}` : ""}${r.answer !== undefined ? `, answer <code>${esc(oneLine(String(r.answer)))}</code>` : ""}: ${esc(elide(oneLine(r.question), max))}</dt>` +
      Object.entries(r.responses).map(([s, resp]) => `<dd><b>${esc(s)}</b>: <span style="white-space:pre-wrap">${esc(elide(String(resp), max))}</span></dd>`).join(""),
    ),
    ...(shown.length ? ["</dl>"] : []),
    `</div>`,
  ].join("");
  return { "text/plain": text.join("\n"), "text/html": html };
}
