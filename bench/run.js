#!/usr/bin/env node
// `npm run bench -- NAME [args]`: bundles bench/NAME.ts with esbuild (packages stay external) and runs it.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(join(root, "bench")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [args]\navailable: ${available.join(", ")}`);
  process.exit(2);
}
const outDir = join(root, ".cache", "bench");
if (!existsSync(outDir)) mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${name}.mjs`);
await build({
  entryPoints: [join(root, "bench", `${name}.ts`)],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "inline",
  logLevel: "warning",
});
const r = spawnSync(process.execPath, ["--enable-source-maps", outfile, ...args], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
