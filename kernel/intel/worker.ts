/** The language-service thread: loads TypeScript (slow, ~1 s) off the kernel's main thread. */
import { createRequire } from "node:module";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import type * as TS from "typescript";
import { CellLanguageService } from "./language-service.js";
import type { IntelRequest, IntelResponse, IntelWorkerData } from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("intel worker must run as a worker thread");
const { cwd, packageRoot } = workerData as IntelWorkerData;
const post = (m: IntelResponse): void => port.postMessage(m);

let service: CellLanguageService | undefined;
const t0 = Date.now();
try {
  const ts = createRequire(join(packageRoot, "package.json"))("typescript") as typeof TS;
  service = new CellLanguageService(ts, cwd, packageRoot);
  service.warmUp();
  post({ type: "ready", ms: Date.now() - t0 });
} catch (err) {
  post({ type: "failed", error: (err as Error).stack ?? String(err) });
}

port.on("message", (req: IntelRequest) => {
  if (!service) {
    if (req.type !== "record" && req.type !== "globals") post({ id: req.id, type: "error", error: "language service unavailable" });
    return;
  }
  try {
    switch (req.type) {
      case "record":
        service.record(req.code, req.filename);
        break;
      case "globals":
        service.declareGlobals(req.names);
        break;
      case "check":
        post({ id: req.id, type: "check", diagnostics: service.check(req.code) });
        break;
      case "complete":
        post({ id: req.id, type: "complete", result: service.complete(req.code, req.cursor) });
        break;
      case "inspect":
        post({ id: req.id, type: "inspect", data: service.inspect(req.code, req.cursor, req.detail) });
        break;
    }
  } catch (err) {
    if (req.type !== "record" && req.type !== "globals") post({ id: req.id, type: "error", error: (err as Error).stack ?? String(err) });
  }
});
