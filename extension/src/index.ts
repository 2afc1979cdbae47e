/**
 * mixdistill's JupyterLab extension: two plugins.
 * - `mixdistill-labextension:plot` renders gap plots (PLOT_MIME) everywhere outputs are shown.
 * - `mixdistill-labextension:widgets` registers the widget module "anywidget" with JupyterLab's
 *   widget manager (anywidget-host.ts), so the mixer and `widgets.anywidget` models, whose views
 *   travel in `_esm`, render through the standard widget manager (as anywidget does in VS Code).
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { IRenderMimeRegistry } from "@jupyterlab/rendermime";
import { IJupyterWidgetRegistry } from "@jupyter-widgets/base";
import { registerAnywidgetHost } from "./anywidget-host";
import { plotRendererFactory } from "./plot";

const plotPlugin: JupyterFrontEndPlugin<void> = {
  id: "mixdistill-labextension:plot",
  description: "Renders mixdistill's learnability-gap plots with plotly.js.",
  autoStart: true,
  requires: [IRenderMimeRegistry],
  activate: (_app: JupyterFrontEnd, rendermime: IRenderMimeRegistry) => {
    rendermime.addFactory(plotRendererFactory);
  },
};

const widgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: "mixdistill-labextension:widgets",
  description: "Renders anywidget models (mixdistill's mixer among them) through the Jupyter widget manager.",
  autoStart: true,
  optional: [IJupyterWidgetRegistry],
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry | null) => {
    if (!registry) {
      console.warn("mixdistill: no Jupyter widget manager (@jupyter-widgets/jupyterlab-manager) in this JupyterLab: widgets show their text fallbacks");
      return;
    }
    registerAnywidgetHost(registry);
  },
};

const plugins: JupyterFrontEndPlugin<void>[] = [plotPlugin, widgetsPlugin];
export default plugins;
