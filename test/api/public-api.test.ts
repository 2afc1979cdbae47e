// The curated public API: `mixdistill` lists its exports by name, at most 150 values, each with a
// doc comment (what a cell's completions show); everything else stays reachable from
// `mixdistill/advanced`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as api from "../../src/index.js";
import * as advanced from "../../src/advanced.js";

const root = join(import.meta.dirname, "..", "..");

function exportsOf(file: string): Array<{ name: string; value: boolean; doc: string }> {
  const prog = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true });
  const chk = prog.getTypeChecker();
  const mod = chk.getSymbolAtLocation(prog.getSourceFile(file)!)!;
  return chk.getExportsOfModule(mod).map((s) => {
    // The doc comment may sit on the declaration or on a re-export along the way (`export * as x`).
    let doc = "";
    let value = false;
    for (let t: ts.Symbol | undefined = s; t; ) {
      doc ||= ts.displayPartsToString(t.getDocumentationComment(chk)).trim();
      if (!(t.flags & ts.SymbolFlags.Alias)) {
        value = !!(t.flags & ts.SymbolFlags.Value);
        // A module namespace (`export * as x from "./file.js"`): the file's opening doc comment.
        const sf = t.valueDeclaration;
        if (!doc && sf && ts.isSourceFile(sf)) doc = /^\/\*\*[^]*?\*\//.exec(sf.text.trimStart())?.[0] ?? "";
        break;
      }
      t = chk.getImmediateAliasedSymbol(t);
    }
    return { name: s.name, value, doc };
  });
}

describe("public API", () => {
  const list = exportsOf(join(root, "src", "index.ts"));
  const values = list.filter((e) => e.value);

  it("exports at most 150 values from mixdistill, each with a doc comment", () => {
    expect(values.length).toBeGreaterThan(100);
    expect(values.length).toBeLessThanOrEqual(150);
    expect(values.filter((e) => !e.doc).map((e) => e.name)).toEqual([]);
    // The runtime module has exactly the checked values.
    expect(Object.keys(api).sort()).toEqual(values.map((e) => e.name).sort());
  });

  it("lists its exports by name (no export *)", () => {
    expect(readFileSync(join(root, "src", "index.ts"), "utf8")).not.toMatch(/export \*/);
  });

  it("keeps internals out of mixdistill and in mixdistill/advanced", () => {
    for (const name of ["readLineSpans", "setKernelMode", "r4", "QuestionDrawer", "planMix", "ExportWriter", "makeRng"]) {
      expect(name in api, name).toBe(false);
      expect(name in advanced, name).toBe(true);
    }
    for (const name of Object.keys(api)) expect((advanced as Record<string, unknown>)[name], name).toBe((api as Record<string, unknown>)[name]);
  });

  it("has a subpath export for mixdistill/advanced", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }> };
    expect(pkg.exports["./advanced"]).toEqual({ types: "./dist/src/advanced.d.ts", default: "./dist/src/advanced.js" });
  });
});
