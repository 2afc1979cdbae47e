#!/usr/bin/python3
"""Execute mixdistill notebooks headlessly with nbclient and write executed copies and HTML reports.

Parameters follow the papermill convention: the cell tagged `parameters` holds the defaults, and the
values given here go into a cell tagged `injected-parameters` right after it (TypeScript re-declarations,
which the mixdistill kernel allows). `--small` uses each notebook's own small test settings from its
metadata (`metadata.mixdistill.test_parameters`).

`--product` runs the notebooks that ship with mixdistill (PRODUCT_NOTEBOOKS, in notebooks/ next to this
script) and nothing else a user saved in that folder. Reports are written like any other output file:
their permissions follow the umask (readable by group and others under the usual 022).

Exit status: 0 when every notebook ran with no error output, 1 otherwise, 2 for bad arguments.
Runs with Debian's /usr/bin/python3 (nbclient, nbconvert, nbformat).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


# The notebooks that ship with mixdistill, in reading order (`npm run notebooks` runs these).
PRODUCT_NOTEBOOKS = (
    "01-paper-learnability-gap.ipynb",
    "02-building-mixes.ipynb",
    "03-toy-gap-study.ipynb",
    "04-importing-real-runs.ipynb",
)
PRODUCT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")


def ts_literal(value):
    """A TypeScript literal for a JSON-compatible value."""
    return json.dumps(value)


def inject_parameters(nb, params, path):
    if not params:
        return
    index = None
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            index = i
            break
    if index is None:
        raise SystemExit(f"{path}: no cell tagged 'parameters' to override")
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    lines = ["// Parameters injected by scripts/run_notebooks.py"]
    for name, value in params.items():
        if not name.isidentifier():
            raise SystemExit(f"{path}: parameter name {name!r} is not an identifier")
        lines.append(f"const {name} = {ts_literal(value)};")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


def error_outputs(nb):
    errors = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return errors


def html_exporter(template):
    """nbconvert's HTML exporter with the `mixdistill` template (plotly.js once and MathJax inlined, so
    reports draw plots and maths offline), which `mixdistill install` puts in the Jupyter data dir."""
    from jupyter_core.paths import jupyter_path
    from nbconvert import HTMLExporter

    found = any(os.path.isdir(os.path.join(d, "nbconvert", "templates", template)) for d in jupyter_path())
    if not found:
        raise SystemExit(f"nbconvert template {template!r} not found in {jupyter_path()}: "
                         "run `node bin/mixdistill.js install` (or `npm run setup`) first")
    return HTMLExporter(template_name=template)


def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, text):
    """Writes `path` through a temporary file in the same folder and one rename. mkstemp creates the
    temporary file 0600; it gets the mode an ordinary new file would have (0666 less the umask) before the
    rename, and it is removed if writing fails."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebook files to execute")
    ap.add_argument("--product", action="store_true",
                    help="execute the notebooks that ship with mixdistill (" + ", ".join(PRODUCT_NOTEBOOKS) + ")")
    ap.add_argument("--list", action="store_true", help="print the notebooks that would run, one a line, and exit")
    ap.add_argument("--out", help="folder for executed notebooks and HTML reports")
    ap.add_argument("--small", action="store_true", help="use each notebook's small test parameters")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=JSON",
                    help="override a parameter (JSON value), e.g. -p seeds=2")
    ap.add_argument("--kernel", default="mixdistill", help="kernelspec name (default: mixdistill)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default: 1800)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML reports")
    ap.add_argument("--template", default="mixdistill",
                    help="nbconvert HTML template of the reports (default: mixdistill, from `mixdistill install`)")
    args = ap.parse_args(argv)

    paths = list(args.notebooks)
    if args.product:
        paths += [os.path.join(PRODUCT_DIR, n) for n in PRODUCT_NOTEBOOKS]
    if not paths:
        ap.error("no notebooks given: name notebook files or pass --product")
    for path in paths:
        if not os.path.isfile(path):
            ap.error(f"notebook {path!r} does not exist")
    if args.list:
        print("\n".join(paths))
        return 0
    if not args.out:
        ap.error("--out is required: the folder for executed notebooks and HTML reports")

    overrides = {}
    for p in args.param:
        if "=" not in p:
            ap.error(f"--param {p!r}: expected NAME=JSON")
        name, raw = p.split("=", 1)
        try:
            overrides[name] = json.loads(raw)
        except json.JSONDecodeError as e:
            ap.error(f"--param {name}: value is not JSON: {e}")

    summary = []
    failed = False
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        params = {}
        if args.small:
            # "{out}" in a test parameter is the --out folder: a small run's own files (notebook 3's
            # results store) go there, never into the committed results a notebook reads by default.
            out_dir = os.path.abspath(args.out)
            for name, value in nb.metadata.get("mixdistill", {}).get("test_parameters", {}).items():
                params[name] = value.replace("{out}", out_dir) if isinstance(value, str) else value
        params.update(overrides)
        inject_parameters(nb, params, path)
        # The widget state goes into the executed notebook's metadata (as JupyterLab saves it), so a
        # saved report's widgets come back live when it is opened with the kernel; the HTML report
        # (mixdistill template) shows each widget's static fallback, the mixer's last composition.
        client = NotebookClient(nb, timeout=args.timeout, kernel_name=args.kernel, store_widget_state=True,
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        start = time.time()
        status = "ok"
        message = ""
        try:
            client.execute()
        except CellExecutionError as e:
            status, message = "error", str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
        except Exception as e:  # kernel died, timeout
            status, message = "error", f"{type(e).__name__}: {e}"
        errs = error_outputs(nb)
        if errs and status == "ok":
            status, message = "error", "; ".join(errs)
        seconds = round(time.time() - start, 1)
        base = os.path.splitext(os.path.basename(path))[0]
        out_nb = os.path.join(args.out, base + ".ipynb")
        atomic_write(out_nb, nbformat.writes(nb))
        html_path = None
        if not args.no_html:
            body, _ = html_exporter(args.template).from_notebook_node(nb)
            html_path = os.path.join(args.out, base + ".html")
            atomic_write(html_path, body)
        summary.append({"notebook": path, "status": status, "seconds": seconds, "executed": out_nb,
                        "html": html_path, "message": message})
        print(f"{status:5s} {seconds:7.1f}s {path}" + (f"  -- {message}" if message else ""), flush=True)
        failed = failed or status != "ok"
    atomic_write(os.path.join(args.out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
