/**
 * Answer extraction and comparison: the last \boxed{...} of a generation, normalised, compared
 * with the reference as numbers when both sides are numbers, else as normalised strings.
 */

/** Content of the last \boxed{...} (or \fbox{...}) with balanced braces; null if none is complete. */
export function lastBoxed(text: string): string | null {
  let from = text.length;
  while (from >= 0) {
    const a = text.lastIndexOf("\\boxed", from);
    const b = text.lastIndexOf("\\fbox", from);
    const i = Math.max(a, b);
    if (i < 0) return null;
    let j = i + (i === a ? 6 : 5);
    while (text[j] === " ") j++;
    if (text[j] === "{") {
      let depth = 0;
      for (let k = j; k < text.length; k++) {
        if (text[k] === "{") depth++;
        else if (text[k] === "}" && --depth === 0) return text.slice(j + 1, k);
      }
    } else if (i === a && text[i + 6] === " ") {
      // "\boxed 5": the rest of the token
      const m = /^\S+/.exec(text.slice(j));
      if (m) return m[0].replace(/[.$]+$/, "");
    }
    from = i - 1;
  }
  return null;
}

const UNIT_WORDS =
  "(?:units?|cm|mm|km|m|meters?|metres?|centimeters?|kilometers?|inch(?:es)?|in|feet|foot|ft|yards?|miles?|degrees?|deg|seconds?|sec|s|minutes?|min|hours?|hrs?|h|days?|weeks?|years?|dollars?|cents?|kg|g|grams?|pounds?|lbs?|liters?|l|ml|mph|sq|square|cubic)";

/** Canonical form of an answer string (see the tests for the cases). */
export function normalizeAnswer(raw: string): string {
  let s = raw.trim();
  s = s.replace(/^\$+|\$+$/g, "");
  s = s.replace(/\\(?:left|right)\b/g, "");
  s = s.replace(/\\[dt]frac/g, "\\frac");
  s = s.replace(/\\(?:!|,|;|:| |quad|qquad)/g, " ");
  s = s.replace(/~/g, " ");
  s = s.replace(/\^\s*\{?\\circ\}?/g, "");
  s = s.replace(/\\%|%/g, "");
  s = s.replace(/\\\$/g, "");
  // \text{...} / \mbox{...} / \mathrm{...}: unit words vanish, other text stays as plain text
  s = s.replace(/\\(?:text|textbf|mbox|mathrm|mathbf)\s*\{([^{}]*)\}(\^\{?\d\}?)?/g, (_m, inner: string, power: string | undefined) => {
    const t = inner.trim();
    return new RegExp(`^(?:${UNIT_WORDS}(?:\\^?\\d)?\\s*)+$`, "i").test(t) ? "" : t + (power ?? "");
  });
  // trailing unit words after a number: "12 cm", "5 dollars"
  s = s.replace(new RegExp(`^([-+]?[\\d.,/]+)\\s*${UNIT_WORDS}(?:\\^?\\d)?\\.?$`, "i"), "$1");
  // "x = 5" -> "5" when the left side is a single variable
  s = s.replace(/^[a-zA-Z]\s*=\s*/, "");
  // \frac12 -> \frac{1}{2}; \frac1{2} -> \frac{1}{2}
  s = s.replace(/\\frac\s*(\d)\s*(\d)/g, "\\frac{$1}{$2}").replace(/\\frac\s*(\d)\s*\{/g, "\\frac{$1}{");
  s = s.replace(/\\sqrt\s*(\d+)/g, "\\sqrt{$1}");
  s = s.replace(/\s+/g, "");
  s = s.replace(/\.$/, "");
  // 1,000 -> 1000 (thousands separators only)
  if (/^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, "");
  // trailing zeros of decimals: 2.50 -> 2.5, 3.0 -> 3
  if (/^[-+]?\d+\.\d+$/.test(s)) s = s.replace(/0+$/, "").replace(/\.$/, "");
  if (/^\+\d/.test(s)) s = s.slice(1);
  if (s === "-0") s = "0";
  return s;
}

/** The value of a normalised answer when it is a number: integers, decimals, a/b, \frac{a}{b}, -\frac{a}{b}. */
export function answerNumber(norm: string): number | null {
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(norm)) return Number(norm);
  let m = /^([-+]?)\\frac\{([-+]?\d+(?:\.\d+)?)\}\{([-+]?\d+(?:\.\d+)?)\}$/.exec(norm);
  if (m) {
    const d = Number(m[3]);
    return d === 0 ? null : (m[1] === "-" ? -1 : 1) * (Number(m[2]) / d);
  }
  m = /^([-+]?\d+(?:\.\d+)?)\/([-+]?\d+(?:\.\d+)?)$/.exec(norm);
  if (m) {
    const d = Number(m[2]);
    return d === 0 ? null : Number(m[1]) / d;
  }
  return null;
}

/** Whether a predicted answer matches the reference. */
export function answersMatch(predicted: string | null, reference: string): boolean {
  if (predicted === null) return false;
  const p = normalizeAnswer(predicted);
  const r = normalizeAnswer(reference);
  if (p === r) return true;
  const a = answerNumber(p);
  const b = answerNumber(r);
  if (a === null || b === null) return false;
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}
