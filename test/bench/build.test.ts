// Every benchmark bundles as `npm run bench -- NAME` bundles it and type-checks: a bench that imports a
// module or a name the library no longer has, or whose code is out of place (top-level code that would
// run in every worker process it spawns), fails here, not the first time someone runs it.
import { describe, expect, it } from "vitest";
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const benches = readdirSync(join(root, "bench")).filter((f) => f.endsWith(".ts"));

describe("benchmarks", () => {
  it("are all found", () => {
    expect(benches).toEqual(expect.arrayContaining(["train.ts", "mix.ts", "kernel.ts", "gap-study.ts"]));
  });
  it("type-check (tsconfig.bench.json), with the test helpers they import", () => {
    const r = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.bench.json")], { encoding: "utf8", cwd: root });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);
  for (const f of benches) {
    it(`${f} bundles with every import resolved`, async () => {
      const r = await build({ entryPoints: [join(root, "bench", f)], bundle: true, write: false, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "silent" });
      expect(r.errors).toEqual([]);
      expect(r.outputFiles[0]!.text.length).toBeGreaterThan(0);
    });
  }
});
