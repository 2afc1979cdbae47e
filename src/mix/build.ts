/**
 * One call for the whole path a user takes before training: decontaminate the corpus, mix, check
 * lengths against the trainer's cutoff, check reasoning traces against the chat template, export,
 * write the trainer's config and the manifest. The manifest always holds the sha256 of every file
 * written (data, dataset_info.json, trainer config).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../data/atomic.js";
import type { CorpusRecord } from "../data/record.js";
import { decontaminate, loadDecontaminator, type ContaminatedPolicy, type DecontaminationReport } from "../data/decontaminate.js";
import { hasReasoning, joinReasoning, splitReasoning } from "../data/reasoning.js";
import { CutoffCounter, resolveCutoff, type CutoffReport, type OverLengthPolicy, type TrainerName } from "../tokenize/cutoff.js";
import { defaultTokenizer } from "../tokenize/token-counter.js";
import { exportMix, type ExportOptions, type OutputFile } from "./export.js";
import { writeManifest } from "./manifest.js";
import { mix, type MixedExample, type MixManifest, type SourceFileInfo } from "./mix.js";
import type { MixOptions } from "./options.js";

/**
 * LLaMA-Factory chat templates registered as ReasoningTemplate (data/template.py): with
 * `enable_thinking: false` they remove the think block from the trained response, and they add an
 * empty one to responses that have none.
 */
export const LLAMAFACTORY_REASONING_TEMPLATES = ["qwen3", "deepseekr1", "qwen3_vl", "glm4_moe", "keye_vl", "mimo", "seed_oss"] as const;

export interface ReasoningReport {
  /** Examples whose response holds a think block. */
  withReasoning: number;
  without: number;
  /** The trainer template checked against, if any, and whether it treats think blocks specially. */
  template?: string;
  reasoningTemplate: boolean;
  enableThinking: boolean;
  /** R1-style responses (closing tag only) rewritten to the full `<think>\n...\n</think>\n\n` form. */
  normalised: number;
  warnings: string[];
}

/** Raised when the template would strip the reasoning from training examples. */
export class ReasoningTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReasoningTemplateError";
  }
}

/**
 * Checks mixed examples against the trainer's chat template and normalises R1-style responses.
 * Throws ReasoningTemplateError when a reasoning template with thinking disabled would drop the
 * reasoning of examples that have it.
 */
export function checkReasoning(examples: MixedExample[], opts: { template?: string; enableThinking?: boolean } = {}): { examples: MixedExample[]; report: ReasoningReport } {
  const enableThinking = opts.enableThinking ?? true;
  const reasoningTemplate = opts.template !== undefined && (LLAMAFACTORY_REASONING_TEMPLATES as readonly string[]).includes(opts.template);
  let withReasoning = 0;
  let normalised = 0;
  const out = examples.map((e, i) => {
    if (!hasReasoning(e.response)) return e;
    withReasoning++;
    let parts;
    try {
      parts = splitReasoning(e.response);
    } catch (err) {
      throw new ReasoningTemplateError(`example ${i} (id ${e.id}, source ${e.source}): malformed think block: ${(err as Error).message}`);
    }
    if (e.response.includes("<think>")) return e;
    normalised++;
    return { ...e, response: joinReasoning(parts) };
  });
  const without = examples.length - withReasoning;
  const warnings: string[] = [];
  if (reasoningTemplate && !enableThinking && withReasoning > 0)
    throw new ReasoningTemplateError(
      `template ${opts.template} with enable_thinking: false removes the think block from the trained response: the reasoning of ${withReasoning} example(s) would be lost; set enable_thinking: true or use a template without thinking`,
    );
  if (reasoningTemplate && enableThinking && withReasoning > 0 && without > 0)
    warnings.push(`template ${opts.template} adds an empty think block (trained) to the ${without} example(s) without reasoning`);
  if (!reasoningTemplate && withReasoning > 0 && opts.template !== undefined)
    warnings.push(`template ${opts.template} is not a reasoning template: the think blocks of ${withReasoning} example(s) are trained as plain text`);
  return {
    examples: out,
    report: { withReasoning, without, ...(opts.template !== undefined ? { template: opts.template } : {}), reasoningTemplate, enableThinking, normalised, warnings },
  };
}

export interface BuildMixOptions extends ExportOptions {
  /** Output folder. */
  dir: string;
  /** Source files for the manifest (path, sha256, bytes) by source name. */
  files?: Record<string, SourceFileInfo>;
  /** Length check: an explicit cutoff, or the trainer's default (llamafactory 2048, trl 1024). */
  cutoffLen?: number;
  trainer?: TrainerName;
  overLength?: OverLengthPolicy;
  /** Benchmark files (JSONL or plain text) to decontaminate against. */
  decontaminate?: string[];
  contaminated?: ContaminatedPolicy;
  /** The trainer's chat template (LLaMA-Factory name) and its enable_thinking, for the reasoning check. */
  chatTemplate?: string;
  enableThinking?: boolean;
}

export interface BuildMixResult {
  examples: MixedExample[];
  manifest: MixManifest & { cutoff?: CutoffReport; decontamination?: DecontaminationReport; reasoning?: ReasoningReport; trainerConfig?: string };
  manifestPath: string;
  warnings: string[];
}

function digestOf(path: string, text: string): OutputFile {
  return { path, sha256: createHash("sha256").update(text).digest("hex"), lines: text.split("\n").length - 1, bytes: Buffer.byteLength(text) };
}

/** The trainer's config for the exported dataset, carrying the cutoff used. */
export function trainerConfig(opts: { format: ExportOptions["format"]; name: string; dir: string; cutoff: number; chatTemplate?: string; enableThinking?: boolean }): { file: string; text: string } | undefined {
  if (opts.format === "llamafactory" || opts.format === "sharegpt") {
    const lines = [
      `# LLaMA-Factory data arguments for ${opts.name}; merge into a training YAML (llamafactory-cli train).`,
      `dataset: ${opts.name}`,
      `dataset_dir: ${JSON.stringify(opts.dir)}`,
      ...(opts.chatTemplate !== undefined ? [`template: ${opts.chatTemplate}`] : []),
      `cutoff_len: ${opts.cutoff}`,
      ...(opts.enableThinking !== undefined ? [`enable_thinking: ${opts.enableThinking}`] : []),
    ];
    return { file: `${opts.name}.llamafactory.yaml`, text: lines.join("\n") + "\n" };
  }
  if (opts.format === "trl-messages" || opts.format === "trl-prompt-completion") {
    const lines = [
      `# TRL SFTConfig fields for ${opts.name}; load the data with load_dataset("json", data_files=${JSON.stringify(join(opts.dir, `${opts.name}.jsonl`))}).`,
      `max_length: ${opts.cutoff}`,
      `truncation_mode: keep_start`,
      ...(opts.format === "trl-prompt-completion" ? ["completion_only_loss: true"] : []),
    ];
    return { file: `${opts.name}.trl.yaml`, text: lines.join("\n") + "\n" };
  }
  return undefined;
}

/**
 * Mixes, checks and exports in one call:
 *
 *   await buildMix(corpus, { sources: ["long", "short"], ratio: { long: 1, short: 4 }, strategy: "per-question", seed: 0 },
 *                  { dir: "out", format: "llamafactory", name: "mix-long", trainer: "llamafactory", overLength: "drop", decontaminate: ["math500.jsonl"] })
 */
export async function buildMix(corpus: readonly CorpusRecord[], options: MixOptions, opts: BuildMixOptions): Promise<BuildMixResult> {
  const warnings: string[] = [];
  let records = corpus;
  let decon: DecontaminationReport | undefined;
  if (opts.decontaminate && opts.decontaminate.length > 0) {
    const { index, benchmarks } = await loadDecontaminator(opts.decontaminate);
    const r = decontaminate(corpus, index, { policy: opts.contaminated ?? "drop", benchmarks });
    records = r.kept;
    decon = r.report;
    if (decon.hits.length > 0) warnings.push(`${decon.hits.length} training question(s) overlap benchmark questions (${decon.policy === "drop" ? "dropped" : "flagged, kept"})`);
  }
  const res = mix(records, options, opts.files);
  let examples = res.examples;
  const tok = options.tokenizer ?? defaultTokenizer;
  const cut = resolveCutoff({ ...(opts.cutoffLen !== undefined ? { cutoffLen: opts.cutoffLen } : {}), ...(opts.trainer !== undefined ? { trainer: opts.trainer } : {}) });
  let cutoffReport: CutoffReport | undefined;
  if (cut) {
    const counter = new CutoffCounter(tok, cut.cutoff, opts.overLength ?? "keep", cut.trainer);
    examples = examples.filter((e) => counter.add(e));
    cutoffReport = counter.finish();
    if (cutoffReport.total.over > 0) {
      const per = Object.entries(cutoffReport.bySource).filter(([, g]) => g.over > 0).map(([s, g]) => `${s} ${g.over}`).join(", ");
      warnings.push(`${cutoffReport.total.over} of ${cutoffReport.total.examples} examples exceed the cutoff of ${cut.cutoff} tokens (${per}); ${cutoffReport.policy === "drop" ? "dropped" : "kept: the trainer will truncate them"}`);
    }
  }
  const reasoning = checkReasoning(examples, { ...(opts.chatTemplate !== undefined ? { template: opts.chatTemplate } : {}), ...(opts.enableThinking !== undefined ? { enableThinking: opts.enableThinking } : {}) });
  examples = reasoning.examples;
  warnings.push(...reasoning.report.warnings);
  const exportOpts: ExportOptions = { format: opts.format, name: opts.name, ...(opts.template !== undefined ? { template: opts.template } : {}), ...(opts.system !== undefined ? { system: opts.system } : {}) };
  const outputs = await exportMix(examples, opts.dir, exportOpts);
  const manifest: BuildMixResult["manifest"] = res.manifest;
  if (examples.length !== res.examples.length) {
    // Counts after the length check's drops.
    const per: Record<string, number> = {};
    for (const s of Object.keys(manifest.counts.perSource)) per[s] = 0;
    for (const e of examples) per[e.source] = (per[e.source] ?? 0) + 1;
    manifest.counts = { ...manifest.counts, examples: examples.length, perSource: per, share: Object.fromEntries(Object.entries(per).map(([s, n]) => [s, examples.length ? n / examples.length : 0])) };
  }
  const cfg = trainerConfig({ format: opts.format, name: opts.name, dir: opts.dir, cutoff: cut?.cutoff ?? (opts.format.startsWith("trl") ? 1024 : 2048), ...(opts.chatTemplate !== undefined ? { chatTemplate: opts.chatTemplate } : {}), ...(opts.enableThinking !== undefined ? { enableThinking: opts.enableThinking } : {}) });
  if (cfg) {
    await writeFileAtomic(join(opts.dir, cfg.file), cfg.text);
    outputs.push(digestOf(cfg.file, cfg.text));
    manifest.trainerConfig = cfg.file;
  }
  manifest.outputs = outputs;
  if (cutoffReport) manifest.cutoff = cutoffReport;
  if (decon) manifest.decontamination = decon;
  if (reasoning.report.withReasoning > 0 || opts.chatTemplate !== undefined) manifest.reasoning = reasoning.report;
  const manifestPath = await writeManifest(opts.dir, opts.name, manifest);
  return { examples, manifest, manifestPath, warnings };
}
