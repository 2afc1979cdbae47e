/** Content hashes that key the results store: canonical JSON (sorted keys) through sha256. */
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every level, so equal values always serialise the same. */
export function canonicalJson(x: unknown): string {
  if (x === null || typeof x !== "object") {
    if (typeof x === "number" && !Number.isFinite(x)) throw new Error(`canonicalJson: cannot encode ${x}`);
    if (x === undefined) return "null";
    return JSON.stringify(x);
  }
  if (Array.isArray(x)) return `[${x.map((v) => canonicalJson(v)).join(",")}]`;
  const entries = Object.entries(x as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** sha256 of a value's canonical JSON. */
export function hashOf(x: unknown): string {
  return sha256Hex(canonicalJson(x));
}
