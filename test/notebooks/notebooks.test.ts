// Every product notebook (scripts/run_notebooks.py --product) executes headlessly (Debian's nbclient, the installed mixdistill kernelspec)
// with its small test parameters, with no error output; notebook 1's recomputed gaps match the paper's
// accuracies; a second execution with the same parameters gives the same numbers and byte-identical exports.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const notebooksDir = join(root, "notebooks");
const runner = join(root, "scripts", "run_notebooks.py");
/** The notebooks that ship with mixdistill, as the runner lists them (not whatever else is in the folder). */
const notebooks = spawnSync("/usr/bin/python3", [runner, "--product", "--list"], { encoding: "utf8" })
  .stdout.trim().split("\n").filter(Boolean).map((p) => basename(p));

interface Summary {
  notebook: string;
  status: string;
  message: string;
  executed: string;
  html: string | null;
}
interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  text?: string | string[];
  ename?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: { tags?: string[] };
  outputs?: Output[];
}

let work: string;
let env: NodeJS.ProcessEnv;

function execute(run: string): Summary[] {
  const out = join(work, run);
  const args = [
    runner, "--product", "--out", out, "--small", "--timeout", "600",
    // Fresh study store and export folder per run, so the second run recomputes everything.
    "-p", `store=${JSON.stringify(join(work, run, "store"))}`,
    "-p", `outDir=${JSON.stringify(join(work, run, "mixes"))}`,
  ];
  // Under the usual umask, so the reports' permissions can be checked against it.
  const r = spawnSync("/bin/sh", ["-c", 'umask 022 && exec /usr/bin/python3 "$@"', "sh", ...args], { env, encoding: "utf8", timeout: 900_000 });
  if (r.status !== 0) throw new Error(`run_notebooks.py exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary[];
}

function cells(path: string): Cell[] {
  return (JSON.parse(readFileSync(path, "utf8")) as { cells: Cell[] }).cells;
}

/** The JSON output of the cell tagged `key-numbers`. */
function keyNumbers(path: string): Record<string, unknown> {
  const cell = cells(path).find((c) => c.metadata.tags?.includes("key-numbers"));
  if (!cell) throw new Error(`${path}: no cell tagged key-numbers`);
  const out = cell.outputs?.find((o) => o.data?.["application/json"] !== undefined);
  if (!out) throw new Error(`${path}: the key-numbers cell has no JSON output`);
  return out.data!["application/json"] as Record<string, unknown>;
}

function filesUnder(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else m.set(relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  if (existsSync(dir)) walk(dir);
  return m;
}

let first: Summary[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "mixdistill-notebooks-"));
  const prefix = join(work, "prefix");
  const install = spawnSync(process.execPath, [join(root, "bin", "mixdistill.js"), "install", "--prefix", prefix], { encoding: "utf8" });
  if (install.status !== 0) throw new Error(`mixdistill install failed: ${install.stderr}`);
  env = { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter"), PYDEVD_DISABLE_FILE_VALIDATION: "1" };
  first = execute("run1");
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("notebooks", () => {
  it("has the four notebooks users open first, each with a parameters cell and small test settings", () => {
    expect(notebooks.length).toBeGreaterThanOrEqual(4);
    for (const n of notebooks) {
      const nb = JSON.parse(readFileSync(join(notebooksDir, n), "utf8"));
      expect(nb.metadata.kernelspec.name, n).toBe("mixdistill");
      expect((nb.cells as Cell[]).some((c) => c.metadata.tags?.includes("parameters")), n).toBe(true);
      expect(nb.metadata.mixdistill?.test_parameters, n).toBeTypeOf("object");
      // Committed notebooks carry no outputs: numbers come from executing them.
      expect((nb.cells as Cell[]).every((c) => !c.outputs || c.outputs.length === 0), n).toBe(true);
    }
  });

  it("npm run notebooks runs the product notebooks only, not other notebooks saved in notebooks/", () => {
    const script = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.notebooks!;
    expect(script).toContain("run_notebooks.py --product");
    expect(script).not.toMatch(/\*\.ipynb/);
    expect(notebooks).toEqual(["01-paper-learnability-gap.ipynb", "02-building-mixes.ipynb", "03-toy-gap-study.ipynb", "04-importing-real-runs.ipynb"]);
    expect(first.map((s) => basename(s.notebook))).toEqual(notebooks);
  });

  it("each notebook's introduction states its run time with a figure", () => {
    for (const n of notebooks) {
      const intro = (JSON.parse(readFileSync(join(notebooksDir, n), "utf8")) as { cells: Cell[] }).cells
        .filter((c) => c.cell_type === "markdown").map((c) => [c.source].flat().join("")).join("\n");
      const stated = /\*\*Run time:\*\*\s*([^.]*)/.exec(intro)?.[1];
      expect(stated, `${n}: no "**Run time:**" sentence`).toBeDefined();
      // A quantity before the unit: "about 10 seconds", "a few seconds", "half a minute", not "seconds".
      expect(stated, n).toMatch(/(\d|\b(a few|half an?|one|two|three|five|ten|twenty|thirty)\b)[^,;]*\b(seconds?|minutes?|hours?)\b/);
    }
  });

  it("writes reports readable by group and others (the umask's mode), with no temporary files left", () => {
    const out = join(work, "run1");
    const files = readdirSync(out).filter((f) => /\.(html|ipynb|json)$/.test(f));
    expect(files).toContain("summary.json");
    expect(files.filter((f) => f.endsWith(".html")).length).toBe(notebooks.length);
    for (const f of files) expect((statSync(join(out, f)).mode & 0o777).toString(8), f).toBe("644");
    expect(readdirSync(out).filter((f) => f.startsWith(".tmp-"))).toEqual([]);
  });

  it("executes every notebook with no error output", () => {
    expect(first.map((s) => [s.notebook.split("/").pop(), s.status, s.message])).toEqual(
      notebooks.map((n) => [n, "ok", ""]),
    );
    for (const s of first) {
      for (const c of cells(s.executed)) for (const o of c.outputs ?? []) expect(o.output_type, s.notebook).not.toBe("error");
    }
  });

  it("notebook 1 recomputes every Table 1 and 2 gap from the paper's accuracies", () => {
    const nb1 = first.find((s) => s.notebook.includes("01-"))!;
    const k = keyNumbers(nb1.executed) as { table1: Record<string, number>; table2: Record<string, number>; checks: Record<string, number> };
    const shared = join(root, "..", "shared", "reference", "paper_tables.json");
    const paper = existsSync(shared) ? JSON.parse(readFileSync(shared, "utf8")) : undefined;
    if (paper) {
      for (const r of paper.table1_long_vs_short_cot_average.rows) expect(k.table1[r.student], r.student).toBeCloseTo(r.P_Long - r.P_Short, 6);
      for (const r of paper.table2_large_vs_small_teacher_average.rows) expect(k.table2[r.student], r.student).toBeCloseTo(r.P_Large - r.P_Small, 6);
      expect(Object.keys(k.table1).length).toBe(paper.table1_long_vs_short_cot_average.rows.length);
    }
    // The paper's finding, in its own numbers: negative for the smallest students, positive for the largest.
    expect(k.table1["Qwen2.5-0.5B-Instruct"]).toBeCloseTo(-4.7, 6);
    expect(k.table1["Qwen2.5-32B-Instruct"]).toBeCloseTo(13.7, 6);
    expect(k.checks.inconsistent).toBe(1);
  });

  it("notebook 2 exports with the mixer's options, explains the merged duplicates, shows a bar on its slow cell, and gives a TRL command for a local JSONL", () => {
    const nb2 = first.find((s) => s.notebook.includes("02-"))!;
    const executed = cells(nb2.executed);
    const text = (c: Cell) => (c.outputs ?? []).filter((o) => o.output_type === "stream").map((o) => [o.text ?? ""].flat().join("")).join("");
    const all = executed.map(text).join("\n");
    // "N generated questions join to M: K repeat ..." with N - M = K and K the sum of one source's duplicates.
    const m = /([\d,]+) generated questions join to ([\d,]+): ([\d,]+) repeat an earlier question's text.*duplicates per source file: (\{[^}]*\})/.exec(all);
    expect(m, "the join's explanation").not.toBeNull();
    const [generatedN, joinedN, mergedN] = [m![1], m![2], m![3]].map((x) => Number(x!.replace(/,/g, "")));
    expect(generatedN! - joinedN!).toBe(mergedN);
    expect(Object.values(JSON.parse(m![4]!) as Record<string, number>)).toContain(mergedN);
    // The export's strategy, seed and weights are the mixer's (the slider's weight at its initial 0.2 here).
    const mixer = /weights now: \[ ([\d.]+), ([\d.]+) \] strategy: (\S+)/.exec(all);
    expect(mixer, "the mixer's state line").not.toBeNull();
    const built = /mix-long: (\S+), seed (\d+), weights \[([\d.]+),([\d.]+)\]/.exec(all);
    expect(built, "the mix-long build line").not.toBeNull();
    expect(built![1]).toBe(mixer![3]);
    expect([Number(built![3]), Number(built![4])]).toEqual([Number(mixer![1]), Number(mixer![2])]);
    expect(Number(built![2])).toBe(0);
    // The tokenizer cell shows a progress bar that ends done.
    const bars = executed.flatMap((c) => c.outputs ?? []).filter((o) => String(o.data?.["text/html"] ?? "").includes("mixdistill-progress"));
    expect(bars.length).toBeGreaterThan(0);
    expect(String(bars[0]!.data!["text/plain"])).toMatch(/^tokens 100%.* done$/);
    // TRL's sft.py: dataset_config is load_dataset's configuration name; a local file goes in the config's datasets list.
    const md = (JSON.parse(readFileSync(join(notebooksDir, "02-building-mixes.ipynb"), "utf8")) as { cells: Cell[] }).cells.map((c) => [c.source].flat().join("")).join("\n");
    const trl = md.slice(md.indexOf("# TRL"));
    expect(trl).not.toMatch(/--dataset_config\s+\S+\.jsonl/);
    expect(trl).toMatch(/datasets:\n {2}- path: json\n {4}data_files: out\/mixes\/mix-long\/trl-messages\/mix-long\.jsonl/);
    expect(trl).toMatch(/-m trl\.scripts\.sft --config mix_long_trl\.yaml/);
    expect(existsSync(join(work, "run1", "mixes", "mix-long", "trl-messages", "mix-long.jsonl"))).toBe(true);
  });

  it("notebook 3 runs a study at its test settings that measures something (non-zero accuracy for some variant)", () => {
    const nb3 = first.find((s) => s.notebook.includes("03-"))!;
    const k = keyNumbers(nb3.executed) as { runs: number; maxAccuracyByVariant: Record<string, number> };
    expect(k.runs).toBeGreaterThan(0);
    expect(Math.max(...Object.values(k.maxAccuracyByVariant))).toBeGreaterThan(0);
  });

  it("executed notebooks carry no plotly.js (notebook 01 with all its outputs stays under 300 KB)", () => {
    for (const s of first) {
      const text = readFileSync(s.executed, "utf8");
      expect(text.match(/plotly\.js v\d+\.\d+\.\d+/g) ?? [], s.notebook).toEqual([]);
    }
    const nb1 = first.find((s) => s.notebook.includes("01-"))!;
    expect(statSync(nb1.executed).size).toBeLessThan(300 * 1024);
  });

  it("exports HTML reports whose plots draw offline (plotly.js added once by the mixdistill template)", () => {
    for (const s of first) {
      const html = readFileSync(s.html!, "utf8");
      expect(html, s.notebook).not.toMatch(/<script[^>]+src=/);
      const plots = cells(s.executed).some((c) => (c.outputs ?? []).some((o) => o.data?.["application/vnd.mixdistill.plot.v1+json"] !== undefined));
      // plotly.js's own banner: the library is in the page exactly once however many plots there are, and
      // not at all in a report without plots.
      expect(html.match(/plotly\.js v\d+\.\d+\.\d+/g)?.length ?? 0, s.notebook).toBe(plots ? 1 : 0);
    }
    const nb1 = readFileSync(first.find((s) => s.notebook.includes("01-"))!.html!, "utf8");
    expect(nb1.match(/window\.Plotly/g)?.length ?? 0).toBeGreaterThan(6);
  });

  it("a second execution with the same parameters gives the same numbers and byte-identical exports", () => {
    const second = execute("run2");
    expect(second.every((s) => s.status === "ok")).toBe(true);
    for (const [i, s] of first.entries()) {
      expect(keyNumbers(second[i]!.executed), s.notebook).toEqual(keyNumbers(s.executed));
    }
    const a = filesUnder(join(work, "run1", "mixes"));
    const b = filesUnder(join(work, "run2", "mixes"));
    expect(a.size).toBeGreaterThan(0);
    // Manifests name their own source paths, which differ between the runs' folders; data files must not.
    const data = (m: Map<string, string>) => [...m].filter(([p]) => p.endsWith(".jsonl") || p.endsWith("dataset_info.json")).sort();
    expect(data(b)).toEqual(data(a));
  }, 900_000);
});
