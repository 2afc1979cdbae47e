/**
 * The common ipywidgets controls on the kernel's widget protocol, with ipywidgets' model names and
 * traits (so any widget front end renders them: JupyterLab's widget manager, Notebook 7, VS Code),
 * and an anywidget-compatible generic widget whose front-end module travels in `_esm`.
 */
import {
  BASE_MODULE,
  CONTROLS_MODULE,
  CONTROLS_VERSION,
  OUTPUT_MODULE,
  OUTPUT_VERSION,
} from "../../src/contract/widget.js";
import { anywidgetFields, WidgetModel, WidgetRegistry, t, type Change, type TraitCheck } from "./model.js";

const controlState = (model: string, view: string, module = CONTROLS_MODULE, version = CONTROLS_VERSION) => ({
  _model_name: `${model}Model`,
  _model_module: module,
  _model_module_version: version,
  _view_name: `${view}View`,
  _view_module: module,
  _view_module_version: version,
});

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

type Opts = Record<string, unknown>;

/** A DOM widget: a LayoutModel and a style model are opened first and referenced as "IPY_MODEL_<id>". */
export class DOMWidget extends WidgetModel {
  readonly layout: WidgetModel;
  readonly style: WidgetModel | undefined;

  constructor(registry: WidgetRegistry, kind: string, state: Opts, traits: Record<string, TraitCheck>, styleModel: string | undefined, view = kind) {
    const layout = new WidgetModel(registry, { ...controlState("Layout", "Layout", BASE_MODULE), _model_module: BASE_MODULE }, {});
    const style = styleModel
      ? new WidgetModel(registry, { ...controlState(styleModel, "Style"), _view_module: BASE_MODULE, _view_name: "StyleView", description_width: "" }, {})
      : undefined;
    super(
      registry,
      {
        ...controlState(kind, view),
        _dom_classes: [],
        layout: `IPY_MODEL_${layout.id}`,
        ...(style ? { style: `IPY_MODEL_${style.id}` } : {}),
        tabbable: null,
        tooltip: null,
        ...state,
      },
      { description: t.str(), disabled: t.bool(), ...traits },
    );
    this.layout = layout;
    this.style = style;
  }

  get description(): string {
    return this.get("description") as string;
  }
  set description(v: string) {
    this.set({ description: v });
  }
  get disabled(): boolean {
    return this.get("disabled") as boolean;
  }
  set disabled(v: boolean) {
    this.set({ disabled: v });
  }

  override close(): void {
    super.close();
    this.layout.close();
    this.style?.close();
  }
}

/** A control with a `value` trait. */
export class ValueWidget<V> extends DOMWidget {
  get value(): V {
    return this.get("value") as V;
  }
  set value(v: V) {
    this.set({ value: v });
  }

  protected override staticHtml(): string | undefined {
    const d = this.description ? `${escapeHtml(this.description)} ` : "";
    return `<div class="mixdistill-widget-static">${d}<b>${escapeHtml(String(this.get("value")))}</b></div>`;
  }
}

const description = (o: Opts) => ({ description: String(o.description ?? ""), description_allow_html: false, disabled: Boolean(o.disabled ?? false) });

function sliderState(o: Opts, int: boolean) {
  const min = Number(o.min ?? 0);
  const max = Number(o.max ?? (int ? 100 : 10));
  if (!(max >= min)) throw new RangeError(`slider: max (${max}) must be at least min (${min})`);
  const value = Math.min(max, Math.max(min, Number(o.value ?? min)));
  return {
    ...description(o),
    value,
    min,
    max,
    step: Number(o.step ?? (int ? 1 : 0.1)),
    orientation: String(o.orientation ?? "horizontal"),
    readout: Boolean(o.readout ?? true),
    readout_format: String(o.readout_format ?? (int ? "d" : ".2f")),
    continuous_update: Boolean(o.continuous_update ?? true),
    behavior: "drag-tap",
  };
}

export class IntSlider extends ValueWidget<number> {
  constructor(registry: WidgetRegistry, o: Opts = {}) {
    if (o.value !== undefined && !Number.isInteger(o.value)) throw new TypeError(`IntSlider: value must be an integer, got ${JSON.stringify(o.value)}`);
    const lim = { min: (m: WidgetModel) => m.get("min") as number, max: (m: WidgetModel) => m.get("max") as number };
    super(registry, "IntSlider", sliderState(o, true), { value: t.int(lim) }, "SliderStyle");
  }
}

export class FloatSlider extends ValueWidget<number> {
  constructor(registry: WidgetRegistry, o: Opts = {}) {
    const lim = { min: (m: WidgetModel) => m.get("min") as number, max: (m: WidgetModel) => m.get("max") as number };
    super(registry, "FloatSlider", sliderState(o, false), { value: t.float(lim) }, "SliderStyle");
  }
}

export class Text extends ValueWidget<string> {
  constructor(registry: WidgetRegistry, o: Opts = {}) {
    super(registry, "Text", { ...description(o), value: String(o.value ?? ""), placeholder: String(o.placeholder ?? "\u200b"), continuous_update: Boolean(o.continuous_update ?? true) }, { value: t.str() }, "TextStyle");
  }
}

export class Checkbox extends ValueWidget<boolean> {
  constructor(registry: WidgetRegistry, o: Opts = {}) {
    super(registry, "Checkbox", { ...description(o), value: Boolean(o.value ?? false), indent: Boolean(o.indent ?? true) }, { value: t.bool() }, "CheckboxStyle");
  }
}

/**
 * A selection (Dropdown, ToggleButtons): front ends see `_options_labels` and `index`, as in
 * ipywidgets; `.value` is the chosen option's value, kernel side.
 */
export class Selection<V = unknown> extends DOMWidget {
  private readonly optionValues: V[];

  constructor(registry: WidgetRegistry, kind: "Dropdown" | "ToggleButtons", o: Opts, style: string) {
    const raw = o.options;
    if (!Array.isArray(raw) || raw.length === 0) throw new TypeError(`${kind}: options must be a non-empty array (values, or [label, value] pairs)`);
    const pairs = raw.map((x) => (Array.isArray(x) && x.length === 2 ? [String(x[0]), x[1]] : [String(x), x]) as [string, V]);
    let index = o.value === undefined ? 0 : pairs.findIndex(([, v]) => Object.is(v, o.value));
    if (index < 0) throw new RangeError(`${kind}: value ${JSON.stringify(o.value)} is not one of the options`);
    if (o.index !== undefined) index = Number(o.index);
    const extra = kind === "ToggleButtons" ? { button_style: String(o.button_style ?? ""), tooltips: [], icons: [] } : {};
    super(
      registry,
      kind,
      { ...description(o), _options_labels: pairs.map(([l]) => l), index, ...extra },
      { index: t.int({ min: () => 0, max: () => pairs.length - 1 }) },
      style,
    );
    this.optionValues = pairs.map(([, v]) => v);
  }

  get options(): readonly V[] {
    return this.optionValues;
  }
  get index(): number {
    return this.get("index") as number;
  }
  set index(i: number) {
    this.set({ index: i });
  }
  get label(): string {
    return (this.get("_options_labels") as string[])[this.index]!;
  }
  get value(): V {
    return this.optionValues[this.index]!;
  }
  set value(v: V) {
    const i = this.optionValues.findIndex((x) => Object.is(x, v));
    if (i < 0) throw new RangeError(`${String(this.get("_model_name")).replace(/Model$/, "")}: ${JSON.stringify(v)} is not one of the options`);
    this.set({ index: i });
  }

  /** Observing `value` observes `index` (what front ends change); the change carries values. */
  override observe(fn: (change: Change) => void, names?: string | readonly string[]): () => void {
    const list = names === undefined ? undefined : typeof names === "string" ? [names] : [...names];
    const wantsValue = !list || list.includes("value");
    return super.observe((c) => {
      if (c.name === "index" && wantsValue) fn({ ...c, name: "value", old: this.optionValues[c.old as number], new: this.optionValues[c.new as number] });
      else if (!list || list.includes(c.name)) fn(c);
    }, list ? [...list.filter((n) => n !== "value"), "index"] : undefined);
  }

  protected override textSummary(): string {
    return `value=${JSON.stringify(this.value)}`;
  }

  protected override staticHtml(): string {
    const d = this.description ? `${escapeHtml(this.description)} ` : "";
    return `<div class="mixdistill-widget-static">${d}<b>${escapeHtml(this.label)}</b></div>`;
  }
}

export class Button extends DOMWidget {
  private readonly clickHandlers: ((b: Button) => void)[] = [];

  constructor(registry: WidgetRegistry, o: Opts = {}) {
    super(registry, "Button", { description: String(o.description ?? ""), disabled: Boolean(o.disabled ?? false), button_style: String(o.button_style ?? ""), icon: String(o.icon ?? "") }, { button_style: t.oneOf(["primary", "success", "info", "warning", "danger", ""]) }, "ButtonStyle");
    this.onCustom((content) => {
      if ((content as { event?: unknown } | null)?.event !== "click") return;
      for (const h of [...this.clickHandlers]) {
        try {
          h(this);
        } catch (err) {
          this.registry.host.reportError?.("Button onClick handler", err);
        }
      }
    });
  }

  /** Calls fn when the button is clicked in a front end (ipywidgets' on_click). */
  onClick(fn: (b: Button) => void): void {
    if (typeof fn !== "function") throw new TypeError("Button.onClick(fn): fn must be a function");
    this.clickHandlers.push(fn);
  }

  /** Clicks from code (runs the handlers). */
  click(): void {
    for (const h of [...this.clickHandlers]) h(this);
  }

  protected override textSummary(): string {
    return `description=${JSON.stringify(this.description)}`;
  }
}

/** HBox / VBox: children laid out in a row / column. */
export class Box extends DOMWidget {
  private kids: WidgetModel[];

  constructor(registry: WidgetRegistry, kind: "HBox" | "VBox", children: readonly WidgetModel[]) {
    if (!Array.isArray(children) || !children.every((c) => c instanceof WidgetModel)) throw new TypeError(`${kind}(children): children must be an array of widgets`);
    super(registry, kind, { children: children.map((c) => `IPY_MODEL_${c.id}`), box_style: "" }, {}, undefined);
    this.kids = [...children];
  }

  get children(): readonly WidgetModel[] {
    return this.kids;
  }
  set children(c: readonly WidgetModel[]) {
    if (!Array.isArray(c) || !c.every((x) => x instanceof WidgetModel)) throw new TypeError("children must be an array of widgets");
    this.kids = [...c];
    this.set({ children: c.map((x) => `IPY_MODEL_${x.id}`) });
  }

  protected override textSummary(): string {
    return this.kids.map((k) => k.toString()).join(", ");
  }

  protected override staticHtml(): string {
    const dir = String(this.get("_model_name")) === "HBoxModel" ? "row" : "column";
    const parts = this.kids.map((k) => {
      const b = (k as unknown as { [s: symbol]: () => Record<string, unknown> })[Symbol.for("Jupyter.display")]!();
      return `<div>${typeof b["text/html"] === "string" ? b["text/html"] : escapeHtml(String(b["text/plain"]))}</div>`;
    });
    return `<div style="display:flex;flex-direction:${dir};gap:8px">${parts.join("")}</div>`;
  }
}

/** Output: an area whose outputs the kernel sets (appendStdout, appendDisplay, clear). */
export class Output extends DOMWidget {
  constructor(registry: WidgetRegistry) {
    super(registry, "Output", { ...controlState("Output", "Output", OUTPUT_MODULE, OUTPUT_VERSION), msg_id: "", outputs: [] }, {}, undefined);
  }

  appendStdout(text: string): void {
    this.set({ outputs: [...(this.get("outputs") as unknown[]), { output_type: "stream", name: "stdout", text: String(text) }] });
  }

  appendDisplay(bundle: Record<string, unknown>): void {
    const data = (bundle as { [s: symbol]: unknown })[Symbol.for("Jupyter.display")]
      ? (bundle as unknown as { [s: symbol]: () => Record<string, unknown> })[Symbol.for("Jupyter.display")]!()
      : bundle;
    this.set({ outputs: [...(this.get("outputs") as unknown[]), { output_type: "display_data", data, metadata: {} }] });
  }

  clear(): void {
    this.set({ outputs: [] });
  }

  protected override textSummary(): string {
    return `${(this.get("outputs") as unknown[]).length} outputs`;
  }
}

/**
 * An anywidget: `esm` is an ES module whose default export has `render({ model, el })` (and
 * optionally `initialize`); `state` holds the widget's own traits, each settable from both sides.
 */
export class AnyWidget extends WidgetModel {
  constructor(registry: WidgetRegistry, o: { esm?: unknown; css?: unknown; state?: Record<string, unknown> }) {
    if (typeof o?.esm !== "string" || !o.esm.trim()) throw new TypeError("widgets.anywidget({ esm, css?, state? }): esm must be the source of an ES module");
    if (o.css !== undefined && typeof o.css !== "string") throw new TypeError("widgets.anywidget: css must be a string");
    const own = o.state ?? {};
    if (typeof own !== "object" || Array.isArray(own)) throw new TypeError("widgets.anywidget: state must be an object");
    for (const k of Object.keys(own)) if (k.startsWith("_")) throw new TypeError(`widgets.anywidget: state key ${JSON.stringify(k)} starts with "_" (reserved for the protocol)`);
    const traits: Record<string, TraitCheck> = {};
    for (const [k, v] of Object.entries(own)) traits[k] = sameKind(k, v);
    super(
      registry,
      {
        ...anywidgetFields(o.esm, "mixdistill.anywidget", o.css),
        ...own,
      },
      traits,
    );
  }
}

/** A front end may change a trait's value but not its kind (number, string, boolean, array, object, bytes). */
function sameKind(name: string, initial: unknown): TraitCheck {
  const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : ArrayBuffer.isView(v) || v instanceof ArrayBuffer ? "bytes" : typeof v);
  const k0 = kind(initial);
  return (v) => {
    if (k0 !== "null" && kind(v) !== k0) throw new Error(`expected ${k0} (as the initial value of ${name}), got ${kind(v)}`);
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`expected a finite number, got ${String(v)}`);
    return v;
  };
}

/** The `widgets` cell global. */
export function widgetsApi(registry: WidgetRegistry) {
  return {
    IntSlider: (o?: Opts) => new IntSlider(registry, o),
    FloatSlider: (o?: Opts) => new FloatSlider(registry, o),
    Dropdown: (o: Opts) => new Selection(registry, "Dropdown", o, "DescriptionStyle"),
    ToggleButtons: (o: Opts) => new Selection(registry, "ToggleButtons", o, "ToggleButtonsStyle"),
    Text: (o?: Opts) => new Text(registry, o),
    Checkbox: (o?: Opts) => new Checkbox(registry, o),
    Button: (o?: Opts) => new Button(registry, o),
    HBox: (children: readonly WidgetModel[]) => new Box(registry, "HBox", children),
    VBox: (children: readonly WidgetModel[]) => new Box(registry, "VBox", children),
    Output: () => new Output(registry),
    anywidget: (o: { esm: string; css?: string; state?: Record<string, unknown> }) => new AnyWidget(registry, o),
  };
}
