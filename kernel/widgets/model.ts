/**
 * Kernel-side widget models on the Jupyter widget protocol 2.1 (the protocol ipywidgets 8 and anywidget
 * speak): each model is a comm on target `jupyter.widget`, opened by the kernel with its full state
 * and `metadata.version` "2.1.0". Updates go both ways; an update from a front end is validated trait
 * by trait and applied all or nothing (a rejected one leaves the model as it was, answers with an
 * error on that comm and re-sends the kept values, so the view snaps back). `request_state` is
 * answered with the full state, `custom` messages go both ways, binary buffers travel as extra frames
 * addressed by `buffer_paths`. The control target `jupyter.widget.control` answers `request_states`.
 */
import {
  ANYWIDGET_MODULE,
  ANYWIDGET_VERSION,
  WIDGET_COMM_TARGET,
  WIDGET_CONTROL_TARGET,
  WIDGET_PROTOCOL_VERSION,
  WIDGET_VIEW_MIME,
  parseWidgetMessage,
  widgetView,
  type BufferPath,
} from "../../src/contract/widget.js";
import type { Comm, CommManager, MimeBundle, WidgetHost } from "./host.js";

/**
 * The protocol fields of an anywidget model (model and view `AnyModel`/`AnyView` of the anywidget
 * module) whose front-end module is `esm` (and its styles `css`), with the id anywidget keys it by.
 */
export function anywidgetFields(esm: string, id: string, css?: string): Record<string, string> {
  return {
    _model_name: "AnyModel",
    _model_module: ANYWIDGET_MODULE,
    _model_module_version: ANYWIDGET_VERSION,
    _view_name: "AnyView",
    _view_module: ANYWIDGET_MODULE,
    _view_module_version: ANYWIDGET_VERSION,
    _esm: esm,
    ...(css ? { _css: css } : {}),
    _anywidget_id: id,
  };
}

/** Checks a value for a trait; returns the value to store (possibly normalised) or throws an Error saying why. */
export type TraitCheck = (value: unknown, model: WidgetModel) => unknown;

export interface Change {
  name: string;
  old: unknown;
  new: unknown;
  owner: WidgetModel;
  /** Where the change came from: a front end (an `update` on the comm) or kernel code. */
  origin: "frontend" | "code";
}

const isBinary = (v: unknown): v is ArrayBuffer | ArrayBufferView => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const toBytes = (v: ArrayBuffer | ArrayBufferView): Uint8Array =>
  v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Takes binary values out of a state (as ipywidgets' _remove_buffers): the JSON part, the paths and the buffers. */
export function splitBuffers(state: Record<string, unknown>): { state: Record<string, unknown>; buffer_paths: BufferPath[]; buffers: Uint8Array[] } {
  const buffer_paths: BufferPath[] = [];
  const buffers: Uint8Array[] = [];
  const walk = (v: unknown, path: BufferPath): unknown => {
    if (isBinary(v)) {
      buffer_paths.push(path);
      buffers.push(toBytes(v));
      return undefined;
    }
    if (Array.isArray(v)) return v.map((x, i) => { const r = walk(x, [...path, i]); return r === undefined && isBinary(x) ? null : r; });
    if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const r = walk(x, [...path, k]);
        if (!isBinary(x)) out[k] = r;
      }
      return out;
    }
    return v;
  };
  return { state: walk(state, []) as Record<string, unknown>, buffer_paths, buffers };
}

/** Puts received buffers into a state at their paths; throws for a path into nowhere or a count mismatch. */
export function joinBuffers(state: Record<string, unknown>, paths: readonly BufferPath[], buffers: readonly Uint8Array[]): Record<string, unknown> {
  if (paths.length !== buffers.length) throw new Error(`buffer_paths lists ${paths.length} path(s) but the message carries ${buffers.length} buffer(s)`);
  paths.forEach((path, i) => {
    let obj: unknown = state;
    for (let j = 0; j < path.length - 1; j++) {
      const next = (obj as Record<string | number, unknown>)[path[j]!];
      if (!next || typeof next !== "object") throw new Error(`buffer path ${JSON.stringify(path)} leads nowhere in the state (no object at ${JSON.stringify(path.slice(0, j + 1))})`);
      obj = next;
    }
    (obj as Record<string | number, unknown>)[path[path.length - 1]!] = buffers[i];
  });
  return state;
}

/** Every live model, by id: what `request_states` on the control comm answers with. */
export class WidgetRegistry {
  readonly models = new Map<string, WidgetModel>();
  private controlRegistered = false;

  constructor(readonly host: WidgetHost) {}

  get comms(): CommManager {
    return this.host.comms;
  }

  /** Registers the `jupyter.widget.control` target (once). */
  ensureControl(): void {
    if (this.controlRegistered) return;
    this.controlRegistered = true;
    this.comms.registerTarget(WIDGET_CONTROL_TARGET, (comm) => {
      comm.onMsg((data) => {
        const method = (data as { method?: unknown } | null)?.method;
        if (method !== "request_states") {
          comm.send({ method: "error", message: `${WIDGET_CONTROL_TARGET}: unknown method ${JSON.stringify(method)} (expected request_states)` });
          return;
        }
        const states: Record<string, unknown> = {};
        for (const m of this.models.values()) {
          states[m.id] = {
            model_name: m.get("_model_name"),
            model_module: m.get("_model_module"),
            model_module_version: m.get("_model_module_version"),
            state: m.serialisableState(),
          };
        }
        const split = splitBuffers(states);
        comm.send({ method: "update_states", states: split.state, buffer_paths: split.buffer_paths }, {}, split.buffers);
      });
    });
  }

  /** The front end closed a widget comm or a cell made a widget: bookkeeping. */
  add(m: WidgetModel): void {
    this.models.set(m.id, m);
  }

  remove(m: WidgetModel): void {
    this.models.delete(m.id);
  }
}

type Observer = (change: Change) => void;

/**
 * One widget model. `traits` declares what a front end may set and how each value is checked;
 * keys of the state without a check are read-only for front ends (the `_model_*` names, for example).
 */
export class WidgetModel {
  readonly comm: Comm;
  private readonly values: Record<string, unknown>;
  private readonly observers: { names: Set<string> | undefined; fn: Observer }[] = [];
  private readonly customHandlers: ((content: unknown, buffers: readonly Uint8Array[]) => void)[] = [];
  private isClosed = false;

  constructor(
    readonly registry: WidgetRegistry,
    initial: Record<string, unknown>,
    private readonly traits: Record<string, TraitCheck>,
  ) {
    registry.ensureControl();
    this.values = { _view_count: null, ...initial };
    const split = splitBuffers(this.values);
    this.comm = registry.comms.open(
      WIDGET_COMM_TARGET,
      { state: split.state, buffer_paths: split.buffer_paths },
      { version: WIDGET_PROTOCOL_VERSION },
      split.buffers,
    );
    registry.add(this);
    this.comm.onMsg((data, buffers) => this.receive(data, buffers));
    this.comm.onClose(() => {
      this.isClosed = true;
      registry.remove(this);
    });
  }

  get id(): string {
    return this.comm.id;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get(name: string): unknown {
    return this.values[name];
  }

  /** The full state with binary values as they are (for saving, request_states). */
  serialisableState(): Record<string, unknown> {
    return { ...this.values };
  }

  /** Sets traits from kernel code: each value checked, all or nothing; the front ends follow. */
  set(patch: Record<string, unknown>): void {
    const checked = this.check(patch, true);
    const next = { ...checked, ...this.derive(checked) };
    const changes = this.apply(next, "code");
    if (changes.length) this.sendUpdate(Object.fromEntries(changes.map((c) => [c.name, c.new])));
    this.notify(changes);
  }

  /** Calls fn for every change of the named traits (all traits when none are named). */
  observe(fn: Observer, names?: string | readonly string[]): () => void {
    if (typeof fn !== "function") throw new TypeError("observe(fn, names?): fn must be a function");
    const entry = { names: names === undefined ? undefined : new Set(typeof names === "string" ? [names] : names), fn };
    this.observers.push(entry);
    return () => {
      const i = this.observers.indexOf(entry);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /** Handles `custom` messages from a front end. */
  onCustom(fn: (content: unknown, buffers: readonly Uint8Array[]) => void): void {
    this.customHandlers.push(fn);
  }

  /** Sends a `custom` message to the front ends. */
  send(content: unknown, buffers: readonly Uint8Array[] = []): void {
    if (!this.isClosed) this.comm.send({ method: "custom", content }, {}, buffers);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.registry.remove(this);
    this.comm.close();
  }

  /** The display bundle: the widget view, a text fallback and a static HTML fallback where the widget has one. */
  [Symbol.for("Jupyter.display")](): MimeBundle {
    const bundle: MimeBundle = { [WIDGET_VIEW_MIME]: widgetView(this.id), "text/plain": this.toString() };
    const html = this.staticHtml();
    if (html) bundle["text/html"] = html;
    return bundle;
  }

  toString(): string {
    return `${String(this.values._model_name).replace(/Model$/, "")}(${this.textSummary()})`;
  }

  /** The widget's name in messages (its model name by default). */
  protected get kind(): string {
    return String(this.values._model_name);
  }

  /** A short text of the state for text/plain (subclasses say more). */
  protected textSummary(): string {
    return "value" in this.values ? `value=${JSON.stringify(this.values.value)}` : "";
  }

  /**
   * Values that follow from a checked patch (a composition from weights, say), applied with it.
   * May throw to reject the whole patch, which then leaves the model as it was. None by default.
   */
  protected derive(_patch: Record<string, unknown>): Record<string, unknown> {
    return {};
  }

  /** Called once per applied patch with its changes, before the observers. */
  protected changed(_changes: readonly Change[]): void {}

  /** A static HTML fallback (for nbconvert and front ends without widgets); none by default. */
  protected staticHtml(): string | undefined {
    return undefined;
  }

  /** Checks a patch; returns the values to store or throws an Error naming the first bad trait. */
  private check(patch: Record<string, unknown>, fromCode: boolean): Record<string, unknown> {
    const next: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(patch)) {
      const check = this.traits[name];
      if (!check) {
        if (fromCode && name in this.values) {
          next[name] = value;
          continue;
        }
        throw new Error(`${this.kind}: \`${name}\` is not a trait a front end can set`);
      }
      try {
        next[name] = check(value, this);
      } catch (err) {
        throw new Error(`${this.kind}.${name}: ${(err as Error).message}`);
      }
    }
    return next;
  }

  private apply(next: Record<string, unknown>, origin: Change["origin"]): Change[] {
    const changes: Change[] = [];
    for (const [name, value] of Object.entries(next)) {
      const old = this.values[name];
      if (sameValue(old, value)) continue;
      this.values[name] = value;
      changes.push({ name, old, new: value, owner: this, origin });
    }
    return changes;
  }

  private notify(changes: readonly Change[]): void {
    if (changes.length) {
      try {
        this.changed(changes);
      } catch (err) {
        this.registry.host.reportError?.(`change handler of ${this.kind}`, err);
      }
    }
    for (const c of changes)
      for (const o of [...this.observers]) {
        if (o.names && !o.names.has(c.name)) continue;
        try {
          o.fn(c);
        } catch (err) {
          // An observer's error is the user's: it is shown, the model and the other observers go on.
          this.registry.host.reportError?.(`observer of ${this.kind}.${c.name}`, err);
        }
      }
  }

  private sendUpdate(state: Record<string, unknown>, method: "update" | "echo_update" = "update"): void {
    if (this.isClosed) return;
    const split = splitBuffers(state);
    this.comm.send({ method, state: split.state, buffer_paths: split.buffer_paths }, {}, split.buffers);
  }

  /** Sends an error to the front ends as a `custom` message `{type: "error", message}`. */
  protected error(message: string): void {
    if (!this.isClosed) this.comm.send({ method: "custom", content: { type: "error", message } });
  }

  private receive(data: unknown, buffers: readonly Uint8Array[]): void {
    let msg;
    try {
      msg = parseWidgetMessage(data);
    } catch (err) {
      this.error((err as Error).message);
      return;
    }
    switch (msg.method) {
      case "request_state":
        this.sendUpdate(this.values);
        return;
      case "custom":
        for (const h of this.customHandlers) {
          try {
            h(msg.content, buffers);
          } catch (err) {
            this.registry.host.reportError?.(`custom message handler of ${this.kind}`, err);
          }
        }
        return;
      case "echo_update":
        this.error("echo_update goes from the kernel to front ends, not back");
        return;
      case "update": {
        let next: Record<string, unknown>;
        let derived: Record<string, unknown>;
        try {
          next = this.check(joinBuffers({ ...msg.state }, msg.buffer_paths ?? [], buffers), false);
          derived = this.derive(next);
        } catch (err) {
          this.error((err as Error).message);
          // The view snaps back to the kept values of what it tried to set.
          const kept: Record<string, unknown> = {};
          for (const k of Object.keys(msg.state)) if (k in this.values) kept[k] = this.values[k];
          if (Object.keys(kept).length) this.sendUpdate(kept);
          return;
        }
        const changes = this.apply({ ...next, ...derived }, "frontend");
        // Other views follow (echo_update, protocol 2.1); a value the kernel normalised, and what
        // follows from the change, are sent back as an update.
        if (Object.keys(next).length) this.sendUpdate(next, "echo_update");
        const normalised: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(next)) if (!sameValue(v, msg.state[k])) normalised[k] = v;
        for (const c of changes) if (c.name in derived) normalised[c.name] = c.new;
        if (Object.keys(normalised).length) this.sendUpdate(normalised);
        this.notify(changes);
        return;
      }
    }
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (isBinary(a) || isBinary(b)) return false;
  if (a && b && typeof a === "object" && typeof b === "object") return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

/** Trait checks. */
export const t = {
  int: (opts: { min?: (m: WidgetModel) => number; max?: (m: WidgetModel) => number; nullable?: boolean } = {}): TraitCheck => (v, m) => {
    if (v === null && opts.nullable) return null;
    if (typeof v !== "number" || !Number.isInteger(v)) throw new Error(`expected an integer, got ${JSON.stringify(v)}`);
    return clamp(v, opts.min?.(m), opts.max?.(m));
  },
  float: (opts: { min?: (m: WidgetModel) => number; max?: (m: WidgetModel) => number } = {}): TraitCheck => (v, m) => {
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`expected a finite number, got ${JSON.stringify(v)}`);
    return clamp(v, opts.min?.(m), opts.max?.(m));
  },
  str: (): TraitCheck => (v) => {
    if (typeof v !== "string") throw new Error(`expected a string, got ${JSON.stringify(v)}`);
    return v;
  },
  bool: (): TraitCheck => (v) => {
    if (typeof v !== "boolean") throw new Error(`expected true or false, got ${JSON.stringify(v)}`);
    return v;
  },
  oneOf: (values: readonly unknown[]): TraitCheck => (v) => {
    if (!values.includes(v)) throw new Error(`expected one of ${values.map((x) => JSON.stringify(x)).join(", ")}, got ${JSON.stringify(v)}`);
    return v;
  },
  any: (): TraitCheck => (v) => v,
};

function clamp(v: number, lo: number | undefined, hi: number | undefined): number {
  if (lo !== undefined && v < lo) return lo;
  if (hi !== undefined && v > hi) return hi;
  return v;
}
