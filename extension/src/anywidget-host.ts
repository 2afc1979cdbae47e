/**
 * A host for anywidget front-end modules in JupyterLab's widget manager: the widget module
 * "anywidget" (AnyModel, AnyView), as anywidget's own labextension provides it. A model's `_esm` is
 * an ES module whose default export has `render({ model, el })` (returning an optional cleanup) and
 * optionally `initialize({ model })`; `_css` is a style sheet added with the view.
 *
 * mixdistill's widgets (the mixer, `widgets.anywidget`) are anywidgets, so VS Code and other widget
 * front ends render them with anywidget itself; this host makes them render in JupyterLab and
 * Notebook 7 where only mixdistill's labextension is installed. Where anywidget's labextension is
 * installed too, the widget manager picks either for a model; both run the same `_esm`.
 */
import { DOMWidgetModel, DOMWidgetView, type IJupyterWidgetRegistry, type WidgetModel } from "@jupyter-widgets/base";

/** The version this host registers under: it satisfies the "~0.11.*" the kernel's models ask for. */
export const ANYWIDGET_HOST_VERSION = "0.11.0";

type Callback = (...args: unknown[]) => void;

/** The part of a JupyterLab kernel connection the host watches (its signals). */
interface KernelSignals {
  statusChanged?: { connect(cb: (sender: unknown, status: string) => void): unknown; disconnect(cb: (sender: unknown, status: string) => void): unknown };
  disposed?: { connect(cb: () => void): unknown; disconnect(cb: () => void): unknown };
}
/** Kernel states after which a model's kernel side is gone. */
const KERNEL_GONE = new Set(["restarting", "autorestarting", "dead"]);

interface AfmModule {
  render?: (ctx: { model: AfmModelApi; el: HTMLElement }) => unknown;
  initialize?: (ctx: { model: AfmModelApi }) => unknown;
}

export interface AfmModelApi {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: Callback): void;
  off(event?: string | null, cb?: Callback | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  widget_manager: unknown;
}

// Modules by source: every view of a model (and every model with the same source) shares one import.
const modules = new Map<string, Promise<AfmModule>>();
// A dynamic import the bundlers leave alone: the URL is only known at run time.
const importUrl = new Function("url", "return import(url)") as (url: string) => Promise<{ default?: AfmModule } & AfmModule>;

export function loadEsm(source: string): Promise<AfmModule> {
  let p = modules.get(source);
  if (!p) {
    p = (async () => {
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      try {
        const mod = await importUrl(url);
        const m = (mod.default ?? mod) as AfmModule;
        if (typeof m.render !== "function") throw new Error("anywidget module: its default export has no render({ model, el })");
        return m;
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    modules.set(source, p);
    p.catch(() => modules.delete(source));
  }
  return p;
}

function afmApi(model: WidgetModel, context: object): AfmModelApi {
  return {
    get: (name) => model.get(name),
    set: (name, value) => void model.set(name, value),
    save_changes: () => model.save_changes(),
    on: (event, cb) => void model.on(event, cb, context),
    off: (event, cb) => void model.off(event ?? undefined, cb ?? undefined, context),
    send: (content, callbacks, buffers) => model.send(content as Parameters<WidgetModel["send"]>[0], callbacks as object, buffers as ArrayBuffer[]),
    widget_manager: model.widget_manager,
  };
}

export class AnyModel extends DOMWidgetModel {
  static model_name = "AnyModel";
  static model_module = "anywidget";
  static model_module_version = ANYWIDGET_HOST_VERSION;
  static view_name = "AnyView";
  static view_module = "anywidget";
  static view_module_version = ANYWIDGET_HOST_VERSION;

  /** Resolves once the module is loaded and its `initialize` ran. */
  ready: Promise<AfmModule> | null = null;

  override initialize(attributes: Parameters<DOMWidgetModel["initialize"]>[0], options: Parameters<DOMWidgetModel["initialize"]>[1]): void {
    super.initialize(attributes, options);
    this.watchKernel();
  }

  /**
   * Marks the comm dead ("comm_live_update", as the widget manager does on a restart) when the
   * kernel restarts by itself, stops or is shut down, which JupyterLab's widget manager does not
   * report to its models: views (the mixer's) tell the user their controls no longer do anything.
   */
  private watchKernel(): void {
    const kernel = (this.widget_manager as unknown as { kernel?: KernelSignals | null }).kernel;
    if (!kernel?.statusChanged) return;
    const gone = (): void => {
      if (this.comm_live) this.comm_live = false;
    };
    const onStatus = (_: unknown, status: string): void => {
      if (KERNEL_GONE.has(status)) gone();
    };
    kernel.statusChanged.connect(onStatus);
    kernel.disposed?.connect(gone);
    this.once("destroy", () => {
      kernel.statusChanged?.disconnect(onStatus);
      kernel.disposed?.disconnect(gone);
    });
  }

  override defaults(): ReturnType<DOMWidgetModel["defaults"]> {
    return {
      ...super.defaults(),
      _model_name: AnyModel.model_name,
      _model_module: AnyModel.model_module,
      _model_module_version: AnyModel.model_module_version,
      _view_name: AnyModel.view_name,
      _view_module: AnyModel.view_module,
      _view_module_version: AnyModel.view_module_version,
    };
  }

  loadModule(): Promise<AfmModule> {
    if (!this.ready) {
      const esm = this.get("_esm");
      this.ready = (async () => {
        if (typeof esm !== "string" || !esm.trim()) throw new Error("anywidget model: `_esm` is not an ES module source");
        const m = await loadEsm(esm);
        await m.initialize?.({ model: afmApi(this, this) });
        return m;
      })();
    }
    return this.ready;
  }
}

export class AnyView extends DOMWidgetView {
  private cleanup: (() => void) | null = null;
  private styleEl: HTMLStyleElement | null = null;

  override render(): void {
    this.el.classList.add("mixdistill-anywidget");
    const css = this.model.get("_css");
    if (typeof css === "string" && css) {
      this.styleEl = document.createElement("style");
      this.styleEl.textContent = css;
      document.head.append(this.styleEl);
    }
    void (this.model as unknown as AnyModel)
      .loadModule()
      .then(async (m) => {
        const out = await m.render!({ model: afmApi(this.model, this), el: this.el });
        if (typeof out === "function") this.cleanup = out as () => void;
      })
      .catch((err: unknown) => {
        const pre = document.createElement("pre");
        pre.className = "mixdistill-anywidget-error";
        pre.textContent = `could not render this widget: ${(err as Error)?.message ?? String(err)}`;
        this.el.replaceChildren(pre);
        console.error(err);
      });
  }

  override remove(): this {
    try {
      this.cleanup?.();
    } finally {
      this.cleanup = null;
      this.styleEl?.remove();
      this.model.off(null, null, this);
    }
    return super.remove();
  }
}

export function registerAnywidgetHost(registry: IJupyterWidgetRegistry): void {
  registry.registerWidget({ name: "anywidget", version: ANYWIDGET_HOST_VERSION, exports: { AnyModel, AnyView } });
}
