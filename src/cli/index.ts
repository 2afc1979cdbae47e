/**
 * The data subcommands of the `mixdistill` CLI: synth, mix, stats. kernel/cli.ts dispatches to
 * runDataCli. Exit codes: 0 ok, 2 usage error, 1 data error; messages name file, line and field.
 */
import { existsSync, statSync } from "node:fs";
import { MIX_STRATEGIES } from "../contract/index.js";
import { CorpusError, formatSkipped } from "../data/errors.js";
import { ReadReport, readSourceRecords, sourceAsCorpus, writeCorpus, type ErrorPolicy } from "../data/jsonl.js";
import type { PaperRecord } from "../data/validate.js";
import { joinSources, type NamedSource } from "../data/corpus.js";
import { synth, SYNTH_TASKS, STYLES } from "../data/synth/index.js";
import type { CorpusRecord } from "../data/record.js";
import { resolveTokenizer, type Tokenizer } from "../tokenize/token-counter.js";
import { StatsAccumulator, formatStats } from "../tokenize/stats.js";
import { MixOptionError, type MixOptions } from "../mix/options.js";
import { mix, type SourceFileInfo } from "../mix/mix.js";
import { EXPORT_FORMATS, exportMix, resolveTemplate, type ExportFormat } from "../mix/export.js";
import { mixFilesPerQuestion, NotAlignedError } from "../mix/stream.js";
import { fileDigest } from "../mix/digest.js";
import { writeManifest } from "../mix/manifest.js";
import { cmdGaps } from "./gaps.js";
import { buildMix, type BuildMixOptions } from "../mix/build.js";
import { CutoffCounter, formatCutoff, resolveCutoff } from "../tokenize/cutoff.js";
import { choiceFlag, intFlag, numberFlag, one, pairsFlag, parseArgs, required, UsageError, type ParsedArgs } from "./args.js";

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

// A reader that goes away (`mixdistill study ... | head`) ends the command quietly, as in any Unix tool.
let pipeWatched = false;
const watchPipe = (): void => {
  if (pipeWatched) return;
  pipeWatched = true;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
};

const processIO: CliIO = {
  out: (t) => {
    watchPipe();
    process.stdout.write(t);
  },
  err: (t) => void process.stderr.write(t),
};

const HELP: Record<string, string> = {
  main: `usage: mixdistill <command> [options]

data commands:
  synth   write a synthetic reasoning corpus (all teacher styles)
  mix     build a Mix Distillation dataset from teacher traces and export it
  stats   token-length statistics of a corpus, per source and per level
  study   run (or resume) the toy learnability-gap study: --preset quick|full
  gaps    gap report with intervals from evaluation runs (lm-evaluation-harness folders, CSV)

Run "mixdistill <command> --help" for a command's options.
Exit codes: 0 ok, 1 data error (names file:line and field), 2 usage error.
`,
  synth: `usage: mixdistill synth --task NAME --n N --seed S --out FILE [options]

  --task NAME        ${SYNTH_TASKS.join(", ")}
  --n N              number of questions
  --seed S           seed (same seed, same corpus)
  --out FILE         output JSONL (.gz to compress); written atomically
  --levels L,L,...   levels to draw from, 1-5 (default 1,2,3,4,5)
  --styles S,S,...   responses to keep (default all: ${STYLES.join(", ")})
  --implicit X       0..1: how often short traces write a product / solve in one go (default 1)
  --checks K         long-trace checks: digit-sum (uncopiable), inverse (copyable), none
  --slip-rate X      0..1: chance a long-trace step slips and is caught (default 0.2)
`,
  mix: `usage: mixdistill mix --source NAME=FILE ... --ratio NAME=W,... --strategy S --seed S --format F --out DIR [options]

sources:
  --source NAME=FILE   a source file: paper form ({"problem","solution"} a line: its solution is NAME's
                       response) or corpus records (NAME selects responses.NAME). Repeat per source.
  --source NAME        with --corpus FILE: a response key of that corpus
  --corpus FILE        a corpus JSONL with several responses per question
  --join-by K          question (normalised text, default) or id, when sources are separate files
weights:
  --ratio NAME=W,...   e.g. long=1,short=4 (Mix-Long, 1:4); normalised
  --weight-by B        examples (default) or tokens
strategy:
  --strategy S         ${MIX_STRATEGIES.join(" | ")}
  --seed S             seed (default 0); same inputs and seed give byte-identical output
  --draw D             per-question: exact (default) or independent
  --missing P          per-question: fallback (default) or drop, for questions lacking the drawn source
  --min-level NAME=K   use source NAME only for questions at level >= K
  --stopping R         interleave: first_exhausted (default) or all_exhausted
  --fractions NAME=F,...  concat: keep that fraction of each source (default: proportions from --ratio)
output:
  --format F           ${EXPORT_FORMATS.join(" | ")}
  --out DIR            output folder: NAME.jsonl, NAME.manifest.json (and dataset_info.json for LLaMA-Factory)
  --name NAME          dataset name (default mix)
  --template T         prompt template: plain (default), paper (the paper's prompt), or a text with {{problem}}
  --system TEXT        system prompt
  --tokenizer PATH     tokenizer.json for token weights and statistics (default: built-in estimate)
  --on-error P         fail (default) or skip malformed lines (reported on stderr)
  --validate V         all (default): parse every line; used: parse only lines whose response is
                       used (aligned files, per-question), checking the others for the same question
checks (any of these builds the mix in memory; the manifest records what they found):
  --cutoff-len N       count examples whose prompt + response tokens exceed N (in --tokenizer's tokens)
  --trainer T          llamafactory (cutoff_len 2048) or trl (max_length 1024): the trainer's default cutoff
  --over-length P      keep (default; warns with the count), drop, or fail
  --decontaminate FILE benchmark questions (JSONL or one per line); word 8-gram overlap; repeatable
  --contaminated P     drop (default), flag (keep and list), or fail
  --chat-template T    the trainer's chat template (LLaMA-Factory name, e.g. qwen3) for the <think> check
  --no-thinking        the trainer runs with enable_thinking: false (refused when traces carry reasoning)
`,
  stats: `usage: mixdistill stats FILE [--tokenizer tokenizer.json] [--cutoff-len N] [options]

  FILE               corpus JSONL (or .gz), or a paper-form file ({"problem","solution"})
  --tokenizer PATH   Hugging Face tokenizer.json (default: built-in estimate); "chars" counts characters
  --source NAME      name for a paper-form file's solutions (default solution)
  --json             print the statistics as JSON
  --cutoff-len N     count examples over N prompt + response tokens, with p50/p90/p99/max per source and level
  --trainer T        llamafactory (2048) or trl (1024): that trainer's default cutoff
  --on-error P       fail (default) or skip malformed lines (reported on stderr)
`,
};

function showHelp(io: CliIO, cmd: string): number {
  io.out(HELP[cmd]!);
  return 0;
}

function reportSkipped(io: CliIO, report: ReadReport): void {
  if (report.skippedCount === 0) return;
  io.err(`skipped ${report.skippedCount} malformed line(s):\n`);
  for (const s of report.skipped) io.err(`  ${formatSkipped(s)}\n`);
  if (report.skippedCount > report.skipped.length) io.err(`  ... and ${report.skippedCount - report.skipped.length} more\n`);
}

function listFlag(p: ParsedArgs, name: string): string[] | undefined {
  const v = one(p, name);
  return v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter(Boolean);
}

async function cmdSynth(argv: string[], io: CliIO): Promise<number> {
  const p = parseArgs(argv, { values: ["task", "n", "seed", "out", "levels", "styles", "implicit", "checks", "slip-rate"] });
  if (p.booleans.has("help")) return showHelp(io, "synth");
  if (p.positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(p.positional[0])}`);
  const task = choiceFlag(p, "task", SYNTH_TASKS);
  if (!task) throw new UsageError("--task is required");
  const n = intFlag(p, "n");
  const seed = intFlag(p, "seed", 0);
  const out = required(p, "out");
  const levels = listFlag(p, "levels")?.map((l) => {
    if (!/^[1-5]$/.test(l)) throw new UsageError(`--levels: expected levels 1-5, got ${JSON.stringify(l)}`);
    return Number(l);
  });
  const styles = listFlag(p, "styles");
  for (const s of styles ?? []) if (!(STYLES as readonly string[]).includes(s)) throw new UsageError(`--styles: unknown style ${JSON.stringify(s)} (known: ${STYLES.join(", ")})`);
  const implicit = numberFlag(p, "implicit");
  const slipRate = numberFlag(p, "slip-rate");
  const checks = choiceFlag(p, "checks", ["digit-sum", "inverse", "none"] as const);
  let corpus: CorpusRecord[];
  try {
    corpus = synth({ task, n, seed, ...(levels ? { levels } : {}), ...(implicit !== undefined ? { implicit } : {}), ...(slipRate !== undefined ? { slipRate } : {}), ...(checks ? { checks } : {}) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (styles) for (const r of corpus) r.responses = Object.fromEntries(styles.map((s) => [s, r.responses[s]!]));
  await writeCorpus(out, corpus);
  io.err(`wrote ${corpus.length} questions (${task}, seed ${seed}) to ${out}\n`);
  return 0;
}

interface SourceArg {
  name: string;
  path?: string;
}

function parseSources(p: ParsedArgs): { sources: SourceArg[]; corpus?: string } {
  const corpus = one(p, "corpus");
  const raw = p.values.get("source") ?? [];
  if (raw.length === 0) throw new UsageError("--source is required (NAME=FILE, or NAME with --corpus)");
  const sources = raw.map((r) => {
    const eq = r.indexOf("=");
    if (eq === 0) throw new UsageError(`--source: empty name in ${JSON.stringify(r)}`);
    if (eq < 0) {
      if (!corpus) throw new UsageError(`--source ${r}: expected NAME=FILE (or give --corpus FILE)`);
      return { name: r };
    }
    return { name: r.slice(0, eq), path: r.slice(eq + 1) };
  });
  const names = sources.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new UsageError(`--source: duplicate source names (${names.join(", ")})`);
  for (const s of sources) {
    const path = s.path ?? corpus!;
    if (!existsSync(path) || !statSync(path).isFile()) throw new CorpusError({ file: path, line: 0, field: "" }, "no such file");
  }
  return { sources, ...(corpus ? { corpus } : {}) };
}

/** Loads sources (files of either form) into one joined corpus. */
async function loadSources(sources: SourceArg[], corpusPath: string | undefined, policy: ErrorPolicy, report: ReadReport, by: "question" | "id", io: CliIO): Promise<CorpusRecord[]> {
  const perFile = new Map<string, string[]>();
  for (const s of sources) {
    const f = s.path ?? corpusPath!;
    perFile.set(f, [...(perFile.get(f) ?? []), s.name]);
  }
  const named: NamedSource[] = [];
  const recs = new Map<string, PaperRecord[]>(sources.map((s) => [s.name, []]));
  for (const [file, names] of perFile) {
    for await (const rec of readSourceRecords(file, { onError: policy, report })) {
      if (rec.kind === "paper") {
        recs.get(names[0]!)!.push(rec.value);
        continue;
      }
      const c = rec.value;
      for (const name of names) {
        const t = c.responses[name];
        if (t === undefined) continue;
        const pr: PaperRecord = { problem: c.question, solution: t, id: c.id, answer: c.answer };
        if (c.level !== undefined) pr.level = c.level;
        if (c.subject !== undefined) pr.subject = c.subject;
        recs.get(name)!.push(pr);
      }
    }
  }
  for (const s of sources) named.push({ name: s.name, records: recs.get(s.name)! });
  const { corpus, report: join } = joinSources(named, { by });
  if (join.partial > 0 || Object.values(join.duplicates).some((d) => d > 0)) {
    const only = Object.entries(join.onlyIn).filter(([, ids]) => ids.length > 0).map(([n, ids]) => `${ids.length} only in ${n}`);
    const dups = Object.entries(join.duplicates).filter(([, d]) => d > 0).map(([n, d]) => `${d} duplicate(s) in ${n} dropped`);
    io.err(`joined ${corpus.length} questions by ${by}: ${join.complete} in every source, ${join.partial} in some${only.length ? ` (${only.join(", ")})` : ""}${dups.length ? `; ${dups.join(", ")}` : ""}\n`);
  }
  return corpus;
}

async function cmdMix(argv: string[], io: CliIO): Promise<number> {
  const p = parseArgs(argv, {
    values: ["source", "corpus", "join-by", "ratio", "weight-by", "strategy", "seed", "draw", "missing", "min-level", "stopping", "fractions", "format", "out", "name", "template", "system", "tokenizer", "on-error", "validate", "cutoff-len", "trainer", "over-length", "decontaminate", "contaminated", "chat-template"],
    repeat: ["source", "ratio", "fractions", "decontaminate"],
    booleans: ["no-thinking"],
  });
  if (p.booleans.has("help")) return showHelp(io, "mix");
  if (p.positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(p.positional[0])}`);
  const strategy = choiceFlag(p, "strategy", MIX_STRATEGIES);
  if (!strategy) throw new UsageError(`--strategy is required (${MIX_STRATEGIES.join(", ")})`);
  const format = choiceFlag(p, "format", EXPORT_FORMATS) as ExportFormat | undefined;
  if (!format) throw new UsageError(`--format is required (${EXPORT_FORMATS.join(", ")})`);
  const outDir = required(p, "out");
  const name = one(p, "name") ?? "mix";
  const ratio = pairsFlag(p, "ratio");
  const fractions = pairsFlag(p, "fractions");
  if (!ratio && !(strategy === "concat")) throw new UsageError("--ratio is required (e.g. --ratio long=1,short=4)");
  const minLevel = pairsFlag(p, "min-level");
  if (minLevel && Object.keys(minLevel).length !== 1) throw new UsageError("--min-level: give one NAME=K");
  const template = one(p, "template");
  try {
    resolveTemplate(template);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const policy = choiceFlag(p, "on-error", ["fail", "skip"] as const, "fail")!;
  const by = choiceFlag(p, "join-by", ["question", "id"] as const, "question")!;
  const validate = choiceFlag(p, "validate", ["all", "used"] as const, "all")!;
  const { sources, corpus: corpusPath } = parseSources(p);
  let tokenizer: Tokenizer;
  try {
    tokenizer = await resolveTokenizer(one(p, "tokenizer"));
  } catch (e) {
    throw new CorpusError({ file: one(p, "tokenizer") ?? "", line: 0, field: "" }, (e as Error).message.replace(/^[^:]*: /, ""));
  }
  const options: MixOptions = {
    sources: sources.map((s) => s.name),
    strategy,
    seed: intFlag(p, "seed", 0),
    weightBy: choiceFlag(p, "weight-by", ["examples", "tokens"] as const, "examples")!,
    draw: choiceFlag(p, "draw", ["exact", "independent"] as const, "exact")!,
    missing: choiceFlag(p, "missing", ["fallback", "drop"] as const, "fallback")!,
    stopping: choiceFlag(p, "stopping", ["first_exhausted", "all_exhausted"] as const, "first_exhausted")!,
    tokenizer,
    ...(ratio ? { ratio } : {}),
    ...(fractions ? { fractions } : {}),
    ...(minLevel ? { levelRule: { source: Object.keys(minLevel)[0]!, minLevel: Object.values(minLevel)[0]! } } : {}),
  };
  const exportOpts = { format, name, ...(template !== undefined ? { template } : {}), ...(one(p, "system") !== undefined ? { system: one(p, "system")! } : {}) };
  const checks = mixChecks(p);
  const report = new ReadReport();
  const streamable = !checks && strategy === "per-question" && options.weightBy === "examples" && !options.levelRule && by === "question";
  try {
    if (streamable) {
      try {
        const files = sources.map((s) => ({ name: s.name, path: s.path ?? corpusPath! }));
        const { manifest } = await mixFilesPerQuestion(files, { ...options, onError: policy, report, validate }, { dir: outDir, ...exportOpts });
        const mpath = await writeManifest(outDir, name, manifest);
        reportSkipped(io, report);
        io.out(summary(manifest.counts.examples, manifest.counts.perSource, outDir, mpath));
        return 0;
      } catch (e) {
        if (!(e instanceof NotAlignedError)) throw e;
        io.err(`note: ${e.message}; joining in memory\n`);
        report.lines = report.records = report.skippedCount = 0;
        report.skipped = [];
      }
    }
    const corpus = await loadSources(sources, corpusPath, policy, report, by, io);
    const info: Record<string, SourceFileInfo> = {};
    const digests = new Map<string, { sha256: string; bytes: number }>();
    for (const s of sources) {
      const path = s.path ?? corpusPath!;
      if (!digests.has(path)) digests.set(path, await fileDigest(path));
      info[s.name] = { name: s.name, path, ...digests.get(path)! };
    }
    if (checks) {
      const built = await buildMix(corpus, options, { dir: outDir, files: info, ...exportOpts, ...checks });
      for (const w of built.warnings) io.err(`warning: ${w}\n`);
      if (built.manifest.cutoff) io.err(formatCutoff(built.manifest.cutoff) + "\n");
      reportSkipped(io, report);
      io.out(summary(built.examples.length, built.manifest.counts.perSource, outDir, built.manifestPath));
      return 0;
    }
    const res = mix(corpus, options, info);
    const outputs = await exportMix(res.examples, outDir, exportOpts);
    res.manifest.outputs = outputs;
    const mpath = await writeManifest(outDir, name, res.manifest);
    reportSkipped(io, report);
    io.out(summary(res.examples.length, res.manifest.counts.perSource, outDir, mpath));
    return 0;
  } catch (e) {
    if (e instanceof MixOptionError) throw new UsageError(e.message);
    throw e;
  }
}

/** The length, decontamination and reasoning checks the mix flags ask for (undefined: none, stream as before). */
function mixChecks(p: ParsedArgs): Omit<BuildMixOptions, "dir" | "format" | "name"> | undefined {
  const cutoffLen = one(p, "cutoff-len") === undefined ? undefined : intFlag(p, "cutoff-len", undefined, 1);
  const trainer = choiceFlag(p, "trainer", ["llamafactory", "trl"] as const);
  const overLength = choiceFlag(p, "over-length", ["keep", "drop", "fail"] as const);
  const bench = (p.values.get("decontaminate") ?? []).flatMap((v) => v.split(",")).filter(Boolean);
  const contaminated = choiceFlag(p, "contaminated", ["drop", "flag", "fail"] as const);
  const chatTemplate = one(p, "chat-template");
  const noThinking = p.booleans.has("no-thinking");
  if (overLength && cutoffLen === undefined && !trainer) throw new UsageError("--over-length needs --cutoff-len N or --trainer NAME");
  if (contaminated && bench.length === 0) throw new UsageError("--contaminated needs --decontaminate FILE");
  if (cutoffLen === undefined && !trainer && bench.length === 0 && chatTemplate === undefined && !noThinking) return undefined;
  return {
    ...(cutoffLen !== undefined ? { cutoffLen } : {}),
    ...(trainer ? { trainer } : {}),
    ...(overLength ? { overLength } : {}),
    ...(bench.length ? { decontaminate: bench } : {}),
    ...(contaminated ? { contaminated } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
    ...(noThinking ? { enableThinking: false } : {}),
  };
}

function summary(n: number, per: Record<string, number>, dir: string, manifest: string): string {
  return `mixed ${n} examples (${Object.entries(per).map(([k, v]) => `${k} ${v}`).join(", ")}) into ${dir}; manifest ${manifest}\n`;
}

async function cmdStats(argv: string[], io: CliIO): Promise<number> {
  const p = parseArgs(argv, { values: ["tokenizer", "source", "on-error", "cutoff-len", "trainer"], booleans: ["json"] });
  if (p.booleans.has("help")) return showHelp(io, "stats");
  if (p.positional.length !== 1) throw new UsageError(p.positional.length ? "give exactly one FILE" : "FILE is required");
  const file = p.positional[0]!;
  if (!existsSync(file) || !statSync(file).isFile()) throw new CorpusError({ file, line: 0, field: "" }, "no such file");
  const policy = choiceFlag(p, "on-error", ["fail", "skip"] as const, "fail")!;
  const srcName = one(p, "source") ?? "solution";
  let tok: Tokenizer;
  try {
    tok = await resolveTokenizer(one(p, "tokenizer"));
  } catch (e) {
    throw new CorpusError({ file: one(p, "tokenizer") ?? "", line: 0, field: "" }, (e as Error).message.replace(/^[^:]*: /, ""));
  }
  const report = new ReadReport();
  const acc = new StatsAccumulator(tok.name);
  // No memo here: a streamed file's texts must not be retained.
  const count = (t: string): number => tok.count(t);
  let cut: ReturnType<typeof resolveCutoff>;
  try {
    cut = resolveCutoff({ ...(one(p, "cutoff-len") !== undefined ? { cutoffLen: intFlag(p, "cutoff-len", undefined, 1) } : {}), ...(one(p, "trainer") !== undefined ? { trainer: one(p, "trainer")! } : {}) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const counter = cut ? new CutoffCounter(tok, cut.cutoff, "keep", cut.trainer) : undefined;
  for await (const rec of readSourceRecords(file, { onError: policy, report })) {
    const r = sourceAsCorpus(rec, srcName);
    acc.add(r, count);
    if (counter)
      for (const [source, response] of Object.entries(r.responses))
        counter.add({ id: r.id, question: r.question, source, response, ...(r.level !== undefined ? { level: r.level } : {}) });
  }
  const stats = acc.result();
  const cutoff = counter?.report();
  reportSkipped(io, report);
  if (p.booleans.has("json")) io.out(JSON.stringify({ file, records: report.records, skipped: report.skippedCount, ...stats, ...(cutoff ? { cutoff: { ...cutoff, overIds: cutoff.overIds.slice(0, 100) } } : {}) }, null, 2) + "\n");
  else io.out(formatStats(stats) + "\n" + (cutoff ? formatCutoff(cutoff) + "\n" : ""));
  return 0;
}

// The study command loads the training stack, so it is imported only when it runs.
const cmdStudy = async (argv: string[], io: CliIO): Promise<number> => (await import("./study.js")).cmdStudy(argv, io);

const COMMANDS: Record<string, (argv: string[], io: CliIO) => Promise<number>> = { synth: cmdSynth, mix: cmdMix, stats: cmdStats, study: cmdStudy, gaps: cmdGaps };

/** Runs `synth`, `mix` or `stats` (argv[0]) and returns the exit code; never throws. */
export async function runDataCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    io.out(HELP.main!);
    return cmd === undefined ? 2 : 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    io.err(`mixdistill: unknown command ${JSON.stringify(cmd)}\n${HELP.main}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`mixdistill ${cmd}: ${e.message}\nRun "mixdistill ${cmd} --help" for usage.\n`);
      return 2;
    }
    if (e instanceof CorpusError) {
      io.err(`mixdistill ${cmd}: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === "string") {
      io.err(`mixdistill ${cmd}: ${err.message}\n`);
      return 1;
    }
    io.err(`mixdistill ${cmd}: ${err?.message ?? String(e)}\n`);
    return 1;
  }
}

export const DATA_COMMANDS = Object.keys(COMMANDS);
