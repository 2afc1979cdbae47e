/** A small flag parser: `--name value`, `--name=value`, repeatable flags, boolean flags. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  /** Flags taking a value. */
  values: string[];
  /** Flags that may be given more than once (values collected in order). */
  repeat?: string[];
  /** Flags without a value. */
  booleans?: string[];
}

export interface ParsedArgs {
  positional: string[];
  values: Map<string, string[]>;
  booleans: Set<string>;
}

export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const out: ParsedArgs = { positional: [], values: new Map(), booleans: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "--") {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (spec.booleans?.includes(name) || name === "help") {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      out.booleans.add(name);
      continue;
    }
    if (!spec.values.includes(name)) throw new UsageError(`unknown option --${name}`);
    let v: string;
    if (eq > 0) v = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      v = argv[++i]!;
    }
    const list = out.values.get(name) ?? [];
    if (list.length > 0 && !spec.repeat?.includes(name)) throw new UsageError(`--${name} given more than once`);
    list.push(v);
    out.values.set(name, list);
  }
  return out;
}

export const one = (p: ParsedArgs, name: string): string | undefined => p.values.get(name)?.[0];

export function required(p: ParsedArgs, name: string): string {
  const v = one(p, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

export function intFlag(p: ParsedArgs, name: string, dflt?: number, min = 0): number {
  const v = one(p, name);
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`--${name} is required`);
    return dflt;
  }
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new UsageError(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function numberFlag(p: ParsedArgs, name: string): number | undefined {
  const v = one(p, name);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) throw new UsageError(`--${name}: expected a number, got ${JSON.stringify(v)}`);
  return x;
}

export function choiceFlag<T extends string>(p: ParsedArgs, name: string, choices: readonly T[], dflt?: T): T | undefined {
  const v = one(p, name);
  if (v === undefined) return dflt;
  if (!choices.includes(v as T)) throw new UsageError(`--${name}: expected one of ${choices.join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** "a=1,b=4" (or repeated flags) -> {a: 1, b: 4}. */
export function pairsFlag(p: ParsedArgs, name: string): Record<string, number> | undefined {
  const vs = p.values.get(name);
  if (!vs) return undefined;
  const out: Record<string, number> = {};
  for (const part of vs.flatMap((v) => v.split(","))) {
    const m = /^([^=]+)=(.+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--${name}: expected NAME=NUMBER[,NAME=NUMBER...], got ${JSON.stringify(part)}`);
    const x = Number(m[2]);
    if (!Number.isFinite(x) || x < 0) throw new UsageError(`--${name}: ${m[1]}: expected a non-negative number, got ${JSON.stringify(m[2])}`);
    out[m[1]!.trim()] = x;
  }
  return out;
}
