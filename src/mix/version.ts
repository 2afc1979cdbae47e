import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: { name: string; version: string } | undefined;

/** Name and version from the package.json of this package (found upward from this module). */
export function toolInfo(): { name: string; version: string } {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, "package.json");
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "mixdistill") return (cached = { name: pkg.name, version: pkg.version ?? "0.0.0" });
    }
    dir = dirname(dir);
  }
  return (cached = { name: "mixdistill", version: "unknown" });
}
