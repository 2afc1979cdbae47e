/**
 * TypeScript intelligence over the cells run so far. Each executed cell is a script file, so its
 * top-level declarations are global to the next cells, as at run time; its imports are rewritten to
 * `declare` statements with the imported types. The cell being edited is its own file on top.
 * Diagnostics are reported as warnings and never block execution.
 */
import { join } from "node:path";
import type * as TS from "typescript";
import { ownExportTypes } from "../execute/resolve.js";
import type { CellDiagnostic, CompletionResult } from "./protocol.js";

/** Codes that are artefacts of cells-as-files, not mistakes: redeclaration, top-level await in a script. */
const IGNORED_CODES = new Set([2451, 2300, 2393, 2323, 2567, 1375, 1378, 1431, 1432, 2306, 1208, 6133, 6196, 6138, 7027, 7028, 2441]);

const GLOBALS_DTS = `
/** Shows a value (rich via [Symbol.for("Jupyter.display")]()) or a raw mime bundle; returns a handle to update it in place. */
declare function display(obj: unknown, opts?: { id?: string; metadata?: Record<string, unknown>; raw?: boolean }): { readonly displayId: string; update(obj: unknown): void };
/** Replaces the output shown under display id \`id\`. */
declare function updateDisplay(id: string, obj: unknown): void;
/** Clears the cell's output; with \`wait\`, when the next output arrives. */
declare function clearOutput(opts?: { wait?: boolean }): void;
interface MixdistillRich { readonly bundle: Record<string, unknown> }
/** An HTML output. */
declare function html(source: string): MixdistillRich;
/** A Markdown output. */
declare function markdown(source: string): MixdistillRich;
/** An SVG image. */
declare function svg(source: string): MixdistillRich;
/** A PNG image from bytes or base64. */
declare function png(data: Uint8Array | string, opts?: { width?: number; height?: number }): MixdistillRich;
/** A JSON tree view. */
declare function json(value: unknown): MixdistillRich;
interface MixdistillProgressState { step: number; totalSteps: number; loss?: number; tokensPerSecond?: number; etaSeconds?: number; message?: string }
/** A progress bar that updates in place: elapsed<remaining time, rate, and an end state (done, failed, interrupted). */
declare function progress(opts?: { total?: number; label?: string; unit?: string; minIntervalMs?: number }): { readonly displayId: string; readonly status: "running" | "done" | "failed" | "interrupted"; update(p: Partial<MixdistillProgressState> | number, message?: string): void; done(p?: Partial<MixdistillProgressState>): void; fail(reason?: unknown): void };
/** Asks the front end for a line of input (stdin input_request). */
declare function input(prompt?: string, opts?: { password?: boolean }): Promise<string>;
/** Asks the front end for a line of input (stdin input_request). */
declare function prompt(prompt?: string, opts?: { password?: boolean }): Promise<string>;
/** Shows a value in the front end's pager. */
declare function page(obj: unknown): void;
/** Comms with the front end: registerTarget, unregisterTarget, open, get. */
declare const comms: import("@mixdistill/kernel-host").CommManager;
/** The AbortSignal of the running execution; an interrupt aborts it. */
declare function interruptSignal(): AbortSignal;
/** A Jupyter widget on the widget protocol 2.1 (ipywidgets' model names and traits). Show it with display(w) or as a cell's last value. */
interface MixdistillWidget {
  readonly id: string;
  /** A trait's current value. */
  get(name: string): unknown;
  /** Sets traits from code; the front ends follow. */
  set(patch: Record<string, unknown>): void;
  /** Calls fn after each change of the named traits (all when omitted); returns a function that stops observing. */
  observe(fn: (change: MixdistillWidgetChange) => void, names?: string | readonly string[]): () => void;
  /** Sends a \`custom\` message to the front ends. */
  send(content: unknown, buffers?: readonly Uint8Array[]): void;
  /** Handles \`custom\` messages from a front end. */
  onCustom(fn: (content: unknown, buffers: readonly Uint8Array[]) => void): void;
  close(): void;
}
interface MixdistillWidgetChange { name: string; old: unknown; new: unknown; owner: MixdistillWidget; origin: "frontend" | "code" }
interface MixdistillDescribed extends MixdistillWidget { description: string; disabled: boolean }
interface MixdistillValueWidget<V> extends MixdistillDescribed { value: V }
interface MixdistillDescriptionOptions { description?: string; disabled?: boolean }
interface MixdistillSliderOptions extends MixdistillDescriptionOptions { value?: number; min?: number; max?: number; step?: number; orientation?: "horizontal" | "vertical"; readout?: boolean; readout_format?: string; continuous_update?: boolean }
interface MixdistillSelectionOptions<V> extends MixdistillDescriptionOptions { /** Values, or [label, value] pairs. */ options: readonly (V | readonly [string, V])[]; value?: V; index?: number }
interface MixdistillSelection<V> extends MixdistillDescribed { readonly options: readonly V[]; index: number; readonly label: string; value: V }
type MixdistillButtonStyle = "primary" | "success" | "info" | "warning" | "danger" | "";
interface MixdistillButton extends MixdistillDescribed { /** Calls fn when the button is clicked in a front end. */ onClick(fn: (b: MixdistillButton) => void): void; /** Clicks from code (runs the handlers). */ click(): void }
interface MixdistillBox extends MixdistillDescribed { children: readonly MixdistillWidget[] }
interface MixdistillOutput extends MixdistillDescribed { appendStdout(text: string): void; appendDisplay(obj: unknown): void; clear(): void }
/** Jupyter widgets from cells: ipywidgets' common controls and anywidget. */
declare const widgets: {
  IntSlider(o?: MixdistillSliderOptions): MixdistillValueWidget<number>;
  FloatSlider(o?: MixdistillSliderOptions): MixdistillValueWidget<number>;
  Dropdown<V>(o: MixdistillSelectionOptions<V>): MixdistillSelection<V>;
  ToggleButtons<V>(o: MixdistillSelectionOptions<V> & { button_style?: MixdistillButtonStyle }): MixdistillSelection<V>;
  Text(o?: MixdistillDescriptionOptions & { value?: string; placeholder?: string; continuous_update?: boolean }): MixdistillValueWidget<string>;
  Checkbox(o?: MixdistillDescriptionOptions & { value?: boolean; indent?: boolean }): MixdistillValueWidget<boolean>;
  Button(o?: MixdistillDescriptionOptions & { button_style?: MixdistillButtonStyle; icon?: string }): MixdistillButton;
  HBox(children: readonly MixdistillWidget[]): MixdistillBox;
  VBox(children: readonly MixdistillWidget[]): MixdistillBox;
  Output(): MixdistillOutput;
  /** A custom widget: \`esm\` is an ES module whose default export has render({ model, el }); \`state\` holds its own traits. */
  anywidget(o: { esm: string; css?: string; state?: Record<string, unknown> }): MixdistillWidget;
};
/** Every helper, also when a cell has shadowed its global name; the running execution's signal; type checking on or off. */
declare const kernel: {
  readonly signal: AbortSignal; typeCheck: boolean; readonly comms: import("@mixdistill/kernel-host").CommManager;
  readonly display: typeof display; readonly updateDisplay: typeof updateDisplay; readonly clearOutput: typeof clearOutput;
  readonly html: typeof html; readonly markdown: typeof markdown; readonly svg: typeof svg; readonly png: typeof png; readonly json: typeof json;
  readonly progress: typeof progress; readonly input: typeof input; readonly prompt: typeof prompt; readonly page: typeof page;
  readonly interruptSignal: typeof interruptSignal; readonly [widget: string]: unknown;
};
`;

export class CellLanguageService {
  private readonly files = new Map<string, { text: string; version: number }>();
  private readonly cellFiles: string[] = [];
  private readonly service: TS.LanguageService;
  private readonly dir: string;
  private readonly current: string;
  private readonly cellNames = new Map<string, string>();

  constructor(private readonly ts: typeof TS, cwd: string, packageRoot: string) {
    this.dir = join(cwd, "__mixdistill_cells__");
    this.current = join(this.dir, "current.ts");
    const globals = join(this.dir, "globals.d.ts");
    this.files.set(globals, { text: GLOBALS_DTS, version: 1 });
    this.files.set(this.current, { text: "", version: 1 });
    const options: TS.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2023.d.ts"],
      types: ["node"],
      typeRoots: [join(packageRoot, "node_modules", "@types")],
      strict: true,
      noImplicitAny: false,
      skipLibCheck: true,
      allowJs: false,
      esModuleInterop: true,
      allowSyntheticDefaultImports: true,
      experimentalDecorators: true,
      noEmit: true,
      paths: {
        // What the package's "exports" map offers, as cells import it at run time.
        ...Object.fromEntries(Object.entries(ownExportTypes(packageRoot)).map(([spec, file]) => [spec, [file]])),
        "@mixdistill/kernel-host": [join(packageRoot, "dist", "kernel", "widgets", "host.d.ts")],
      },
    };
    const host: TS.LanguageServiceHost = {
      getCompilationSettings: () => options,
      getScriptFileNames: () => [globals, ...this.cellFiles, this.current],
      getScriptVersion: (f) => String(this.files.get(f)?.version ?? 0),
      getScriptSnapshot: (f) => {
        const v = this.files.get(f);
        if (v) return ts.ScriptSnapshot.fromString(v.text);
        const text = ts.sys.readFile(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => cwd,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.files.has(f) || ts.sys.fileExists(f),
      readFile: (f) => this.files.get(f)?.text ?? ts.sys.readFile(f),
      readDirectory: ts.sys.readDirectory,
      directoryExists: ts.sys.directoryExists,
      getDirectories: ts.sys.getDirectories,
      realpath: ts.sys.realpath,
    };
    this.service = ts.createLanguageService(host, ts.createDocumentRegistry());
  }

  /** Declares globals added at run time (widgets) as `any`, so cells using them get no false errors. */
  declareGlobals(names: string[]): void {
    const file = join(this.dir, "runtime-globals.d.ts");
    const valid = names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && !new RegExp(`declare (const|function) ${n}\\b`).test(GLOBALS_DTS));
    const prev = this.files.get(file);
    this.files.set(file, { text: valid.map((n) => `declare var ${n}: any;`).join("\n"), version: (prev?.version ?? 0) + 1 });
    if (!prev) this.cellFiles.unshift(file);
  }

  /** Forces the program (lib files, @types/node) to be built and bound. */
  warmUp(): void {
    this.setCurrent("const __warm: number = 1;");
    this.service.getSemanticDiagnostics(this.current);
    this.service.getCompletionsAtPosition(this.current, 0, {});
  }

  private setCurrent(text: string): void {
    const prev = this.files.get(this.current)!;
    if (prev.text !== text) this.files.set(this.current, { text, version: prev.version + 1 });
  }

  /** Adds an executed cell: later cells see its declarations. */
  record(code: string, filename: string): void {
    const file = join(this.dir, `cell${this.cellFiles.length + 1}.ts`);
    this.files.set(file, { text: this.asScript(code), version: 1 });
    this.cellFiles.push(file);
    this.cellNames.set(file, filename);
  }

  /** Type errors of a cell about to run (artefacts of cells-as-files left out). */
  check(code: string): CellDiagnostic[] {
    this.setCurrent(code);
    const ts = this.ts;
    const diags = [...this.service.getSyntacticDiagnostics(this.current), ...this.service.getSemanticDiagnostics(this.current)];
    const out: CellDiagnostic[] = [];
    for (const d of diags) {
      if (IGNORED_CODES.has(d.code) || d.category !== ts.DiagnosticCategory.Error) continue;
      const entry: CellDiagnostic = { code: d.code, message: ts.flattenDiagnosticMessageText(d.messageText, " ") };
      if (d.file && d.start !== undefined) {
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        entry.line = line + 1;
        entry.column = character + 1;
      }
      out.push(entry);
    }
    return out;
  }

  complete(code: string, cursor: number): CompletionResult {
    this.setCurrent(code);
    let start = cursor;
    while (start > 0 && /[\w$]/.test(code[start - 1]!)) start--;
    let end = cursor;
    while (end < code.length && /[\w$]/.test(code[end]!)) end++;
    const prefix = code.slice(start, cursor);
    const info = this.service.getCompletionsAtPosition(this.current, cursor, { includeCompletionsWithInsertText: false });
    const entries = (info?.entries ?? [])
      .filter((e) => e.name.startsWith(prefix) && !e.name.startsWith("__mixdistill"))
      .sort((a, b) => (a.sortText === b.sortText ? a.name.localeCompare(b.name) : a.sortText < b.sortText ? -1 : 1))
      .slice(0, 1000);
    const seen = new Set<string>();
    const unique = entries.filter((e) => (seen.has(e.name) ? false : (seen.add(e.name), true)));
    return {
      matches: unique.map((e) => e.name),
      start,
      end,
      types: unique.map((e) => ({ start, end, text: e.name, type: kindToJupyter(e.kind), signature: "" })),
    };
  }

  /** Signature and doc comment of the symbol at (or just before) the cursor. */
  inspect(code: string, cursor: number, detail: number): Record<string, string> | null {
    this.setCurrent(code);
    const ts = this.ts;
    let info: TS.QuickInfo | undefined;
    for (const pos of [cursor, cursor - 1]) {
      if (pos < 0) continue;
      info = this.service.getQuickInfoAtPosition(this.current, pos);
      if (info) break;
    }
    if (!info) return null;
    const signature = ts.displayPartsToString(info.displayParts);
    const doc = ts.displayPartsToString(info.documentation);
    const tags = (info.tags ?? []).map((t) => `@${t.name}${t.text ? " " + ts.displayPartsToString(t.text) : ""}`);
    const plainParts = [signature];
    if (doc) plainParts.push(doc);
    if (tags.length && detail > 0) plainParts.push(tags.join("\n"));
    else if (tags.length) plainParts.push(tags.slice(0, 5).join("\n"));
    const md = ["```typescript", signature, "```"];
    if (doc) md.push("", doc);
    if (tags.length) md.push("", ...tags.map((t) => `*${t}*`));
    return { "text/plain": plainParts.join("\n\n"), "text/markdown": md.join("\n") };
  }

  /**
   * A cell as a global script: `import` becomes `declare` statements carrying the imported types,
   * `export` modifiers are blanked. Positions of everything else are unchanged.
   */
  asScript(code: string): string {
    const ts = this.ts;
    const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const edits: Array<{ start: number; end: number; text: string }> = [];
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
        const m = JSON.stringify(st.moduleSpecifier.text);
        const parts: string[] = [];
        const clause = st.importClause;
        const typeOnly = clause?.isTypeOnly ?? false;
        if (clause?.name) {
          const n = clause.name.text;
          parts.push(typeOnly ? `type ${n} = import(${m}).default;` : `declare const ${n}: typeof import(${m}).default;`);
        }
        const nb = clause?.namedBindings;
        if (nb && ts.isNamespaceImport(nb)) {
          parts.push(`declare const ${nb.name.text}: typeof import(${m});`);
        } else if (nb && ts.isNamedImports(nb)) {
          for (const el of nb.elements) {
            const local = el.name.text;
            const imported = el.propertyName?.text ?? local;
            if (!typeOnly && !el.isTypeOnly) parts.push(`declare const ${local}: typeof import(${m}).${imported};`);
            parts.push(`type ${local} = import(${m}).${imported};`);
          }
        }
        const original = code.slice(st.getStart(sf), st.getEnd());
        const newlines = original.split("\n").length - 1;
        edits.push({ start: st.getStart(sf), end: st.getEnd(), text: parts.join(" ") + "\n".repeat(newlines) });
      } else if (ts.isExportDeclaration(st) || ts.isExportAssignment(st)) {
        const original = code.slice(st.getStart(sf), st.getEnd());
        edits.push({ start: st.getStart(sf), end: st.getEnd(), text: original.replace(/[^\n]/g, " ") });
      } else {
        const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined;
        for (const mod of mods ?? []) {
          if (mod.kind === ts.SyntaxKind.ExportKeyword || mod.kind === ts.SyntaxKind.DefaultKeyword) {
            edits.push({ start: mod.getStart(sf), end: mod.getEnd(), text: " ".repeat(mod.getEnd() - mod.getStart(sf)) });
          }
        }
      }
    }
    edits.sort((a, b) => b.start - a.start);
    let out = code;
    for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
    return out;
  }
}

function kindToJupyter(kind: string): string {
  switch (kind) {
    case "function":
    case "local function":
      return "function";
    case "method":
      return "method";
    case "class":
      return "class";
    case "interface":
    case "type":
      return "type";
    case "module":
      return "module";
    case "keyword":
      return "keyword";
    case "property":
    case "getter":
    case "setter":
      return "property";
    default:
      return "instance";
  }
}
