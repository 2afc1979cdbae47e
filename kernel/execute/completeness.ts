/** is_complete: whether a cell is ready to run, needs more lines (and how to indent them), or is invalid. */
import { esbuildTransform as transform } from "./transform.js";

export type Completeness = { status: "complete" } | { status: "incomplete"; indent: string } | { status: "invalid" };

const INCOMPLETE = [/^Unexpected end of file/, /^Unterminated template literal/, /to terminate multi-line comment/, /^Expected .* but found end of file/];

/** esbuild's error texts for `code`, or [] when it parses. */
async function parseErrors(code: string): Promise<string[]> {
  try {
    await transform(code, { loader: "ts", format: "esm", target: "es2022", logLevel: "silent" });
    return [];
  } catch (err) {
    return ((err as { errors?: Array<{ text: string }> }).errors ?? [{ text: String(err) }]).map((e) => e.text);
  }
}

export async function isComplete(code: string): Promise<Completeness> {
  const errors = await parseErrors(code);
  if (errors.length === 0) return { status: "complete" };
  if (errors.some((e) => INCOMPLETE.some((re) => re.test(e)))) return { status: "incomplete", indent: nextIndent(code) };
  // esbuild calls an open template literal an unterminated string; closing it with a backtick tells them apart.
  if (errors.some((e) => e.startsWith("Unterminated string literal"))) {
    const closed = await parseErrors(code + "`");
    if (!closed.some((e) => e.startsWith("Unterminated string literal"))) return { status: "incomplete", indent: "" };
  }
  return { status: "invalid" };
}

/** The indent of the last non-blank line, two spaces deeper after an opening bracket. */
function nextIndent(code: string): string {
  const lines = code.split("\n").filter((l) => l.trim() !== "");
  const last = lines[lines.length - 1] ?? "";
  const base = /^\s*/.exec(last)![0];
  return /[{([]\s*$/.test(last) ? base + "  " : base;
}
