/**
 * Reasoning traces in the R1 / QwQ / Qwen3 form: the response holds `<think>reasoning</think>answer`.
 * R1-style generations often lack the opening tag (the chat template writes it), so a response with
 * a closing `</think>` and no opening one is read the same way.
 */
export interface ReasoningParts {
  /** The text inside the think block, trimmed; undefined when the response has none. */
  reasoning?: string;
  /** What follows the think block (the whole response when there is none), trimmed. */
  answer: string;
}

const OPEN = "<think>";
const CLOSE = "</think>";

/** True when the response carries a think tag (a well-formed block, or a malformed one splitReasoning rejects). */
export function hasReasoning(response: string): boolean {
  return response.includes(CLOSE) || response.includes(OPEN);
}

/**
 * Splits a response into reasoning and answer. Throws on a malformed block (an opening tag
 * without a closing one, or two think blocks), naming the problem so the caller can locate it.
 */
export function splitReasoning(response: string): ReasoningParts {
  const close = response.indexOf(CLOSE);
  const open = response.indexOf(OPEN);
  if (close < 0) {
    if (open >= 0) throw new Error("<think> is never closed by </think>");
    return { answer: response.trim() };
  }
  if (open > close) throw new Error("</think> comes before <think>");
  if (response.indexOf(CLOSE, close + CLOSE.length) >= 0 || (open >= 0 && response.indexOf(OPEN, open + OPEN.length) >= 0))
    throw new Error("more than one think block");
  const before = open >= 0 ? response.slice(0, open) : "";
  if (before.trim() !== "") throw new Error("text before <think>");
  const reasoning = response.slice(open >= 0 ? open + OPEN.length : 0, close).trim();
  return { reasoning, answer: response.slice(close + CLOSE.length).trim() };
}

/** The canonical single-string form trainers' reasoning templates expect: `<think>\nR\n</think>\n\nA`. */
export function joinReasoning(parts: ReasoningParts): string {
  if (parts.reasoning === undefined) return parts.answer;
  return `${OPEN}\n${parts.reasoning}\n${CLOSE}\n\n${parts.answer}`;
}
