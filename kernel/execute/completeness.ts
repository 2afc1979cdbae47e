/** is_complete: whether a cell is ready to run, needs more lines (and how to indent them), or is invalid. */
import { transform } from "esbuild";

export type Completeness = { status: "complete" } | { status: "incomplete"; indent: string } | { status: "invalid" };

const INCOMPLETE = [/^Unexpected end of file/, /^Unterminated template literal/, /to terminate multi-line comment/, /^Expected .* but found end of file/];

export async function isComplete(code: string): Promise<Completeness> {
  try {
    await transform(code, { loader: "ts", format: "esm", target: "es2022", logLevel: "silent" });
    return { status: "complete" };
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string }> }).errors;
    if (!errors?.length) return { status: "invalid" };
    if (errors.some((e) => INCOMPLETE.some((re) => re.test(e.text)))) return { status: "incomplete", indent: nextIndent(code) };
    return { status: "invalid" };
  }
}

/** The indent of the last non-blank line, two spaces deeper after an opening bracket. */
function nextIndent(code: string): string {
  const lines = code.split("\n").filter((l) => l.trim() !== "");
  const last = lines[lines.length - 1] ?? "";
  const base = /^\s*/.exec(last)![0];
  return /[{([]\s*$/.test(last) ? base + "  " : base;
}
