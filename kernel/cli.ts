/**
 * The `mixdistill` command. Subcommands load only what they need, so `kernel` starts fast.
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const USAGE = `usage: mixdistill <command> [options]

commands:
  install [--user | --prefix DIR]   install the kernelspec (and the prebuilt JupyterLab extension)
                                    into the user's Jupyter data dir (default) or DIR/share/jupyter
  kernel CONNECTION_FILE            run the kernel (what kernel.json runs)
  synth | mix | stats ...           corpus tools (see \`mixdistill synth --help\`)
  study --preset quick|full         the toy learnability-gap study (see \`mixdistill study --help\`)
  gaps DIR | --run S:V=PATH ...     gap report with intervals from evaluation runs
  --help, --version
`;

function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** Returns an exit code, or nothing when the command keeps running (the kernel). */
export async function main(argv: string[]): Promise<number | void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    case "--version":
    case "-V":
      process.stdout.write(`${version()}\n`);
      return 0;
    case "install":
      return runInstall(rest);
    case "kernel":
      return runKernel(rest);
    case "synth":
    case "mix":
    case "stats":
    case "study":
    case "gaps":
      return runData(argv);
    default:
      process.stderr.write(`mixdistill: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
      return 2;
  }
}

async function runInstall(args: string[]): Promise<number> {
  const { install, userDataDir } = await import("./install.js");
  let dataDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--user") dataDir = userDataDir();
    else if (a === "--prefix" || a.startsWith("--prefix=")) {
      const v = a.includes("=") ? a.slice("--prefix=".length) : args[++i];
      if (!v) {
        process.stderr.write("mixdistill install: --prefix needs a directory\n");
        return 2;
      }
      dataDir = join(resolve(v), "share", "jupyter");
    } else if (a === "--help" || a === "-h") {
      process.stdout.write(USAGE);
      return 0;
    } else {
      process.stderr.write(`mixdistill install: unknown option ${JSON.stringify(a)}\n`);
      return 2;
    }
  }
  const r = install(PACKAGE_ROOT, dataDir ?? userDataDir());
  process.stdout.write(`installed kernelspec "mixdistill" in ${r.kernelDir}\n`);
  process.stdout.write(`installed nbconvert HTML template "mixdistill" (plotly.js and MathJax for offline reports) in ${r.nbconvertTemplateDir}\n`);
  if (r.labextensionDir) process.stdout.write(`installed JupyterLab extension in ${r.labextensionDir}\n`);
  else process.stdout.write("no prebuilt JupyterLab extension found (extension/labextension); kernel only\n");
  if (r.widgetManagerDir) process.stdout.write(`JupyterLab widget manager found in ${r.widgetManagerDir}: widgets.* and the mixer render in JupyterLab\n`);
  else
    process.stdout.write(
      "JupyterLab widget manager not found: for widgets.* and the mixer in your own JupyterLab, install it with `pip install jupyterlab_widgets` " +
        "(JupyterLab and Notebook 7 need it; VS Code brings its own)\n",
    );
  if (!r.anywidgetDir)
    process.stdout.write(
      r.labextensionDir
        ? "anywidget's own front end not found: the mixdistill extension's anywidget host renders the mixer and widgets.anywidget(...) in JupyterLab\n"
        : "anywidget's front end not found: for the mixer and widgets.anywidget(...) in JupyterLab, `pip install anywidget`\n",
    );
  return 0;
}

async function runKernel(args: string[]): Promise<number | void> {
  const file = args[0];
  if (!file || args.length > 1) {
    process.stderr.write("usage: mixdistill kernel CONNECTION_FILE\n");
    return 2;
  }
  const [{ readConnectionFile }, { Kernel }] = await Promise.all([import("./protocol/wire.js"), import("./kernel.js")]);
  const info = readConnectionFile(file);
  const maxBytes = process.env.MIXDISTILL_MAX_MESSAGE_BYTES;
  const maxJsonBytes = maxBytes && /^\d+$/.test(maxBytes) ? Number(maxBytes) : undefined;
  const languageService = process.env.MIXDISTILL_LANGUAGE_SERVICE !== "0";
  const typeCheck = process.env.MIXDISTILL_TYPECHECK !== "0";
  await Kernel.start({ info, cwd: process.cwd(), maxJsonBytes, languageService, typeCheck });
  // The kernel runs until a shutdown_request; returning nothing keeps the process alive.
}

async function runData(argv: string[]): Promise<number> {
  // Loaded only for these commands: the library is not on the kernel's start-up path.
  const { runDataCli } = await import("../src/cli/index.js");
  return runDataCli(argv);
}
