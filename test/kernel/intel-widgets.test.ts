/**
 * The `widgets` global in the cells' language service: a small declaration of the widget classes
 * (not the library's own declarations), so completions list them and a wrong option type is a warning.
 */
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as TS from "typescript";
import { CellLanguageService } from "../../kernel/intel/language-service.js";

const ROOT = join(import.meta.dirname, "..", "..");
const ts = createRequire(join(ROOT, "package.json"))("typescript") as typeof TS;

let dir: string;
let service: CellLanguageService;

describe("language service: the widgets global", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mixdistill-intel-"));
    service = new CellLanguageService(ts, dir, ROOT);
    service.warmUp();
    // What the kernel declares once the widgets have loaded.
    service.declareGlobals(["mixer", "widgets"]);
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("completes widgets.IntS to IntSlider, and the members of a slider", () => {
    const code = "widgets.IntS";
    const r = service.complete(code, code.length);
    expect(r.matches).toContain("IntSlider");
    expect(r.start).toBe("widgets.".length);
    const all = service.complete("widgets.", "widgets.".length).matches;
    for (const name of ["IntSlider", "FloatSlider", "Dropdown", "ToggleButtons", "Text", "Checkbox", "Button", "HBox", "VBox", "Output", "anywidget"]) expect(all).toContain(name);
    const member = "const s = widgets.IntSlider({ max: 10 });\ns.";
    const members = service.complete(member, member.length).matches;
    expect(members).toEqual(expect.arrayContaining(["value", "observe", "description"]));
    const button = "widgets.Button({ description: 'go' }).onC";
    expect(service.complete(button, button.length).matches).toContain("onClick");
  });

  it("warns about a wrong option type, naming the option", () => {
    const diags = service.check('const s = widgets.IntSlider({ value: "5", max: 10 });');
    expect(diags.length).toBe(1);
    expect(diags[0]!.message).toMatch(/string.*number/);
    expect(diags[0]!.line).toBe(1);
    expect(service.check('widgets.Button({ button_style: "loud" });')[0]?.message).toMatch(/"loud"/);
    expect(service.check("widgets.HBox([1, 2]);").length).toBeGreaterThan(0);
  });

  it("types values, observe and onClick, with no false warnings on correct code", () => {
    const ok = [
      "const s = widgets.FloatSlider({ value: 0.5, min: 0, max: 1, step: 0.05, description: 'w' });",
      "const n: number = s.value; s.value = 0.25;",
      "const stop = s.observe((c) => console.log(c.name, c.new, c.origin), 'value'); stop();",
      "const d = widgets.Dropdown({ options: ['a', 'b'], value: 'b' }); const v: string = d.value; d.index = 0;",
      "const t = widgets.ToggleButtons({ options: [['One', 1], ['Two', 2]], button_style: 'info' });",
      "const b = widgets.Button({ description: 'Run', button_style: 'primary' }); b.onClick((x) => { x.description = 'done'; });",
      "const box = widgets.VBox([widgets.HBox([s, d]), widgets.Checkbox({ value: true }), widgets.Text({ value: 'x', placeholder: 'y' })]);",
      "const o = widgets.Output(); o.appendStdout('hi'); o.clear();",
      "const a = widgets.anywidget({ esm: 'export default { render() {} }', state: { count: 0 } }); a.set({ count: 1 }); a.get('count');",
    ].join("\n");
    expect(service.check(ok)).toEqual([]);
    expect(service.check("const n: number = widgets.Text().value;").length).toBe(1);
  });
});
