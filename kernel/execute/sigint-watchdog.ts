/**
 * Node's SIGINT watchdog, held for the kernel's lifetime. Every `runInThisContext({ breakOnSigint })`
 * starts the watchdog's helper thread and joins it again when the code returns, unless the watchdog is
 * already started: a thread started and joined per cell is most of a `1+1` cell's time on the main
 * thread (160-215 µs a call here, 4 µs with the watchdog held). The REPL holds it the same way, through
 * the same binding (`startSigintWatchdog`).
 *
 * While it is held, SIGINT goes to the watchdog: it stops `breakOnSigint` code, and one that lands
 * between cells is swallowed (the kernel never dies of it). A `process.on("SIGINT")` listener and a
 * held watchdog do not mix (a SIGINT then ends the process), so the kernel keeps no listener of its
 * own while it holds the watchdog, and releases it before the next cell once cell code adds one:
 * Node's per-call watchdog then works beside the listeners, as without the hold.
 */
import process from "node:process";

interface ContextifyBinding {
  startSigintWatchdog(): boolean;
  stopSigintWatchdog(): boolean;
}

const binding = ((): ContextifyBinding | undefined => {
  try {
    const b = (process as unknown as { binding?: (name: string) => unknown }).binding?.("contextify") as Partial<ContextifyBinding> | undefined;
    return typeof b?.startSigintWatchdog === "function" && typeof b.stopSigintWatchdog === "function" ? (b as ContextifyBinding) : undefined;
  } catch {
    return undefined;
  }
})();

let held = false;

/** Holds the watchdog; false where the binding is missing (the per-call watchdog is used then). */
export function holdSigintWatchdog(): boolean {
  if (held) return true;
  if (!binding || process.listenerCount("SIGINT") > 0) return false;
  try {
    held = binding.startSigintWatchdog();
  } catch {
    held = false;
  }
  return held;
}

/** Before cell code runs: releases the hold once something added a SIGINT listener. */
export function sigintWatchdogBeforeCell(): void {
  if (held && process.listenerCount("SIGINT") > 0) releaseSigintWatchdog();
}

/** Releases the hold; a no-op SIGINT listener of the kernel's then keeps a stray SIGINT from ending it. */
export function releaseSigintWatchdog(): void {
  if (!held) return;
  held = false;
  binding?.stopSigintWatchdog();
  process.on("SIGINT", () => undefined);
}
