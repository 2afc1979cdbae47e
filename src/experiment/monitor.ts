/**
 * A live view of a sweep for notebooks: feed it the sweep's events; it displays as text (and a
 * small HTML table) through `display(monitor)`, and a display handle can re-show it on each event.
 */
import type { RunProgress } from "../train/spec.js";
import type { SweepCounts, SweepEvent, SweepStatus } from "./sweep.js";

interface RunningCell {
  label: string;
  progress?: RunProgress;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** A live view of a sweep: feed it the sweep's events and display it (text and a small HTML table). */
export class SweepMonitor {
  counts: SweepCounts = { total: 0, done: 0, cached: 0, running: 0, failed: 0 };
  budget = "";
  status: SweepStatus | "running" | "not started" = "not started";
  readonly running = new Map<string, RunningCell>();
  /** The last finished cells, newest last. */
  readonly finished: string[] = [];
  readonly errors: string[] = [];

  /** Pass as `onProgress`, or call from your own handler. */
  readonly update = (e: SweepEvent): void => {
    this.counts = e.counts;
    switch (e.type) {
      case "start":
        this.status = "running";
        this.budget = e.budget;
        break;
      case "cell-start":
        this.running.set(e.cell.key, { label: `${e.cell.student} / ${e.cell.variant} / seed ${e.cell.seed}` });
        break;
      case "cell-progress": {
        const r = this.running.get(e.cell.key);
        if (r) r.progress = e.progress;
        break;
      }
      case "cell-done":
        this.running.delete(e.cell.key);
        this.finished.push(`${e.cell.student} / ${e.cell.variant} / seed ${e.cell.seed}: ${(100 * e.accuracy).toFixed(1)}%${e.cached ? " (stored)" : ""}`);
        if (this.finished.length > 5) this.finished.shift();
        break;
      case "cell-error":
        this.running.delete(e.cell.key);
        this.errors.push(`${e.cell.student} / ${e.cell.variant} / seed ${e.cell.seed}: ${e.error.split("\n")[0]}`);
        break;
      case "end":
        this.status = e.status;
        this.running.clear();
        break;
    }
  };

  /**
   * An `onProgress` callback that updates this monitor and calls `show` (e.g. a display handle's
   * update) at most every `minIntervalMs`, and always when a cell starts, ends or fails.
   *
   *   const h = display(mon); await runSweep(cfg, { store, signal: kernel.signal, onProgress: mon.follow(() => h.update(mon)) });
   */
  follow(show: (m: SweepMonitor) => void, minIntervalMs = 250): (e: SweepEvent) => void {
    let last = 0;
    return (e) => {
      this.update(e);
      const now = Date.now();
      if (e.type === "cell-progress" && now - last < minIntervalMs) return;
      last = now;
      show(this);
    };
  }

  private runLine(r: RunningCell): string {
    const p = r.progress;
    if (!p) return `${r.label}: starting`;
    const pct = p.totalSteps > 0 ? Math.round((100 * p.step) / p.totalSteps) : 0;
    const extra = [p.loss !== undefined ? `loss ${p.loss.toFixed(3)}` : "", p.etaSeconds !== undefined ? `eta ${Math.round(p.etaSeconds)}s` : ""].filter(Boolean).join(", ");
    return `${r.label}: ${p.phase} ${p.step}/${p.totalSteps} (${pct}%)${extra ? `, ${extra}` : ""}`;
  }

  toString(): string {
    const c = this.counts;
    const lines = [`sweep ${this.status}: ${c.done}/${c.total} cells done (${c.cached} from the store), ${c.running} running, ${c.failed} failed${this.budget ? `; budget ${this.budget}` : ""}`];
    for (const r of this.running.values()) lines.push(`  running  ${this.runLine(r)}`);
    for (const f of this.finished) lines.push(`  done     ${f}`);
    for (const e of this.errors.slice(-5)) lines.push(`  failed   ${e}`);
    return lines.join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    const c = this.counts;
    const pct = c.total > 0 ? Math.round((100 * c.done) / c.total) : 0;
    const rows = [...this.running.values()].map((r) => `<li>${esc(this.runLine(r))}</li>`).join("");
    const html =
      `<div class="mixdistill-sweep"><div>${esc(this.toString().split("\n")[0])}</div>` +
      `<progress max="${c.total}" value="${c.done}" style="width:20em"></progress> ${pct}%` +
      (rows ? `<ul>${rows}</ul>` : "") +
      (this.errors.length ? `<pre>${esc(this.errors.slice(-5).join("\n"))}</pre>` : "") +
      `</div>`;
    return { "text/plain": this.toString(), "text/html": html };
  }
}
