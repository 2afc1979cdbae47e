/**
 * Finds the file a bare package specifier names, for ESM-only packages that `require.resolve` cannot
 * see (their "exports" lack a "require" condition). Follows node_modules lookup from a directory and
 * the package.json "exports" map with the conditions node, import, default.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const CONDITIONS = ["node", "import", "default"];

type Exports = string | null | Exports[] | { [key: string]: Exports };

function splitSpecifier(spec: string): { name: string; subpath: string } {
  const parts = spec.split("/");
  const n = spec.startsWith("@") ? 2 : 1;
  return { name: parts.slice(0, n).join("/"), subpath: parts.length > n ? `./${parts.slice(n).join("/")}` : "." };
}

function resolveTarget(target: Exports, star: string | undefined): string | undefined {
  if (typeof target === "string") return star === undefined ? target : target.split("*").join(star);
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t, star);
      if (r) return r;
    }
    return undefined;
  }
  if (target && typeof target === "object") {
    for (const [cond, t] of Object.entries(target)) {
      if (CONDITIONS.includes(cond)) {
        const r = resolveTarget(t, star);
        if (r) return r;
      }
    }
  }
  return undefined;
}

function resolveExports(exports: Exports, subpath: string): string | undefined {
  const isSubpathMap = exports !== null && typeof exports === "object" && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith("."));
  if (!isSubpathMap) return subpath === "." ? resolveTarget(exports, undefined) : undefined;
  const map = exports as Record<string, Exports>;
  if (subpath in map) return resolveTarget(map[subpath]!, undefined);
  for (const [key, target] of Object.entries(map)) {
    const star = key.indexOf("*");
    if (star < 0) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
      return resolveTarget(target, subpath.slice(prefix.length, subpath.length - suffix.length));
    }
  }
  return undefined;
}

/** The absolute file for `spec` seen from directory `from`, or undefined. */
export function resolvePackage(spec: string, from: string): string | undefined {
  const { name, subpath } = splitSpecifier(spec);
  for (let dir = from; ; dir = dirname(dir)) {
    const pkgDir = join(dir, "node_modules", name);
    const pkgFile = join(pkgDir, "package.json");
    if (existsSync(pkgFile)) {
      let pkg: { exports?: Exports; module?: string; main?: string };
      try {
        pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as typeof pkg;
      } catch {
        return undefined;
      }
      if (pkg.exports !== undefined) {
        const target = resolveExports(pkg.exports, subpath);
        return target ? join(pkgDir, target) : undefined;
      }
      if (subpath !== ".") return join(pkgDir, subpath);
      return join(pkgDir, pkg.module ?? pkg.main ?? "index.js");
    }
    if (dirname(dir) === dir) return undefined;
  }
}
