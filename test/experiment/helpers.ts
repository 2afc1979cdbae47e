import { build } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");

const made: string[] = [];

export function tempDir(prefix = "mixdistill-exp-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Removes the directories this test file made (call from afterAll). */
export function cleanup(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh directory inside the repository (so bundles resolve node_modules), under the ignored .cache/. */
export function bundleDir(): string {
  const base = join(root, ".cache", "test-bundles");
  mkdirSync(base, { recursive: true });
  const d = mkdtempSync(join(base, "b-"));
  made.push(d);
  return d;
}

/** Bundles a TypeScript entry (packages external) to an .mjs file that plain node can run. */
export async function bundle(entry: string, outDir: string, name: string): Promise<string> {
  const outfile = join(outDir, `${name}.mjs`);
  await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "warning" });
  return outfile;
}

export const fakeRunModule = join(here, "fixtures", "fake-run.mjs");
export const workerEntry = join(root, "src", "experiment", "worker.ts");
