/** A notebook of TypeScript cells executed headlessly by Debian's nbclient with the installed kernelspec. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./client.js";

/** nbformat stores multi-line strings as lists of lines. */
const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : String(v));
const cell = (source: string) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source });

const RUN = `
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="mixdistill", timeout=60, resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
`;

const haveNbclient = existsSync("/usr/lib/python3/dist-packages/nbclient");

describe("notebook execution through nbclient", () => {
  it.skipIf(!haveNbclient)("runs several TypeScript cells and keeps their outputs", () => {
    const dir = mkdtempSync(join(tmpdir(), "mdk-nb-"));
    const install = spawnSync(process.execPath, [join(REPO, "bin", "mixdistill.js"), "install", "--prefix", join(dir, "prefix")], { encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "mixdistill", display_name: "TypeScript (mixdistill)", language: "typescript" } },
      cells: [
        cell('const xs: number[] = [1, 2, 3];\nconsole.log("sum", xs.reduce((a, b) => a + b, 0));'),
        cell('import { MIXER_MIME } from "mixdistill";\nMIXER_MIME'),
        cell('display(html("<b>bold</b>"));\nconst bar = progress({ total: 2, label: "steps" });\nbar.update(1);\nbar.done();'),
        cell('interface Point { x: number; y: number }\nconst p: Point = { x: 3, y: 4 };\nMath.hypot(p.x, p.y)'),
        cell("await new Promise((r) => setTimeout(r, 10));\nxs.map((x) => x * 2)"),
      ].map((c, i) => ({ ...c, id: `cell-${i}` })),
    };
    const input = join(dir, "in.ipynb");
    const output = join(dir, "out.ipynb");
    writeFileSync(input, JSON.stringify(nb));
    writeFileSync(join(dir, "run.py"), RUN);
    const env = { ...process.env, JUPYTER_PATH: join(dir, "prefix", "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(dir, "runtime"), JUPYTER_PLATFORM_DIRS: "1" };
    const r = spawnSync("/usr/bin/python3", [join(dir, "run.py"), input, output, dir], { env, encoding: "utf8", timeout: 120_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const done = JSON.parse(readFileSync(output, "utf8")) as { cells: Array<{ execution_count: number; outputs: Array<Record<string, any>> }> };
    const [c1, c2, c3, c4, c5] = done.cells;
    expect(done.cells.map((c) => c.execution_count)).toEqual([1, 2, 3, 4, 5]);
    expect(c1!.outputs.map((o) => [o.output_type, o.name, text(o.text)])).toEqual([["stream", "stdout", "sum 6\n"]]);
    expect(text(c2!.outputs[0]!.data["text/plain"])).toBe("'application/vnd.mixdistill.mixer.v1+json'");
    expect(text(c3!.outputs[0]!.data["text/html"])).toBe("<b>bold</b>");
    // nbclient applies update_display_data in place: the bar's one output shows the final state.
    const bars = c3!.outputs.filter((o) => text(o.data?.["text/plain"] ?? "").startsWith("steps"));
    expect(bars.length).toBe(1);
    expect(text(bars[0]!.data["text/plain"])).toContain("2/2");
    expect(text(c4!.outputs[0]!.data["text/plain"])).toBe("5");
    expect(text(c5!.outputs[0]!.data["text/plain"])).toBe("[ 2, 4, 6 ]");
  }, 150_000);
});
