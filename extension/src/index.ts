/**
 * mixdistill's JupyterLab extension: two plugins.
 * - `mixdistill-labextension:plot` renders gap plots (PLOT_MIME) everywhere outputs are shown.
 * - `mixdistill-labextension:mixer` renders the mixer widget (MIXER_MIME): bound to the notebook's
 *   kernel inside notebooks, read-only from the saved state elsewhere.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { INotebookTracker, type NotebookPanel } from "@jupyterlab/notebook";
import { IRenderMimeRegistry } from "@jupyterlab/rendermime";
import { MIXER_MIME } from "../../src/contract/index";
import { mixerRendererFactory } from "./mixer";
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

const mixerPlugin: JupyterFrontEndPlugin<void> = {
  id: "mixdistill-labextension:mixer",
  description: "Renders mixdistill's mixer widget, bound to the notebook's kernel over a comm.",
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, rendermime: IRenderMimeRegistry, tracker: INotebookTracker | null) => {
    // Outside notebooks there is no kernel to bind to: show the saved state.
    rendermime.addFactory(mixerRendererFactory(null));
    // Each notebook gets a factory bound to its own session (as ipywidgets does).
    const bind = (panel: NotebookPanel): void => {
      const registry = panel.content.rendermime;
      registry.removeMimeType(MIXER_MIME);
      registry.addFactory(mixerRendererFactory(panel.sessionContext));
    };
    tracker?.forEach(bind);
    tracker?.widgetAdded.connect((_sender, panel) => bind(panel));
  },
};

const plugins: JupyterFrontEndPlugin<void>[] = [plotPlugin, mixerPlugin];
export default plugins;
