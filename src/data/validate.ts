import type { CorpusRecord } from "./record.js";

/** A single-source record in the paper's released form (UWNSL/* datasets). */
export interface PaperRecord {
  problem: string;
  solution: string;
  /** Present in some mirrors; used as the join key when both sides have it. */
  id?: string;
  answer?: string;
  level?: number;
  subject?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; field: string; reason: string };

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

const describe = (x: unknown): string => {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") return x.length === 0 ? "an empty string" : "a string";
  return `a ${typeof x}`;
};

/** Non-blank, without copying the (possibly long) string as trim() would. */
const NON_SPACE = /\S/;
const hasText = (s: string): boolean => NON_SPACE.test(s);

const bad = (field: string, reason: string): { ok: false; field: string; reason: string } => ({ ok: false, field, reason });

/** Levels are small positive integers; MATH's "Level 3" strings are accepted and converted. */
function checkLevel(x: unknown): Checked<number | undefined> {
  if (x === undefined || x === null) return { ok: true, value: undefined };
  if (typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 100) return { ok: true, value: x };
  if (typeof x === "string") {
    const m = /^\s*(?:level\s*)?(\d{1,2})\s*$/i.exec(x);
    if (m) return { ok: true, value: Number(m[1]) };
  }
  return bad("level", `expected an integer level (1-5), got ${typeof x === "string" ? JSON.stringify(x) : describe(x)}`);
}

/** Validates one parsed JSON value as a CorpusRecord. Unknown top-level fields are dropped. */
export function checkCorpusRecord(x: unknown): Checked<CorpusRecord> {
  if (!isObject(x)) return bad("", `expected a JSON object, got ${describe(x)}`);
  if (typeof x.id !== "string" || x.id.length === 0) {
    if (x.id === undefined) return bad("id", "missing");
    return bad("id", `expected a non-empty string, got ${describe(x.id)}`);
  }
  if (typeof x.question !== "string" || !hasText(x.question))
    return bad("question", x.question === undefined ? "missing" : `expected a non-empty string, got ${describe(x.question)}`);
  if (typeof x.answer !== "string")
    return bad("answer", x.answer === undefined ? "missing" : `expected a string, got ${describe(x.answer)}`);
  const level = checkLevel(x.level);
  if (!level.ok) return level;
  if (x.subject !== undefined && x.subject !== null && typeof x.subject !== "string")
    return bad("subject", `expected a string, got ${describe(x.subject)}`);
  if (!isObject(x.responses))
    return bad("responses", x.responses === undefined ? "missing" : `expected an object of source name -> response text, got ${describe(x.responses)}`);
  const responses: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(x.responses)) {
    if (typeof v !== "string") return bad(`responses.${k}`, `expected a string, got ${describe(v)}`);
    if (!hasText(v)) return bad(`responses.${k}`, "empty response");
    responses[k] = v;
    n++;
  }
  if (n === 0) return bad("responses", "no responses");
  const rec: CorpusRecord = { id: x.id, question: x.question, answer: x.answer, responses };
  if (level.value !== undefined) rec.level = level.value;
  if (typeof x.subject === "string") rec.subject = x.subject;
  return { ok: true, value: rec };
}

/** Validates one parsed JSON value as a paper-form record `{problem, solution}`. */
export function checkPaperRecord(x: unknown): Checked<PaperRecord> {
  if (!isObject(x)) return bad("", `expected a JSON object, got ${describe(x)}`);
  for (const f of ["problem", "solution"] as const) {
    const v = x[f];
    if (typeof v !== "string") return bad(f, v === undefined ? "missing" : `expected a string, got ${describe(v)}`);
    if (!hasText(v)) return bad(f, f === "solution" ? "empty response" : "empty");
  }
  const rec: PaperRecord = { problem: x.problem as string, solution: x.solution as string };
  if (x.id !== undefined) {
    if (typeof x.id === "string" && x.id.length > 0) rec.id = x.id;
    else if (typeof x.id === "number" && Number.isSafeInteger(x.id)) rec.id = String(x.id);
    else return bad("id", `expected a non-empty string, got ${describe(x.id)}`);
  }
  if (x.answer !== undefined && x.answer !== null) {
    if (typeof x.answer !== "string") return bad("answer", `expected a string, got ${describe(x.answer)}`);
    rec.answer = x.answer;
  }
  const level = checkLevel(x.level);
  if (!level.ok) return level;
  if (level.value !== undefined) rec.level = level.value;
  const subject = x.subject ?? x.type;
  if (typeof subject === "string") rec.subject = subject;
  return { ok: true, value: rec };
}

/** Which of the two accepted line shapes a parsed value has. */
export function recordKind(x: unknown): "corpus" | "paper" | "unknown" {
  if (!isObject(x)) return "unknown";
  if ("responses" in x || "question" in x) return "corpus";
  if ("problem" in x || "solution" in x) return "paper";
  return "unknown";
}
