/** A problem with one line (or one field) of an input file, located for the user. */
export interface DataLocation {
  file: string;
  /** 1-based line number; 0 when the problem is not tied to a line. */
  line: number;
  /** Dotted path of the offending field ("responses.long"), or "" for the whole line. */
  field: string;
}

export function formatLocation(loc: DataLocation): string {
  const at = loc.line > 0 ? `${loc.file}:${loc.line}` : loc.file;
  return loc.field ? `${at}: field "${loc.field}"` : at;
}

/** A data error (exit code 1 in the CLI): names file, line and field. */
export class CorpusError extends Error implements DataLocation {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly reason: string;
  constructor(loc: DataLocation, reason: string) {
    super(`${formatLocation(loc)}: ${reason}`);
    this.name = "CorpusError";
    this.file = loc.file;
    this.line = loc.line;
    this.field = loc.field;
    this.reason = reason;
  }
}

/** One skipped line, as reported under the `skip` error policy. */
export interface SkippedLine extends DataLocation {
  reason: string;
}

/** One skipped line as `file:line: field: reason`, as the CLI prints it. */
export function formatSkipped(s: SkippedLine): string {
  return `${formatLocation(s)}: ${s.reason}`;
}
