/**
 * The Jupyter widget protocol 2.1 (ipywidgets 8, anywidget): comm targets, the view mime type and the
 * shapes of the messages on a widget comm. Dependency-free; the kernel and the extension both use it.
 */
export const WIDGET_COMM_TARGET = "jupyter.widget";
export const WIDGET_CONTROL_TARGET = "jupyter.widget.control";
export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
export const WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json";
export const WIDGET_PROTOCOL_VERSION = "2.1.0";
/** Module versions of the core models (ipywidgets 8). */
export const CONTROLS_MODULE = "@jupyter-widgets/controls";
export const BASE_MODULE = "@jupyter-widgets/base";
export const OUTPUT_MODULE = "@jupyter-widgets/output";
export const CONTROLS_VERSION = "2.0.0";
export const OUTPUT_VERSION = "1.0.0";
/** The anywidget front-end module (0.11), as its Python package names it. */
export const ANYWIDGET_MODULE = "anywidget";
export const ANYWIDGET_VERSION = "~0.11.*";

/** A path into a state object (keys and array indices) where a binary buffer goes. */
export type BufferPath = (string | number)[];

export interface WidgetViewData {
  model_id: string;
  version_major: 2;
  version_minor: 1;
}

/** Messages on a `jupyter.widget` comm, both directions (the `data` of comm_msg). */
export type WidgetMessage =
  | { method: "update"; state: Record<string, unknown>; buffer_paths?: BufferPath[] }
  | { method: "echo_update"; state: Record<string, unknown>; buffer_paths?: BufferPath[] }
  | { method: "request_state" }
  | { method: "custom"; content: unknown };

/** Reads the `data` of a comm_msg on a widget comm; throws an Error naming what is wrong. */
export function parseWidgetMessage(data: unknown): WidgetMessage {
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new Error("widget message: expected an object with a `method`");
  const d = data as Record<string, unknown>;
  switch (d.method) {
    case "update":
    case "echo_update": {
      if (!d.state || typeof d.state !== "object" || Array.isArray(d.state)) throw new Error(`widget message ${d.method}: \`state\` must be an object`);
      const paths = d.buffer_paths ?? [];
      if (!Array.isArray(paths) || !paths.every((p) => Array.isArray(p) && p.length > 0 && p.every((k) => typeof k === "string" || typeof k === "number")))
        throw new Error(`widget message ${d.method}: \`buffer_paths\` must be a list of non-empty key lists`);
      return { method: d.method, state: d.state as Record<string, unknown>, buffer_paths: paths as BufferPath[] };
    }
    case "request_state":
      return { method: "request_state" };
    case "custom":
      return { method: "custom", content: d.content };
    default:
      throw new Error(`widget message: unknown method ${JSON.stringify(d.method)} (expected update, echo_update, request_state or custom)`);
  }
}

/** The `widget-view+json` data of a display bundle for a widget model. */
export const widgetView = (modelId: string): WidgetViewData => ({ model_id: modelId, version_major: 2, version_minor: 1 });
