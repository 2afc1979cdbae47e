/**
 * Turning values into mime bundles, and the rich helpers cells use (html, markdown, svg, png, json).
 * Any object with a `[Symbol.for("Jupyter.display")]()` method returning a bundle is rich.
 */
import { Buffer } from "node:buffer";
import { inspect } from "node:util";
import { corpusSummary, isCorpus } from "../../src/data/summary.js";

export type MimeBundle = Record<string, unknown>;
export const DISPLAY_SYMBOL = Symbol.for("Jupyter.display");

const MIME_KEY = /^[a-z]+\/[a-z0-9.+_-]+$/i;

/** A plain object whose keys are all mime types (`{"text/html": "..."}`) is taken as a raw bundle. */
export function isMimeBundle(x: unknown): x is MimeBundle {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(x);
  return keys.length > 0 && keys.every((k) => MIME_KEY.test(k));
}

/** Plain text the way the kernel shows values: util.inspect, no colours. */
export function plainText(value: unknown): string {
  if (typeof value === "string") return inspect(value, { colors: false });
  return inspect(value, { colors: false, depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 });
}

/** JSON-safe copy of a bundle value (drops functions, turns bigints into strings). */
function jsonSafe(value: unknown): unknown {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value === null) return value;
  try {
    return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as unknown;
  } catch {
    return String(value);
  }
}

/** A JSON-safe bundle that always has text/plain (naming the rich types when the bundle had none). */
export function normalizeBundle(bundle: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [k, v] of Object.entries(bundle)) {
    if (v === undefined) continue;
    out[k] = k === "text/plain" && typeof v !== "string" ? plainText(v) : jsonSafe(v);
  }
  if (!("text/plain" in out)) out["text/plain"] = `<${Object.keys(out).join(", ")}>`;
  return out;
}

/**
 * The bundle for any value: rich via the display symbol, a raw bundle as is, a corpus (an array of
 * question records with responses) as a summary of counts and a few elided examples, else text/plain.
 */
export function toMimeBundle(value: unknown, opts: { raw?: boolean } = {}): MimeBundle {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    const method = (value as { [DISPLAY_SYMBOL]?: unknown })[DISPLAY_SYMBOL];
    if (typeof method === "function") {
      const bundle = (method as () => unknown).call(value);
      if (isMimeBundle(bundle)) return normalizeBundle(bundle);
      throw new TypeError("[Symbol.for(\"Jupyter.display\")]() must return a mime bundle object");
    }
    if (opts.raw !== false && isMimeBundle(value)) return normalizeBundle(value);
    if (isCorpus(value)) return corpusSummary(value);
  }
  return { "text/plain": plainText(value) };
}

/** A value that displays as the given bundle. */
export class Rich {
  constructor(readonly bundle: MimeBundle) {}
  [DISPLAY_SYMBOL](): MimeBundle {
    return this.bundle;
  }
  [inspect.custom](): string {
    return String(this.bundle["text/plain"] ?? "[rich output]");
  }
}

const truncate = (s: string, n = 80): string => (s.length > n ? `${s.slice(0, n - 3)}...` : s);

export function html(source: string): Rich {
  return new Rich({ "text/html": String(source), "text/plain": truncate(String(source).replace(/<[^>]*>/g, "")) });
}

export function markdown(source: string): Rich {
  return new Rich({ "text/markdown": String(source), "text/plain": String(source) });
}

export function svg(source: string): Rich {
  return new Rich({ "image/svg+xml": String(source), "text/plain": "<SVG image>" });
}

/** PNG from bytes (Buffer / Uint8Array) or a base64 string. */
export function png(data: Uint8Array | string, opts: { width?: number; height?: number } = {}): Rich {
  const b64 = typeof data === "string" ? data.replace(/^data:image\/png;base64,/, "") : Buffer.from(data).toString("base64");
  const bundle: MimeBundle = { "image/png": b64, "text/plain": "<PNG image>" };
  const rich = new Rich(bundle);
  if (opts.width || opts.height) {
    // Metadata rides along through display(); execute results carry none.
    Object.defineProperty(rich, "metadata", { value: { "image/png": { ...(opts.width ? { width: opts.width } : {}), ...(opts.height ? { height: opts.height } : {}) } } });
  }
  return rich;
}

export function json(value: unknown): Rich {
  return new Rich({ "application/json": jsonSafe(value), "text/plain": plainText(value) });
}

export interface ProgressState {
  step: number;
  totalSteps: number;
  loss?: number;
  tokensPerSecond?: number;
  /** Remaining seconds as the caller knows them; otherwise estimated from the rate so far. */
  etaSeconds?: number;
  message?: string;
}

/** Where a bar is: still going, or one of its end states (shown in words and colour). */
export type ProgressStatus = "running" | "done" | "failed" | "interrupted";

export interface ProgressView {
  status: ProgressStatus;
  /** Seconds since the bar was created. */
  elapsedSeconds: number;
  /** What one step is called in the rate ("it" as tqdm says, or "batch", "question"). */
  unit?: string;
  /** Why it failed, shown after "failed:". */
  reason?: string;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** A duration the way tqdm writes it (whole seconds, truncated): 01:05, 1:02:03. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.floor(seconds);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Steps per second as "3.62 it/s", or "2.50 s/it" when a step takes longer than a second. */
function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `? ${unit}/s`;
  if (perSecond < 1) return `${(1 / perSecond).toFixed(2)} s/${unit}`;
  return `${perSecond >= 100 ? Math.round(perSecond).toLocaleString("en-US") : perSecond.toFixed(2)} ${unit}/s`;
}

const STATUS_COLOUR: Record<ProgressStatus, string> = { running: "#1976d2", done: "#2e7d32", failed: "#c62828", interrupted: "#ef6c00" };

/**
 * The bundle of a progress bar, laid out as tqdm users know it:
 * `train  50%|###############...............| 5/10 [00:12<00:12, 0.41 it/s] loss 0.5000`
 * with elapsed<remaining time and the rate, and at the end "done", "failed: why" or "interrupted".
 */
export function progressBundle(label: string, p: ProgressState, view: ProgressView): MimeBundle {
  const unit = view.unit ?? "it";
  const known = p.totalSteps > 0;
  const frac = known ? Math.min(1, Math.max(0, p.step / p.totalSteps)) : 0;
  const elapsed = Math.max(0, view.elapsedSeconds);
  const rate = elapsed > 0 ? p.step / elapsed : NaN;
  const remaining = p.etaSeconds ?? (known && rate > 0 ? Math.max(0, p.totalSteps - p.step) / rate : NaN);
  const running = view.status === "running";
  const time = `[${formatDuration(elapsed)}${running && known ? `<${formatDuration(remaining)}` : ""}, ${formatRate(rate, unit)}]`;
  const counts = known ? `${p.step}/${p.totalSteps}` : `${p.step} ${unit}`;
  const extras: string[] = [];
  if (p.loss !== undefined && Number.isFinite(p.loss)) extras.push(`loss ${p.loss.toFixed(4)}`);
  if (p.tokensPerSecond !== undefined && Number.isFinite(p.tokensPerSecond)) extras.push(`${Math.round(p.tokensPerSecond).toLocaleString("en-US")} tok/s`);
  if (p.message) extras.push(p.message);
  const end = view.status === "done" ? "done" : view.status === "failed" ? `failed${view.reason ? `: ${view.reason}` : ""}` : view.status === "interrupted" ? "interrupted" : "";
  const pct = known ? `${Math.floor(frac * 100)}%`.padStart(4) : "";
  const width = 30;
  const filled = Math.round(frac * width);
  const bar = known ? `|${"#".repeat(filled)}${".".repeat(width - filled)}|` : "";
  const tail = [time, ...extras].join(" ");
  const text = [label, pct + bar, counts, tail].filter(Boolean).join(" ") + (end ? ` ${end}` : "");
  const colour = STATUS_COLOUR[view.status];
  const htmlBar =
    `<div class="mixdistill-progress" data-status="${view.status}" style="font-family:monospace;font-size:12px">` +
    (label ? `<span>${escapeHtml(label)}</span> ` : "") +
    (known
      ? `<progress value="${frac.toFixed(4)}" max="1" style="width:240px;vertical-align:middle;accent-color:${colour}"></progress> <span>${pct.trim()} ${counts}</span> `
      : `<span>${escapeHtml(counts)}</span> `) +
    `<span>${escapeHtml(tail)}</span>` +
    (end ? ` <b style="color:${colour}">${escapeHtml(end)}</b>` : "") +
    `</div>`;
  return { "text/plain": text, "text/html": htmlBar };
}
