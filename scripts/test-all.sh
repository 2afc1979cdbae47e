#!/usr/bin/env bash
# Every test suite: unit, kernel conformance (Debian's jupyter_kernel_test), notebooks (nbclient),
# and the browser suite (real JupyterLab front end in headless Chromium). Run after scripts/setup.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
npm run build || exit 1
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@"
rc=$?
node -e '
const r = JSON.parse(require("fs").readFileSync(".cache/vitest.json", "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`mixdistill: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || exit 1
exit $rc
