/**
 * `mixdistill install`: the kernelspec (absolute node path, message-mode interrupts, logos) and the
 * prebuilt JupyterLab extension, into a Jupyter data directory. Written to temp names and renamed.
 */
import process from "node:process";
import { Buffer } from "node:buffer";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { deflateSync } from "node:zlib";

export const KERNEL_NAME = "mixdistill";
export const DISPLAY_NAME = "TypeScript (mixdistill)";

/** The user data dir as jupyter_core computes it on Linux. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return resolve(env.JUPYTER_DATA_DIR);
  const xdg = env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return join(xdg, "jupyter");
}

export function kernelSpec(packageRoot: string): Record<string, unknown> {
  return {
    argv: [process.execPath, join(packageRoot, "bin", "mixdistill.js"), "kernel", "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "message",
    env: {},
    metadata: { debugger: false },
  };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** The logo: a rounded blue square with a white "md" monogram drawn from rectangles, as an RGBA PNG. */
export function logoPng(size: number): Buffer {
  const px = Buffer.alloc(size * size * 4);
  const s = size / 32;
  const inRect = (x: number, y: number, x0: number, y0: number, w: number, h: number): boolean => x >= x0 * s && x < (x0 + w) * s && y >= y0 * s && y < (y0 + h) * s;
  const strokes: Array<[number, number, number, number]> = [
    // "m"
    [4, 12, 2, 14], [4, 12, 10, 2], [9, 12, 2, 14], [14, 12, 2, 14],
    // "d"
    [19, 16, 2, 10], [19, 16, 8, 2], [19, 24, 8, 2], [25, 6, 2, 20],
  ];
  const r = 5 * s;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const cx = Math.min(x, size - 1 - x);
      const cy = Math.min(y, size - 1 - y);
      const outside = cx < r && cy < r && (r - cx) ** 2 + (r - cy) ** 2 > r * r;
      if (outside) continue;
      const white = strokes.some(([x0, y0, w, h]) => inRect(x, y, x0, y0, w, h));
      px.set(white ? [255, 255, 255, 255] : [49, 120, 198, 255], i);
    }
  }
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) px.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/** Replaces directory `target` with a fully written `build(tmp)` in one rename. */
function replaceDir(target: string, build: (tmp: string) => void): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The name of the nbconvert HTML template `mixdistill install` provides. */
export const NBCONVERT_TEMPLATE = "mixdistill";

/** A JavaScript file as a Jinja template that includes it verbatim, safe inside a <script> element. */
function rawJinja(js: string, what: string): string {
  if (js.includes("{% endraw %}")) throw new Error(`${what} contains "{% endraw %}" and cannot be included in the nbconvert template`);
  return `{% raw %}${js.replace(/<\/script/gi, "<\\/script")}{% endraw %}`;
}

const PLOT_MIME_FOR_TEMPLATE = "application/vnd.mixdistill.plot.v1+json";

/**
 * The `mixdistill` nbconvert template: JupyterLab's `lab` HTML template with what an offline report
 * needs and nothing it cannot load. plotly.js is inlined once, only when the notebook has plots;
 * MathJax 3 (SVG output, no font files) is inlined so markdown maths renders offline; no require.js
 * (nothing in these reports loads AMD modules, and Debian's template points at a file that is often
 * not installed), and no widget-manager script from a CDN: a widget output shows its static fallback
 * (text/html, else text/plain) whether or not the notebook carries widget state, so the mixer's last
 * composition is visible offline.
 */
export function nbconvertTemplateFiles(): Record<string, string> {
  // plotly.js and MathJax as this package's own dependencies resolve them.
  const require = createRequire(import.meta.url);
  const plotly = readFileSync(require.resolve("plotly.js-dist-min/plotly.min.js"), "utf8");
  let mathjax: string | undefined;
  try {
    mathjax = readFileSync(require.resolve("mathjax-full/es5/tex-svg.js"), "utf8");
  } catch {
    // Without mathjax-full the lab template's own MathJax block stays.
  }
  const conf = { base_template: "lab", mimetypes: { "text/html": true } };
  const index = `{%- extends 'lab/index.html.j2' -%}
{#- mixdistill's HTML report template (installed by \`mixdistill install\`). -#}
{%- macro has_output(nb, mime) -%}
{%- for cell in nb.cells -%}{%- for output in cell.get('outputs', []) -%}{%- if output.get('data') and mime in output.get('data') -%}1{%- endif -%}{%- endfor -%}{%- endfor -%}
{%- endmacro -%}

{%- block html_head_js -%}
{%- if has_output(nb, '${PLOT_MIME_FOR_TEMPLATE}') %}
<script type="text/javascript">if (!window.Plotly) { (function (module, exports, define) {
{% include 'plotly.min.js.j2' %}
}).call(window); }</script>
{%- endif -%}
{%- endblock html_head_js -%}

{%- block jupyter_widgets -%}
{%- endblock jupyter_widgets -%}

{#- No widget manager is loaded (it would come from a CDN), so a widget view is shown by its static
    fallback, also when the notebook carries widget state: text/html where the widget has one (the
    mixer's last composition), else text/plain. Never an empty widget placeholder. -#}
{%- block data_widget_view scoped -%}
{%- if 'text/html' in output.data -%}
<div class="jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output {{ extra_class }}" data-mime-type="text/html">
{%- if resources.should_sanitize_html %}
{{ output.data['text/html'] | clean_html }}
{%- else %}
{{ output.data['text/html'] }}
{%- endif %}
</div>
{%- else -%}
<div class="jp-RenderedText jp-OutputArea-output {{ extra_class }}" data-mime-type="text/plain">
<pre>
{{- output.data.get('text/plain', '') | ansi2html -}}
</pre>
</div>
{%- endif -%}
{%- endblock data_widget_view -%}

${mathjax === undefined ? "" : `{%- block html_head_js_mathjax -%}
<script type="text/javascript">
window.MathJax = {
  tex: { inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]], processEscapes: true, processEnvironments: true },
  options: { skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"], ignoreHtmlClass: "tex2jax_ignore|mixdistill-plot-text" },
  svg: { fontCache: "global" },
};
</script>
<script type="text/javascript">
{% include 'mathjax-tex-svg.js.j2' %}
</script>
{%- endblock html_head_js_mathjax -%}
`}`;
  return {
    "conf.json": JSON.stringify(conf, null, 2) + "\n",
    "index.html.j2": index,
    "plotly.min.js.j2": rawJinja(plotly, "plotly.min.js"),
    ...(mathjax === undefined ? {} : { "mathjax-tex-svg.js.j2": rawJinja(mathjax, "MathJax's tex-svg.js") }),
  };
}

export interface InstallResult {
  dataDir: string;
  kernelDir: string;
  /** The nbconvert HTML template (\`--template mixdistill\`). */
  nbconvertTemplateDir: string;
  labextensionDir?: string;
  /** Where JupyterLab's widget manager (`widgets.*` need it) and anywidget's front end were found, if at all. */
  widgetManagerDir?: string;
  anywidgetDir?: string;
}

/**
 * Finds a labextension by package name in the Jupyter data directories a JupyterLab would read:
 * the given one, $JUPYTER_PATH, the active virtualenv or conda prefix, /usr/local and /usr.
 */
export function findLabextension(
  name: string,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  systemDirs: readonly string[] = ["/usr/local/share/jupyter", "/usr/share/jupyter"],
): string | undefined {
  const dirs = [
    dataDir,
    ...(env.JUPYTER_PATH ?? "").split(":").filter(Boolean),
    ...[env.VIRTUAL_ENV, env.CONDA_PREFIX].filter((p): p is string => !!p).map((p) => join(p, "share", "jupyter")),
    ...systemDirs,
  ];
  for (const d of dirs) {
    const p = join(d, "labextensions", ...name.split("/"));
    if (existsSync(join(p, "package.json"))) return p;
  }
  return undefined;
}

export function install(packageRoot: string, dataDir: string): InstallResult {
  const kernelDir = join(dataDir, "kernels", KERNEL_NAME);
  replaceDir(kernelDir, (tmp) => {
    writeFileSync(join(tmp, "kernel.json"), JSON.stringify(kernelSpec(packageRoot), null, 2) + "\n");
    writeFileSync(join(tmp, "logo-32x32.png"), logoPng(32));
    writeFileSync(join(tmp, "logo-64x64.png"), logoPng(64));
  });
  const nbconvertTemplateDir = join(dataDir, "nbconvert", "templates", NBCONVERT_TEMPLATE);
  const templateFiles = nbconvertTemplateFiles();
  replaceDir(nbconvertTemplateDir, (tmp) => {
    for (const [name, text] of Object.entries(templateFiles)) writeFileSync(join(tmp, name), text);
  });
  const result: InstallResult = { dataDir, kernelDir, nbconvertTemplateDir };
  const prebuilt = join(packageRoot, "extension", "labextension");
  if (existsSync(prebuilt)) {
    const target = join(dataDir, "labextensions", "mixdistill-labextension");
    replaceDir(target, (tmp) => cpSync(prebuilt, tmp, { recursive: true }));
    result.labextensionDir = target;
  }
  result.widgetManagerDir = findLabextension("@jupyter-widgets/jupyterlab-manager", dataDir);
  result.anywidgetDir = findLabextension("anywidget", dataDir);
  return result;
}
