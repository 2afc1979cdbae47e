import { join } from "node:path";
import { writeFileAtomic } from "../data/atomic.js";
import type { MixManifest } from "./mix.js";

/** Writes NAME.manifest.json next to the exported data (atomic). Returns its path. */
export async function writeManifest(dir: string, name: string, manifest: MixManifest): Promise<string> {
  const path = join(dir, `${name}.manifest.json`);
  await writeFileAtomic(path, JSON.stringify(manifest, null, 2) + "\n");
  return path;
}
