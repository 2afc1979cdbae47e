#!/usr/bin/env node
// Entry point of the `mixdistill` CLI: the compiled dispatcher lives in dist/.
// A command that returns no exit code (the kernel) keeps running until it exits by itself.
import("../dist/kernel/cli.js").then((m) => m.main(process.argv.slice(2))).then(
  (code) => {
    if (typeof code === "number") process.exit(code);
  },
  (err) => {
    process.stderr.write(`mixdistill: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
