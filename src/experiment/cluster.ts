/**
 * A study exported for a GPU cluster: students (Hugging Face model names) x data variants
 * (LLaMA-Factory exports of mixes) x seeds, written as one LLaMA-Factory training YAML per cell,
 * a launcher for multi-GPU nodes (`FORCE_TORCHRUN=1 llamafactory-cli train`), a SLURM job-array
 * script over the cells, and the lm-evaluation-harness command per cell with `--log_samples`.
 * The evaluations land in `results/<student>-<variant>/seed<N>/`, the layout `importRuns` reads,
 * so importing the folder gives the ResultSet keyed by the same cells. Training and evaluation run
 * on those engines; nothing here trains.
 */
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../data/atomic.js";
import { readFileSync } from "node:fs";
import { importRuns } from "../gap/runs.js";
import { ImportError } from "../gap/import.js";
import type { ResultSet } from "../gap/results.js";

/** One data variant: a folder holding a LLaMA-Factory export (dataset_info.json) and its dataset name. */
export interface ClusterVariant {
  /** Variant name as the gap reports use it: "long", "short", "mix-long" (no hyphen-free rule needed: the run folder puts it last). */
  name: string;
  /** The folder with dataset_info.json (`mixdistill mix --format llamafactory --out DIR`). */
  datasetDir: string;
  /** The dataset's name in dataset_info.json. */
  dataset: string;
  /** cutoff_len for this variant (default the study's). */
  cutoffLen?: number;
}

/** The paper's full fine-tuning setup (Table 5 and the released YAMLs): lr 1e-5, 2 epochs, cosine, bf16, DeepSpeed ZeRO-3. */
export const PAPER_HYPERPARAMETERS = {
  stage: "sft",
  do_train: true,
  finetuning_type: "full",
  deepspeed: "examples/deepspeed/ds_z3_config.json",
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 1,
  learning_rate: 1.0e-5,
  num_train_epochs: 2,
  lr_scheduler_type: "cosine",
  warmup_ratio: 0.0,
  bf16: true,
  logging_steps: 10,
  save_steps: 1000,
  plot_loss: true,
  overwrite_output_dir: true,
  overwrite_cache: true,
  preprocessing_num_workers: 16,
  ddp_timeout: 180000000,
} as const;

export interface ClusterStudy {
  /** Hugging Face model names, e.g. "Qwen/Qwen2.5-0.5B-Instruct". */
  students: string[];
  variants: ClusterVariant[];
  seeds?: number[];
  /** LLaMA-Factory chat template (default "qwen", as the paper). */
  template?: string;
  /** cutoff_len (default 8192, the paper's long-CoT setting). */
  cutoffLen?: number;
  /** Overrides of PAPER_HYPERPARAMETERS (LLaMA-Factory / transformers argument names). */
  hyperparameters?: Record<string, string | number | boolean>;
  /** lm-evaluation-harness tasks (default gsm8k_cot_zeroshot, minerva_math). */
  tasks?: string[];
  /** GPUs per node for the SLURM script (default 4, as the paper). */
  gpusPerNode?: number;
}

/** One cell of the exported study. */
export interface ClusterCell {
  student: string;
  /** Folder-safe student name: the model name's last part, lower case ("qwen2.5-0.5b-instruct"). */
  studentSlug: string;
  variant: string;
  seed: number;
  /** Path of the YAML, relative to the study folder. */
  config: string;
  /** Checkpoint folder (output_dir), relative to the study folder. */
  outputDir: string;
  /** Evaluation folder (lm-eval --output_path), relative to the study folder. */
  resultsDir: string;
  /** The lm-evaluation-harness command line. */
  evalCommand: string;
}

export function studentSlug(model: string): string {
  const last = model.split("/").pop() ?? model;
  const s = last.toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
  if (!s) throw new Error(`student ${JSON.stringify(model)}: no usable name`);
  return s;
}

function yamlScalar(v: string | number | boolean): string {
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`YAML value ${v}: not a finite number`);
    if (Number.isInteger(v)) return String(v);
    // YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent: 1.0e-05, never 1e-5.
    const [m, e] = v.toExponential().split("e") as [string, string];
    return `${m.includes(".") ? m : `${m}.0`}e${e}`;
  }
  return /^[A-Za-z_/][A-Za-z0-9_./,-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v) ? v : JSON.stringify(v);
}

/** A flat YAML mapping (the form LLaMA-Factory's example configs use). */
export function toYaml(obj: Record<string, string | number | boolean>): string {
  return Object.entries(obj).map(([k, v]) => `${k}: ${yamlScalar(v)}`).join("\n") + "\n";
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The cells and the files of the exported study (not written). */
export function planClusterStudy(study: ClusterStudy): { cells: ClusterCell[]; files: Record<string, string> } {
  if (!study.students?.length) throw new Error("students: expected at least one Hugging Face model name");
  if (!study.variants?.length) throw new Error("variants: expected at least one exported mix");
  const seeds = study.seeds ?? [42];
  const tasks = study.tasks ?? ["gsm8k_cot_zeroshot", "minerva_math"];
  const names = new Set<string>();
  for (const v of study.variants) {
    if (!v.name || names.has(v.name)) throw new Error(`variants: missing or duplicate name ${JSON.stringify(v.name)}`);
    names.add(v.name);
  }
  const slugs = new Map<string, string>();
  for (const s of study.students) {
    const slug = studentSlug(s);
    if (slugs.has(slug)) throw new Error(`students ${slugs.get(slug)} and ${s} share the folder name ${slug}`);
    slugs.set(slug, s);
  }
  const cells: ClusterCell[] = [];
  const files: Record<string, string> = {};
  for (const student of study.students) {
    const slug = studentSlug(student);
    for (const v of study.variants) {
      for (const seed of seeds) {
        const cellName = `${slug}-${v.name}`;
        const config = `configs/${cellName}/seed${seed}.yaml`;
        const outputDir = `checkpoints/${cellName}/seed${seed}`;
        const resultsDir = `results/${cellName}/seed${seed}`;
        const yaml: Record<string, string | number | boolean> = {
          model_name_or_path: student,
          ...PAPER_HYPERPARAMETERS,
          ...study.hyperparameters,
          dataset: v.dataset,
          dataset_dir: resolve(v.datasetDir),
          template: study.template ?? "qwen",
          cutoff_len: v.cutoffLen ?? study.cutoffLen ?? 8192,
          output_dir: outputDir,
          seed,
        };
        files[config] = `# ${student} trained on ${v.name}, seed ${seed} (LLaMA-Factory; run from the study folder)\n` + toYaml(yaml);
        const evalCommand = [
          "lm_eval --model hf",
          `--model_args ${shq(`pretrained=${outputDir},dtype=bfloat16`)}`,
          `--tasks ${tasks.join(",")}`,
          "--batch_size auto",
          "--apply_chat_template",
          "--log_samples",
          `--output_path ${shq(resultsDir)}`,
        ].join(" ");
        cells.push({ student, studentSlug: slug, variant: v.name, seed, config, outputDir, resultsDir, evalCommand });
      }
    }
  }
  const gpus = study.gpusPerNode ?? 4;
  files["cells.tsv"] = cells.map((c) => [c.config, c.outputDir, c.resultsDir].join("\t")).join("\n") + "\n";
  files["run_cell.sh"] = `#!/usr/bin/env bash
# Trains and evaluates one cell: bash run_cell.sh INDEX (0-based line of cells.tsv).
# Multi-GPU on one node through torchrun, as LLaMA-Factory's own launcher does.
set -euo pipefail
cd "$(dirname "$0")"
index="\${1:?usage: run_cell.sh INDEX}"
line="$(sed -n "$((index + 1))p" cells.tsv)"
if [ -z "$line" ]; then echo "no cell $index in cells.tsv" >&2; exit 2; fi
IFS=$'\\t' read -r config output_dir results_dir <<< "$line"
if [ ! -f "$output_dir/config.json" ]; then
  FORCE_TORCHRUN=1 llamafactory-cli train "$config"
fi
mkdir -p "$results_dir"
case "$index" in
${cells.map((c, i) => `  ${i}) ${c.evalCommand} ;;`).join("\n")}
esac
`;
  files["run_all.sh"] = `#!/usr/bin/env bash
# Runs every cell in turn on this node.
set -euo pipefail
cd "$(dirname "$0")"
for i in $(seq 0 ${cells.length - 1}); do bash run_cell.sh "$i"; done
`;
  files["slurm.sbatch"] = `#!/usr/bin/env bash
#SBATCH --job-name=mixdistill-study
#SBATCH --array=0-${cells.length - 1}
#SBATCH --nodes=1
#SBATCH --gres=gpu:${gpus}
#SBATCH --cpus-per-task=${gpus * 8}
#SBATCH --output=logs/%A_%a.out
# One array task per cell: sbatch slurm.sbatch (from the study folder).
set -euo pipefail
cd "\${SLURM_SUBMIT_DIR:-$(dirname "$0")}"
mkdir -p logs
bash run_cell.sh "$SLURM_ARRAY_TASK_ID"
`;
  files["study.json"] = JSON.stringify({ students: study.students, variants: study.variants.map((v) => v.name), seeds, tasks, cells }, null, 2) + "\n";
  return { cells, files };
}

/** Writes the exported study into `dir` (atomically, file by file); returns the cells. */
export async function exportClusterStudy(study: ClusterStudy, dir: string): Promise<ClusterCell[]> {
  const { cells, files } = planClusterStudy(study);
  for (const [rel, text] of Object.entries(files)) await writeFileAtomic(join(dir, rel), text);
  return cells;
}

/**
 * Imports the evaluations of an exported study: each cell's `results/...` folder, keyed by the
 * cells in its study.json (student as the Hugging Face model name, variant, seed).
 */
export function importClusterResults(dir: string): ResultSet {
  const path = join(dir, "study.json");
  let study: { cells?: unknown };
  try {
    study = JSON.parse(readFileSync(path, "utf8")) as { cells?: unknown };
  } catch (e) {
    throw new ImportError(path, undefined, undefined, `cannot read the study (${(e as Error).message})`);
  }
  if (!Array.isArray(study.cells)) throw new ImportError(path, undefined, "cells", "expected the list of cells");
  const runs = (study.cells as ClusterCell[]).map((c, i) => {
    if (typeof c?.student !== "string" || typeof c.variant !== "string" || typeof c.resultsDir !== "string" || !Number.isSafeInteger(c.seed))
      throw new ImportError(path, undefined, `cells[${i}]`, "expected student, variant, seed and resultsDir");
    return { student: c.student, variant: c.variant, seed: c.seed, path: join(dir, c.resultsDir) };
  });
  return importRuns(runs);
}
