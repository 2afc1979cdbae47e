/** Messages between the kernel and its TypeScript language-service thread. */

export interface CompletionResult {
  matches: string[];
  /** UTF-16 offsets in the cell. */
  start: number;
  end: number;
  types: Array<{ start: number; end: number; text: string; type: string; signature: string }>;
}

/** One type error in a cell (1-based line and column). */
export interface CellDiagnostic {
  code: number;
  line?: number;
  column?: number;
  message: string;
}

export type IntelRequest =
  | { id: number; type: "check"; code: string }
  | { id: number; type: "complete"; code: string; cursor: number }
  | { id: number; type: "inspect"; code: string; cursor: number; detail: number }
  | { id: number; type: "record"; code: string; filename: string }
  | { id: number; type: "globals"; names: string[] };

export type IntelResponse =
  | { type: "ready"; ms: number }
  | { type: "failed"; error: string }
  | { id: number; type: "check"; diagnostics: CellDiagnostic[] }
  | { id: number; type: "complete"; result: CompletionResult }
  | { id: number; type: "inspect"; data: Record<string, string> | null }
  | { id: number; type: "error"; error: string };

export interface IntelWorkerData {
  cwd: string;
  packageRoot: string;
}
