import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportClusterStudy, importClusterResults, planClusterStudy, toYaml } from "../../src/experiment/cluster.js";

// Field names of LLaMA-Factory's argument classes (hparams/data_args.py DataArguments, model_args.py
// ModelArguments, finetuning_args.py FinetuningArguments) and of transformers' Seq2SeqTrainingArguments
// that the exported YAML may use.
const LLAMAFACTORY_FIELDS = new Set([
  // DataArguments
  "template", "dataset", "eval_dataset", "dataset_dir", "cutoff_len", "mix_strategy", "interleave_probs", "overwrite_cache",
  "preprocessing_num_workers", "max_samples", "val_size", "packing", "neat_packing",
  // ModelArguments
  "model_name_or_path", "flash_attn",
  // FinetuningArguments
  "stage", "finetuning_type", "plot_loss",
  // Seq2SeqTrainingArguments
  "do_train", "output_dir", "overwrite_output_dir", "deepspeed", "per_device_train_batch_size", "gradient_accumulation_steps",
  "learning_rate", "num_train_epochs", "lr_scheduler_type", "warmup_ratio", "bf16", "logging_steps", "save_steps", "ddp_timeout", "seed",
]);

function pyYaml(text: string): Record<string, unknown> {
  const r = spawnSync("/usr/bin/python3", ["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"], { input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const study = {
  students: ["Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-3B-Instruct"],
  variants: [
    { name: "long", datasetDir: "/data/long", dataset: "long" },
    { name: "short", datasetDir: "/data/short", dataset: "short" },
    { name: "mix-long", datasetDir: "/data/mix", dataset: "mix", cutoffLen: 4096 },
  ],
  seeds: [1, 2],
  tasks: ["gsm8k"],
};

describe("the study exported to the cluster", () => {
  it("writes one LLaMA-Factory YAML per cell with the paper's hyperparameters and only known fields", () => {
    const { cells, files } = planClusterStudy(study);
    expect(cells).toHaveLength(12);
    const c = cells.find((x) => x.student === "Qwen/Qwen2.5-3B-Instruct" && x.variant === "mix-long" && x.seed === 2)!;
    const y = pyYaml(files[c.config]!);
    for (const k of Object.keys(y)) expect(LLAMAFACTORY_FIELDS.has(k), `unknown LLaMA-Factory field ${k}`).toBe(true);
    expect(y).toMatchObject({
      model_name_or_path: "Qwen/Qwen2.5-3B-Instruct",
      stage: "sft",
      finetuning_type: "full",
      learning_rate: 1e-5,
      num_train_epochs: 2,
      lr_scheduler_type: "cosine",
      bf16: true,
      dataset: "mix",
      dataset_dir: "/data/mix",
      template: "qwen",
      cutoff_len: 4096,
      seed: 2,
      output_dir: c.outputDir,
    });
    expect(typeof y.learning_rate).toBe("number"); // PyYAML reads 1.0e-05 as a float, not a string
    expect(pyYaml(files[cells[0]!.config]!).cutoff_len).toBe(8192);
    expect(c.evalCommand).toMatch(/^lm_eval --model hf --model_args 'pretrained=checkpoints\/qwen2\.5-3b-instruct-mix-long\/seed2,dtype=bfloat16' --tasks gsm8k .*--log_samples --output_path 'results\/qwen2\.5-3b-instruct-mix-long\/seed2'$/);
    expect(toYaml({ a: "yes", b: "1.5", c: 0.1, d: "Qwen/Qwen2.5" })).toBe('a: "yes"\nb: "1.5"\nc: 1.0e-1\nd: Qwen/Qwen2.5\n');
  });

  it("writes launchers that bash -n accepts: torchrun per cell, a SLURM job array over the cells", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cluster-"));
    const cells = await exportClusterStudy(study, dir);
    for (const f of ["run_cell.sh", "run_all.sh", "slurm.sbatch"]) {
      const r = spawnSync("bash", ["-n", join(dir, f)], { encoding: "utf8" });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
    const cell = readFileSync(join(dir, "run_cell.sh"), "utf8");
    expect(cell).toContain('FORCE_TORCHRUN=1 llamafactory-cli train "$config"');
    expect(cell).toContain(cells[5]!.evalCommand);
    expect(readFileSync(join(dir, "slurm.sbatch"), "utf8")).toContain(`#SBATCH --array=0-${cells.length - 1}`);
    expect(readFileSync(join(dir, "cells.tsv"), "utf8").trim().split("\n")).toHaveLength(cells.length);
  });

  it("imports the cells' lm-eval results into a ResultSet keyed by the same cells", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cluster-rt-"));
    const cells = await exportClusterStudy(study, dir);
    const stamp = "2026-12-01T12-00-00.5";
    cells.forEach((c, i) => {
      const d = join(dir, c.resultsDir, c.outputDir.replace(/\//g, "__"));
      mkdirSync(d, { recursive: true });
      const ok = (doc: number) => (doc + i) % 3 !== 0;
      const samples = Array.from({ length: 30 }, (_, doc) => JSON.stringify({ doc_id: doc, target: "1", resps: [["1"]], filtered_resps: ["1"], filter: "none", metrics: ["exact_match"], exact_match: ok(doc) ? 1 : 0 }));
      writeFileSync(join(d, `samples_gsm8k_${stamp}.jsonl`), samples.join("\n") + "\n");
      const k = Array.from({ length: 30 }, (_, doc) => ok(doc)).filter(Boolean).length;
      writeFileSync(join(d, `results_${stamp}.json`), JSON.stringify({ results: { gsm8k: { "exact_match,none": k / 30 } }, config: { model_args: `pretrained=${c.outputDir}` } }));
    });
    const rs = importClusterResults(dir);
    expect(rs.rows).toHaveLength(cells.length);
    const keys = (xs: Array<{ student: string; variant: string; seed?: number }>) => xs.map((x) => `${x.student}|${x.variant}|${x.seed}`).sort();
    expect(keys([...rs.rows])).toEqual(keys(cells));
    expect(rs.rows.every((r) => r.examples?.length === 30)).toBe(true);
    expect(rs.variants().sort()).toEqual(["long", "mix-long", "short"]);
  });
});
