#!/usr/bin/env bash
# Starts JupyterLab on notebooks/ with the mixdistill kernel and extension, and prints the URL.
# Uses the user's own JupyterLab when one is installed; otherwise the JupyterLab 4 front end built
# in extension/app on Debian's jupyter_server (python3-jupyter-server, python3-jupyterlab-server).
# The kernelspec and the prebuilt labextension are installed into .cache/jupyter (found through
# JUPYTER_PATH), so nothing outside the checkout changes. HTML exports (File > Save and Export As > HTML)
# use the `mixdistill` nbconvert template install provides: plotly.js and MathJax inlined, offline.
# Environment: PORT (default 8888), IP (default 127.0.0.1), TOKEN (default: random).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=${PORT:-8888}
IP=${IP:-127.0.0.1}
TOKEN=${TOKEN:-$(node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("hex"))')}
PREFIX="$ROOT/.cache/jupyter-prefix"

[ -f dist/kernel/cli.js ] || npm run build
node extension/scripts/build.mjs lib labextension
node bin/mixdistill.js install --prefix "$PREFIX" >/dev/null
export JUPYTER_PATH="$PREFIX/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"

ROOT_FLAG=()
[ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-root)
URL="http://$IP:$PORT/lab?token=$TOKEN"

if jupyter lab --version >/dev/null 2>&1; then
  echo "mixdistill: starting your JupyterLab ($(jupyter lab --version)) on notebooks/"
  echo "mixdistill: open $URL"
  exec jupyter lab --no-browser --ip="$IP" --port="$PORT" --ServerApp.port_retries=0 \
    --ServerApp.token="$TOKEN" --ServerApp.root_dir="$ROOT/notebooks" --HTMLExporter.template_name=mixdistill "${ROOT_FLAG[@]}"
fi

if ! /usr/bin/python3 -c 'import jupyter_server, jupyterlab_server' 2>/dev/null; then
  echo "mixdistill: no JupyterLab found, and Debian's python3-jupyter-server / python3-jupyterlab-server are missing" >&2
  exit 1
fi
node extension/scripts/build.mjs app
echo "mixdistill: starting the bundled JupyterLab 4 front end on Debian's jupyter_server, on notebooks/"
echo "mixdistill: open $URL"
exec /usr/bin/python3 extension/app/serve.py --state-dir "$ROOT/.cache/lab-state" --no-browser --ip="$IP" --port="$PORT" \
  --ServerApp.port_retries=0 --ServerApp.token="$TOKEN" --ServerApp.root_dir="$ROOT/notebooks" "${ROOT_FLAG[@]}"
