/**
 * Turns a TypeScript cell into a script that runs in the kernel's global scope:
 *  - types are stripped by esbuild (fast; no type checking here),
 *  - the body runs inside an async arrow so top-level `await` works,
 *  - top-level declarations (let/const/var/function/class/enum, imports) become globals, so later
 *    cells see them and a re-run cell may declare them again,
 *  - `import` statements and `import()` go through the kernel's resolver (npm packages, ESM or CJS,
 *    and `mixdistill` itself),
 *  - the value of a final expression statement is returned.
 * Line numbers are preserved through every rewrite; esbuild's source map maps them back to the cell.
 */
import type { Node as AcornNode } from "acorn";

// esbuild and acorn load on first use (or from warmUp), not at kernel start-up.
let esbuild: Promise<typeof import("esbuild")> | undefined;
let acorn: Promise<typeof import("acorn")> | undefined;
const loadEsbuild = () => (esbuild ??= import("esbuild"));
const loadAcorn = () => (acorn ??= import("acorn"));

/** Loads the transpiler and parser and starts esbuild's service, so the first cell does not wait. */
export async function warmUp(): Promise<void> {
  const [{ transform }] = await Promise.all([loadEsbuild(), loadAcorn()]);
  await transform("0", { loader: "ts" });
}

/** esbuild's transform, for other modules that need it lazily. */
export async function esbuildTransform(...args: Parameters<typeof import("esbuild").transform>) {
  return (await loadEsbuild()).transform(...args);
}

/** Name of the runtime object the rewritten code calls (imports); set on globalThis by the executor. */
export const RUNTIME = "__mixdistill_rt";

export interface SourceMapPayload {
  version: number;
  sources: string[];
  sourcesContent?: string[];
  mappings: string;
  names: string[];
  file?: string;
  sourceRoot?: string;
}

export interface TransformedCell {
  /** Script source: evaluates to a Promise of `{ value }` (or `undefined` when no final expression). */
  script: string;
  /** Maps lines of `script` (after the prefix on line 1) to lines of the cell; absent when they are the same. */
  map: SourceMapPayload | undefined;
  /** Characters of the wrapper before the cell's code on line 1 of `script`. */
  prefix: number;
  /** How the rewrite moved columns: positions in `script` (after the prefix) to the code `map` starts from. */
  columns: ColumnAnchors;
  /** Names the cell declares at top level (the executor defines them as globals before the script runs). */
  declared: string[];
  /** Enums the cell declares: they start empty, so a re-run replaces the enum instead of merging into it. */
  enums: string[];
  /** Whether the cell ends with an expression whose value is shown. */
  hasResult: boolean;
}

/** A TypeScript syntax error, with its position in the cell (1-based line, 0-based column). */
export class CellSyntaxError extends Error {
  constructor(message: string, readonly line: number, readonly column: number, readonly lineText: string) {
    super(message);
    this.name = "SyntaxError";
  }
}

type AnyNode = AcornNode & Record<string, unknown>;

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Where the columns of a rewritten line come from, per 0-based line: `[outColumn, sourceColumn, inserted]`
 * from that column on (an inserted run maps every column to where the insertion stands).
 */
export type ColumnAnchors = Map<number, Array<[number, number, boolean]>>;

/**
 * Applies edits (non-overlapping) keeping the number of newlines of every replaced range, and records
 * how columns moved, so positions in the rewritten code map back to the code it was made from.
 */
function applyEdits(src: string, edits: Edit[]): { code: string; columns: ColumnAnchors } {
  edits.sort((a, b) => a.start - b.start || a.end - b.end);
  const columns: ColumnAnchors = new Map();
  let out = "";
  let pos = 0;
  let line = 0;
  let outCol = 0;
  const anchor = (srcCol: number, inserted: boolean): void => {
    let list = columns.get(line);
    if (!list) columns.set(line, (list = []));
    list.push([outCol, srcCol, inserted]);
  };
  const srcColumn = (at: number): number => at - (src.lastIndexOf("\n", at - 1) + 1);
  const copy = (from: number, to: number): void => {
    if (from >= to) return;
    const pieces = src.slice(from, to).split("\n");
    anchor(srcColumn(from), false);
    pieces.forEach((piece, i) => {
      if (i > 0) {
        line++;
        outCol = 0;
        anchor(0, false);
      }
      outCol += piece.length;
    });
    out += src.slice(from, to);
  };
  for (const e of edits) {
    if (e.start < pos) throw new Error(`internal: overlapping edits at ${e.start}`);
    copy(pos, e.start);
    const removed = src.slice(e.start, e.end);
    const lost = (removed.match(/\n/g)?.length ?? 0) - (e.text.match(/\n/g)?.length ?? 0);
    const text = e.text + (lost > 0 ? "\n".repeat(lost) : "");
    const pieces = text.split("\n");
    pieces.forEach((piece, i) => {
      if (i > 0) {
        line++;
        outCol = 0;
      }
      if (piece.length) anchor(srcColumn(e.start), true);
      outCol += piece.length;
    });
    out += text;
    pos = e.end;
    // What follows the edit continues from the end of the range it replaced.
    anchor(srcColumn(e.end), false);
  }
  copy(pos, src.length);
  return { code: out, columns };
}

/** A 0-based position in rewritten code, mapped through `columns` to the code it was made from. */
export function unshiftColumn(columns: ColumnAnchors, line: number, column: number): number {
  const list = columns.get(line);
  if (!list) return column;
  let best: [number, number, boolean] | undefined;
  for (const a of list) if (a[0] <= column) best = a;
  if (!best) return column;
  return best[2] ? best[1] : best[1] + (column - best[0]);
}

/** Names bound by a declaration pattern (`a`, `{a, b: [c]}`, `...rest`, defaults). */
function boundNames(pattern: AnyNode, out: string[]): void {
  switch (pattern.type) {
    case "Identifier":
      out.push(pattern.name as string);
      break;
    case "ObjectPattern":
      for (const p of pattern.properties as AnyNode[]) {
        boundNames((p.type === "RestElement" ? p.argument : p.value) as AnyNode, out);
      }
      break;
    case "ArrayPattern":
      for (const el of pattern.elements as (AnyNode | null)[]) if (el) boundNames(el, out);
      break;
    case "RestElement":
      boundNames(pattern.argument as AnyNode, out);
      break;
    case "AssignmentPattern":
      boundNames(pattern.left as AnyNode, out);
      break;
  }
}

/** Visits every node below `node` (a small generic walker: acorn nodes are plain objects with `type`). */
function walk(node: AnyNode, visit: (n: AnyNode) => void): void {
  visit(node);
  for (const key of Object.keys(node)) {
    const v = (node as Record<string, unknown>)[key];
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof c === "object" && typeof (c as AnyNode).type === "string") walk(c as AnyNode, visit);
    } else if (v && typeof v === "object" && typeof (v as AnyNode).type === "string") {
      walk(v as AnyNode, visit);
    }
  }
}

const TSCONFIG = {
  compilerOptions: {
    // Keep every import a cell writes: a name imported in one cell is used by later cells.
    verbatimModuleSyntax: true,
    experimentalDecorators: true,
    useDefineForClassFields: true,
  },
};

type AcornModule = typeof import("acorn");

const PARSE_OPTIONS = { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true } as const;

/**
 * Cells that are plain JavaScript need no transpiling: TypeScript gives them the same meaning, except
 * `f<T>(x)`, a generic call in TypeScript and two comparisons in JavaScript, so any `<` takes the
 * esbuild path. Saves esbuild's round trip (~1 ms) on such cells.
 */
function parsePlainJs(parser: AcornModule, source: string): AnyNode | undefined {
  if (source.includes("<")) return undefined;
  try {
    return parser.Parser.parse(source, PARSE_OPTIONS) as unknown as AnyNode;
  } catch {
    return undefined;
  }
}

export async function transformCell(source: string, filename: string): Promise<TransformedCell> {
  const parser = await loadAcorn();
  const plain = parsePlainJs(parser, source);
  if (plain) return rewrite(source, plain, undefined);
  const { transform } = await loadEsbuild();
  let js: string;
  let map: SourceMapPayload;
  try {
    const r = await transform(source, {
      loader: "ts",
      format: "esm",
      target: "es2022",
      sourcemap: "external",
      sourcefile: filename,
      tsconfigRaw: TSCONFIG,
      logLevel: "silent",
    });
    js = r.code;
    map = JSON.parse(r.map) as SourceMapPayload;
  } catch (err) {
    const first = (err as { errors?: Array<{ text: string; location?: { line: number; column: number; lineText: string } }> }).errors?.[0];
    if (first) {
      const loc = first.location;
      throw new CellSyntaxError(first.text, loc?.line ?? 1, loc?.column ?? 0, loc?.lineText ?? "");
    }
    throw err;
  }

  let program: AnyNode;
  try {
    program = parser.Parser.parse(js, PARSE_OPTIONS) as unknown as AnyNode;
  } catch (err) {
    // esbuild accepted the TypeScript, so this is a construct the rewrite cannot handle.
    throw new CellSyntaxError(`cannot run this cell: ${(err as Error).message}`, 1, 0, "");
  }
  return rewrite(js, program, map);
}

/** The rewrite of parsed JavaScript `js` (see the file comment); `map` maps `js` back to the cell. */
function rewrite(js: string, program: AnyNode, map: SourceMapPayload | undefined): TransformedCell {

  const edits: Edit[] = [];
  const declared: string[] = [];
  const functionNames: string[] = [];
  const enums: string[] = [];
  const body = program.body as AnyNode[];
  let importIndex = 0;
  const rt = RUNTIME;

  const declareVariables = (decl: AnyNode, prefixEnd: number): void => {
    const declarators = decl.declarations as AnyNode[];
    // Drop the `const` / `let` / `var` keyword (and `export`, when prefixEnd covers it). The `;` keeps
    // a cell without semicolons from running `(a = 1)\n(b = 2)` together as a call.
    edits.push({ start: prefixEnd, end: declarators[0]!.start, text: ";" });
    const constNames: string[] = [];
    for (const d of declarators) {
      const names: string[] = [];
      boundNames(d.id as AnyNode, names);
      declared.push(...names);
      if (decl.kind === "const") constNames.push(...names);
      if (isEnumInit(d)) enums.push(...names);
      if (d.init) {
        edits.push({ start: d.start, end: d.start, text: "(" });
        edits.push({ start: d.end, end: d.end, text: ")" });
      } else if (decl.kind === "var") {
        edits.push({ start: d.start, end: d.end, text: "void 0" });
      } else {
        edits.push({ start: d.end, end: d.end, text: " = undefined" });
      }
    }
    // A top-level const stays constant for the rest of the session's cells (until redeclared).
    if (constNames.length) edits.push({ start: decl.end, end: decl.end, text: `;${rt}.freeze(${JSON.stringify(constNames)});` });
  };

  const declareNode = (node: AnyNode, start: number): boolean => {
    switch (node.type) {
      case "VariableDeclaration":
        declareVariables(node, start);
        return true;
      case "FunctionDeclaration": {
        const name = (node.id as AnyNode).name as string;
        declared.push(name);
        functionNames.push(name);
        if (start !== node.start) edits.push({ start, end: node.start, text: "" });
        return true;
      }
      case "ClassDeclaration": {
        const name = (node.id as AnyNode).name as string;
        declared.push(name);
        edits.push({ start, end: node.start, text: `;${name} = ` });
        edits.push({ start: node.end, end: node.end, text: ";" });
        return true;
      }
      default:
        return false;
    }
  };

  body.forEach((node, i) => {
    switch (node.type) {
      case "ImportDeclaration": {
        const spec = JSON.stringify((node.source as AnyNode).value);
        const tmp = `__mdImport${importIndex++}`;
        declared.push(tmp);
        const parts = [`;${tmp} = await ${rt}.import(${spec});`];
        for (const s of node.specifiers as AnyNode[]) {
          const local = (s.local as AnyNode).name as string;
          declared.push(local);
          if (s.type === "ImportDefaultSpecifier") parts.push(`${local} = ${rt}.defaultExport(${tmp});`);
          else if (s.type === "ImportNamespaceSpecifier") parts.push(`${local} = ${tmp};`);
          else {
            const imported = s.imported as AnyNode;
            const name = imported.type === "Identifier" ? (imported.name as string) : String(imported.value);
            parts.push(`${local} = ${rt}.namedExport(${tmp}, ${JSON.stringify(name)}, ${spec});`);
          }
        }
        edits.push({ start: node.start, end: node.end, text: parts.join(" ") });
        return;
      }
      case "ExportNamedDeclaration":
        if (node.declaration) declareNode(node.declaration as AnyNode, node.start);
        else edits.push({ start: node.start, end: node.end, text: "" });
        return;
      case "ExportAllDeclaration":
        edits.push({ start: node.start, end: node.end, text: "" });
        return;
      case "ExportDefaultDeclaration": {
        const decl = node.declaration as AnyNode;
        if ((decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") && decl.id) {
          declareNode(decl, node.start);
        } else if (decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") {
          // `export default function () {}` / `export default class {}`: an anonymous value, evaluated.
          edits.push({ start: node.start, end: decl.start, text: ";(" });
          edits.push({ start: decl.end, end: decl.end, text: ");" });
        } else {
          edits.push({ start: node.start, end: decl.start, text: "" });
        }
        return;
      }
      case "ExpressionStatement":
        if (i === body.length - 1) {
          // The statement's range covers parentheses acorn leaves out of the expression's, and the `;`.
          edits.push({ start: node.start, end: node.start, text: "return { value: (" });
          const semi = js[node.end - 1] === ";";
          edits.push({ start: semi ? node.end - 1 : node.end, end: node.end, text: ") };" });
        }
        break;
      default:
        declareNode(node, node.start);
    }
  });
  const hasResult = body.length > 0 && body[body.length - 1]!.type === "ExpressionStatement";

  // Dynamic import() anywhere in the cell goes through the same resolver.
  walk(program, (n) => {
    if (n.type === "ImportExpression") edits.push({ start: n.start, end: n.start + "import".length, text: `${rt}.import` });
    // A script has no import.meta; the runtime's stands for the notebook's directory.
    else if (n.type === "MetaProperty" && (n.meta as AnyNode).name === "import") edits.push({ start: n.start, end: n.end, text: `${rt}.importMeta` });
  });

  const unique = [...new Set(declared)];
  // Function declarations are hoisted inside the async arrow; publish them as globals first thing,
  // and again when the cell ends, so `f = other` in the declaring cell is what later cells see.
  const publish = functionNames.map((f) => `${rt}.global.${f} = ${f};`).join(" ");
  const { code, columns } = applyEdits(js, edits);
  const head = publish ? `(async () => {${publish} ${rt}.atEnd(() => {${publish}}); ` : `(async () => { `;
  const script = `${head}${code}\n})()`;
  return { script, map, prefix: head.length, columns, declared: unique, enums: [...new Set(enums)], hasResult };
}

/** esbuild's enum output: `var E = ((E2) => { ... })(E || {})` (with a pure annotation). */
function isEnumInit(d: AnyNode): boolean {
  const id = d.id as AnyNode;
  const init = d.init as AnyNode | null;
  if (id.type !== "Identifier" || !init || init.type !== "CallExpression") return false;
  const arg = (init.arguments as AnyNode[])[0];
  if (!arg || arg.type !== "LogicalExpression" || arg.operator !== "||") return false;
  const left = arg.left as AnyNode;
  const right = arg.right as AnyNode;
  return left.type === "Identifier" && left.name === id.name && right.type === "ObjectExpression" && (right.properties as unknown[]).length === 0;
}
