/**
 * Student model configurations: named sizes spanning about two orders of magnitude of parameters,
 * and validation of custom ones. Parameter counts below are for a 64-symbol vocabulary and maxLen 512.
 */
import type { StudentConfig } from "../train/spec.js";

/** Named sizes, smallest first. */
export const STUDENT_SIZES: Readonly<Record<string, Readonly<StudentConfig>>> = {
  nano: { name: "nano", dModel: 32, nLayers: 2, nHeads: 4, maxLen: 512 }, // ~46K params
  micro: { name: "micro", dModel: 64, nLayers: 3, nHeads: 4, maxLen: 512 }, // ~190K
  mini: { name: "mini", dModel: 128, nLayers: 3, nHeads: 4, maxLen: 512 }, // ~680K
  small: { name: "small", dModel: 192, nLayers: 4, nHeads: 4, maxLen: 512 }, // ~1.9M
  base: { name: "base", dModel: 256, nLayers: 6, nHeads: 4, maxLen: 512 }, // ~4.9M
};

/** Names of the student sizes (keys of STUDENT_SIZES). */
export const STUDENT_SIZE_NAMES = Object.keys(STUDENT_SIZES);

/** A config with every field filled in. */
export interface ResolvedStudentConfig {
  name: string;
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
  maxLen: number;
  /** Vocabulary size of the student tokenizer. */
  vocabSize: number;
}

function positiveInt(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new Error(`student config: ${field} must be a positive integer (got ${JSON.stringify(v)})`);
  }
  return v;
}

/**
 * Resolves a named size or a custom config against a vocabulary. `maxLen` overrides the config's
 * context length (runs size the context to their data).
 */
export function resolveStudentConfig(
  student: string | StudentConfig,
  vocabSize: number,
  overrides: { maxLen?: number } = {},
): ResolvedStudentConfig {
  let base: StudentConfig;
  if (typeof student === "string") {
    const named = STUDENT_SIZES[student];
    if (!named) throw new Error(`unknown student size ${JSON.stringify(student)}; known: ${STUDENT_SIZE_NAMES.join(", ")}`);
    base = named;
  } else {
    if (student === null || typeof student !== "object") throw new Error("student config must be a size name or an object");
    base = student;
  }
  const dModel = positiveInt(base.dModel, "dModel");
  const nLayers = positiveInt(base.nLayers, "nLayers");
  const nHeads = positiveInt(base.nHeads, "nHeads");
  if (dModel % nHeads !== 0) throw new Error(`student config: dModel (${dModel}) must be divisible by nHeads (${nHeads})`);
  const dFF = base.dFF === undefined ? 4 * dModel : positiveInt(base.dFF, "dFF");
  const maxLen = positiveInt(overrides.maxLen ?? base.maxLen, "maxLen");
  return {
    name: base.name ?? (typeof student === "string" ? student : `d${dModel}-l${nLayers}-h${nHeads}`),
    dModel,
    nLayers,
    nHeads,
    dFF,
    maxLen,
    vocabSize: positiveInt(vocabSize, "vocabSize"),
  };
}

/** Number of trainable parameters of a config (embeddings included). */
export function countParams(c: ResolvedStudentConfig): number {
  const D = c.dModel;
  const perLayer =
    2 * D + // ln1 gain, bias
    D * 3 * D + 3 * D + // qkv
    D * D + D + // attention output projection
    2 * D + // ln2
    D * c.dFF + c.dFF + // fc1
    c.dFF * D + D; // fc2
  return c.vocabSize * D + c.maxLen * D + c.nLayers * perLayer + 2 * D + D * c.vocabSize + c.vocabSize;
}

/**
 * Model FLOPs of training per token (forward + backward), the PaLM appendix B convention:
 * 6 x (matmul parameters) + 12 x nLayers x T x dModel for attention over a context of T.
 * Embedding lookups are not FLOPs; the output head is.
 */
export function trainFlopsPerToken(c: ResolvedStudentConfig, T: number): number {
  const D = c.dModel;
  const matmulParams = c.nLayers * (D * 3 * D + D * D + 2 * D * c.dFF) + D * c.vocabSize;
  return 6 * matmulParams + 12 * c.nLayers * T * D;
}
