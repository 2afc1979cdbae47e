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

/** A package's name and "exports" map, read once per package root. */
const ownPackages = new Map<string, { name: string; exports: Exports }>();

/**
 * The file for `spec` (the package's own name, or name/subpath) through the "exports" map of the
 * package at `packageRoot`, as Node resolves a package importing itself. Throws for a subpath the
 * map does not export, naming it and the ones that are.
 */
export function resolveOwnExport(spec: string, packageRoot: string): string {
  let pkg = ownPackages.get(packageRoot);
  if (!pkg) {
    const parsed = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { name?: string; exports?: Exports };
    if (typeof parsed.name !== "string" || parsed.exports === undefined) throw new Error(`${join(packageRoot, "package.json")} has no name or no "exports" map`);
    pkg = { name: parsed.name, exports: parsed.exports };
    ownPackages.set(packageRoot, pkg);
  }
  const { name, subpath } = splitSpecifier(spec);
  if (name !== pkg.name) throw new Error(`cannot import "${spec}": not the package ${pkg.name}`);
  const target = resolveExports(pkg.exports, subpath);
  if (!target || !/\.[cm]?js$/.test(target)) {
    const known =
      pkg.exports !== null && typeof pkg.exports === "object" && !Array.isArray(pkg.exports)
        ? Object.keys(pkg.exports).filter((k) => k.startsWith(".") && !k.endsWith(".json")).map((k) => (k === "." ? pkg!.name : `${pkg!.name}/${k.slice(2)}`))
        : [pkg.name];
    throw new Error(`cannot import "${spec}": ${pkg.name} does not export "${subpath}" (it exports ${known.map((k) => `"${k}"`).join(", ")})`);
  }
  return join(packageRoot, target);
}

/**
 * The declaration file of every module the package at `packageRoot` exports, by import specifier
 * (`mixdistill`, `mixdistill/mix`, ...): the "types" condition of each "exports" entry.
 */
export function ownExportTypes(packageRoot: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { name?: string; exports?: Exports };
  const out: Record<string, string> = {};
  const map = pkg.exports;
  if (typeof pkg.name !== "string" || map === null || typeof map !== "object" || Array.isArray(map)) return out;
  for (const [key, target] of Object.entries(map)) {
    if (!key.startsWith(".") || key.includes("*")) continue;
    const types = target !== null && typeof target === "object" && !Array.isArray(target) ? target.types : undefined;
    if (typeof types === "string") out[key === "." ? pkg.name : `${pkg.name}/${key.slice(2)}`] = join(packageRoot, types);
  }
  return out;
}
