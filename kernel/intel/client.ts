/**
 * The kernel's handle on the language-service thread. Started after the first reply so start-up
 * stays fast. Diagnostics are only computed once the service is ready, so a cell never waits for
 * TypeScript to load; completion and inspection do wait (bounded).
 */
import { setTimeout, clearTimeout } from "node:timers";
import { Worker } from "node:worker_threads";
import type { CellDiagnostic, CompletionResult, IntelRequest, IntelResponse, IntelWorkerData } from "./protocol.js";

type Pending = { resolve: (r: IntelResponse) => void };
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export interface IntelOptions extends IntelWorkerData {
  log: (line: string) => void;
}

export class IntelClient {
  private worker: Worker | undefined;
  private ready: Promise<boolean> | undefined;
  private isReady = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /**
   * Diagnostics by cell text, valid while no cell was recorded and no global declared since: a cell
   * run again unchanged is not checked again.
   */
  private readonly checked = new Map<string, CellDiagnostic[]>();

  constructor(private readonly opts: IntelOptions) {}

  /** Starts the thread (idempotent). Resolves true once TypeScript is loaded and warm. */
  warmUp(): Promise<boolean> {
    this.ready ??= new Promise<boolean>((resolve) => {
      const worker = new Worker(new URL("./worker.js", import.meta.url), {
        workerData: { cwd: this.opts.cwd, packageRoot: this.opts.packageRoot } satisfies IntelWorkerData,
      });
      this.worker = worker;
      worker.unref();
      worker.on("message", (m: IntelResponse) => {
        if (m.type === "ready") {
          this.isReady = true;
          resolve(true);
        } else if (m.type === "failed") {
          this.opts.log(`language service unavailable: ${m.error}`);
          resolve(false);
        } else {
          const p = this.pending.get(m.id);
          if (p) {
            this.pending.delete(m.id);
            p.resolve(m);
          }
        }
      });
      worker.on("error", (err) => {
        this.opts.log(`language service failed: ${err.stack ?? String(err)}`);
        this.isReady = false;
        resolve(false);
        for (const p of this.pending.values()) p.resolve({ id: 0, type: "error", error: String(err) });
        this.pending.clear();
      });
    });
    return this.ready;
  }

  private request(req: WithoutId<IntelRequest>, timeoutMs: number): Promise<IntelResponse | undefined> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      worker.postMessage({ ...req, id } as IntelRequest);
    });
  }

  /** Type errors of a cell as warning lines; empty when the service is not warm yet. */
  async checkCell(code: string, filename: string): Promise<string[]> {
    if (!this.isReady) return [];
    let diagnostics = this.checked.get(code);
    if (!diagnostics) {
      const r = await this.request({ type: "check", code }, 5000);
      if (r?.type !== "check") return [];
      diagnostics = r.diagnostics;
      this.checked.set(code, diagnostics);
      if (this.checked.size > 200) this.checked.delete(this.checked.keys().next().value!);
    }
    return diagnostics.map((d) => `warning TS${d.code} at ${filename}${d.line ? `:${d.line}:${d.column}` : ""}: ${d.message}`);
  }

  recordCell(code: string, filename: string, ok: boolean): void {
    if (!ok) return;
    this.checked.clear();
    void this.warmUp();
    this.worker!.postMessage({ id: 0, type: "record", code, filename } satisfies IntelRequest);
  }

  /** Names of globals added at run time (widgets). */
  declareGlobals(names: string[]): void {
    if (!names.length) return;
    this.checked.clear();
    void this.warmUp();
    this.worker!.postMessage({ id: 0, type: "globals", names } satisfies IntelRequest);
  }

  async complete(code: string, cursor: number): Promise<CompletionResult> {
    const empty: CompletionResult = { matches: [], start: cursor, end: cursor, types: [] };
    if (!(await this.warmUp())) return empty;
    const r = await this.request({ type: "complete", code, cursor }, 10_000);
    return r?.type === "complete" ? r.result : empty;
  }

  async inspect(code: string, cursor: number, detail: number): Promise<Record<string, string> | undefined> {
    if (!(await this.warmUp())) return undefined;
    const r = await this.request({ type: "inspect", code, cursor, detail }, 10_000);
    return r?.type === "inspect" && r.data ? r.data : undefined;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
