#!/usr/bin/env node
// Entry point of the `mixdistill` CLI: the compiled dispatcher lives in dist/.
import("../dist/kernel/cli.js").then((m) => m.main(process.argv.slice(2))).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    process.stderr.write(`mixdistill: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
