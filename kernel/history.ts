/** The execution history of this kernel session: tail, range and glob search, as history_request asks. */

export interface HistoryEntry {
  line: number;
  input: string;
  /** text/plain of the execute_result, if there was one. */
  output: string | null;
}

/** The only session this kernel keeps; `0` in a request also means "the current session". */
export const CURRENT_SESSION = 1;

export type HistoryRow = [number, number, string] | [number, number, [string, string | null]];

export interface HistoryQuery {
  hist_access_type: "tail" | "range" | "search";
  output: boolean;
  n?: number;
  session?: number;
  start?: number;
  stop?: number;
  pattern?: string;
  unique?: boolean;
}

/** Glob (`*`, `?`, `[...]`) to an anchored regular expression, as IPython's sqlite GLOB matches. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end > i + 1) {
        const body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        re += `[${body.startsWith("!") ? "^" + body.slice(1) : body}]`;
        i = end;
      } else re += "\\[";
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export class History {
  private readonly entries: HistoryEntry[] = [];

  add(entry: HistoryEntry): void {
    this.entries.push(entry);
  }

  setOutput(line: number, output: string): void {
    const e = this.entries.findLast((x) => x.line === line);
    if (e) e.output = output;
  }

  query(q: HistoryQuery): HistoryRow[] {
    let rows: HistoryEntry[];
    switch (q.hist_access_type) {
      case "tail":
        rows = q.n === undefined ? this.entries.slice() : q.n <= 0 ? [] : this.entries.slice(-q.n);
        break;
      case "range": {
        const session = q.session ?? 0;
        if (session !== 0 && session !== CURRENT_SESSION) return [];
        const start = q.start ?? 1;
        const stop = q.stop ?? Number.POSITIVE_INFINITY;
        rows = this.entries.filter((e) => e.line >= start && e.line < stop);
        break;
      }
      case "search": {
        const re = globToRegExp(q.pattern ?? "*");
        rows = this.entries.filter((e) => re.test(e.input));
        if (q.unique) {
          const seen = new Set<string>();
          const kept: HistoryEntry[] = [];
          for (let i = rows.length - 1; i >= 0; i--) {
            if (!seen.has(rows[i]!.input)) {
              seen.add(rows[i]!.input);
              kept.unshift(rows[i]!);
            }
          }
          rows = kept;
        }
        if (q.n !== undefined && q.n > 0) rows = rows.slice(-q.n);
        break;
      }
    }
    return rows.map((e) => (q.output ? [CURRENT_SESSION, e.line, [e.input, e.output]] : [CURRENT_SESSION, e.line, e.input]));
  }
}
