#!/usr/bin/env bash
# Sets up mixdistill on a fresh Debian machine (idempotent): system packages (as root), npm packages,
# the TypeScript build, the JupyterLab extension and front end, and the kernelspec.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the kernel suite, notebooks and browser tests use. Python pieces run with /usr/bin/python3.
# libopenblas-dev and pkg-config build native/openblas, the wasm backend's faster matMul engine (optional).
APT_PACKAGES=(python3-jupyter-kernel-test jupyter-client python3-ipykernel python3-nbclient python3-nbconvert
  python3-nbformat python3-jupyter-server python3-jupyterlab-server chromium libopenblas-dev pkg-config)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (install them as root): ${missing[*]}" >&2
  fi
fi

# npm packages, exactly as locked. @tensorflow/tfjs-node-gpu is optional: its download fails offline and is skipped.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run build
# The OpenBLAS matMul engine (src/model/blas.ts): optional, so a machine without libopenblas-dev keeps XNNPACK.
if pkg-config --exists openblas 2>/dev/null; then
  npm run build:blas --silent >/tmp/mixdistill-build-blas.log 2>&1 \
    || echo "setup: native/openblas did not build (see /tmp/mixdistill-build-blas.log); the wasm backend keeps XNNPACK" >&2
else
  echo "setup: libopenblas-dev not found: native/openblas not built (MIXDISTILL_MATMUL=openblas needs it)" >&2
fi
if grep -q '"build"' extension/package.json; then
  npm run build --workspace extension
fi

# Kernelspec (and prebuilt labextension) into the user's Jupyter data dir.
node bin/mixdistill.js install --user
