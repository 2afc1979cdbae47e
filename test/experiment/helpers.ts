import { build } from "esbuild";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");

export function tempDir(prefix = "mixdistill-exp-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A fresh directory inside the repository (so bundles resolve node_modules), under the ignored .cache/. */
export function bundleDir(): string {
  const base = join(root, ".cache", "test-bundles");
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, "b-"));
}

/** Bundles a TypeScript entry (packages external) to an .mjs file that plain node can run. */
export async function bundle(entry: string, outDir: string, name: string): Promise<string> {
  const outfile = join(outDir, `${name}.mjs`);
  await build({ entryPoints: [entry], outfile, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "warning" });
  return outfile;
}

export const fakeRunModule = join(here, "fixtures", "fake-run.mjs");
export const workerEntry = join(root, "src", "experiment", "worker.ts");
