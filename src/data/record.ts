/** One question of a reasoning corpus with the responses of each teacher style (DESIGN.md). */
export interface CorpusRecord {
  id: string;
  question: string;
  /** The reference final answer (as it would appear inside \boxed{}). */
  answer: string;
  /** Difficulty level, 1 (easiest) to 5. */
  level?: number;
  /** Task family or subject, e.g. "arithmetic". */
  subject?: string;
  /** Responses keyed by source name: "long", "short", "large", "small", "pad", ... */
  responses: Record<string, string>;
}
