"""
Serves the JupyterLab front end built in ./build on Debian's jupyter_server (1.23) through
jupyterlab_server's LabServerApp, for the browser tests and `npm start` when no JupyterLab is installed.

Prebuilt extensions (mixdistill-labextension) are found through the usual labextensions path
(JUPYTER_PATH / JUPYTER_DATA_DIR), kernels through the usual kernelspec path: exactly as a user's
JupyterLab finds them. JupyterLab 4 also calls two jupyter_server 2.x endpoints that 1.23 lacks,
/api/me and the /api/events/subscribe websocket, jupyter-lsp's /lsp/status and the jupyterlab
package's extension API /lab/api/extensions; small stand-ins answer them (the last one read-only).

Usage: /usr/bin/python3 serve.py [--state-dir DIR] [jupyter_server options, e.g. --port=8888 --ServerApp.root_dir=...]
"""
import json
import os
import sys

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyterlab_server import LabServerApp
from jupyterlab_server.config import get_federated_extensions, get_page_config
from tornado import web, websocket

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")

# Configuration files on disk must not change what the tests see.
os.environ.setdefault("JUPYTER_NO_CONFIG", "1")


def _take_state_dir(argv):
    """Removes `--state-dir DIR` from argv; settings and workspaces go there (never into the build)."""
    state = None
    out = []
    it = iter(argv)
    for a in it:
        if a == "--state-dir":
            state = next(it, None)
        elif a.startswith("--state-dir="):
            state = a.split("=", 1)[1]
        else:
            out.append(a)
    return state, out


STATE_DIR, ARGV = _take_state_dir(sys.argv[1:])
# File > Save and Export As > HTML uses mixdistill's nbconvert template (from `mixdistill install`):
# plotly.js and MathJax inlined at export time, so the exported page draws plots and maths offline.
if not any(a.startswith("--HTMLExporter.template_name") for a in ARGV):
    ARGV.append("--HTMLExporter.template_name=mixdistill")
if STATE_DIR is None:
    STATE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "mixdistill-lab")
STATE_DIR = os.path.abspath(STATE_DIR)


class MeHandler(APIHandler):
    """Stand-in for jupyter_server 2's /api/me: an anonymous identity, every permission."""

    @web.authenticated
    def get(self):
        user = self.current_user
        name = user if isinstance(user, str) and user else "anonymous"
        self.finish(json.dumps({
            "identity": {"username": name, "name": name, "display_name": name, "initials": name[:1].upper(),
                         "avatar_url": None, "color": None},
            "permissions": {},
        }))


class EventsHandler(JupyterHandler, websocket.WebSocketHandler):
    """Stand-in for jupyter_server 2's event stream: accepts the websocket and never sends."""

    def check_origin(self, origin):
        return True

    def get(self, *args, **kwargs):
        if self.get_current_user() is None:
            raise web.HTTPError(403)
        return websocket.WebSocketHandler.get(self, *args, **kwargs)

    def on_message(self, message):
        pass


class LspStatusHandler(APIHandler):
    """Stand-in for jupyter-lsp's /lsp/status: no language servers (the LSP plugins then stay idle)."""

    @web.authenticated
    def get(self):
        self.finish(json.dumps({"version": 2, "sessions": {}, "specs": {}}))


class ExtensionsHandler(APIHandler):
    """A read-only stand-in for JupyterLab's extension manager API (/lab/api/extensions, which lives in
    the jupyterlab Python package): lists the prebuilt extensions found on the labextensions path,
    with their enabled state; searching a registry and installing are not offered."""

    @web.authenticated
    def get(self):
        if self.get_argument("query", None) is not None:
            self.finish(json.dumps([]))  # no extension registry to search
            return
        app = MixdistillLab.running
        paths = app.extra_labextensions_path + app.labextensions_path
        disabled = get_page_config(paths, app.app_settings_dir, logger=self.log).get("disabledExtensions", {})
        if isinstance(disabled, list):
            disabled = {name: True for name in disabled}
        entries = []
        for name, ext in sorted(get_federated_extensions(paths).items()):
            pkg = {}
            try:
                with open(os.path.join(ext["ext_path"], "package.json"), encoding="utf-8") as f:
                    pkg = json.load(f)
            except (OSError, ValueError):
                pass
            author = pkg.get("author")
            entries.append({
                "name": name,
                "description": ext.get("description", ""),
                "homepage_url": ext.get("url") or "",
                "installed": True,
                "allowed": True,
                "approved": True,
                "enabled": not disabled.get(name, False),
                "core": False,
                "latest_version": ext["version"],
                "installed_version": ext["version"],
                "status": "ok",
                "pkg_type": "prebuilt",
                "install": ext.get("install"),
                "author": author.get("name") if isinstance(author, dict) else author,
                "license": pkg.get("license"),
            })
        self.finish(json.dumps(entries))

    @web.authenticated
    def post(self):
        self.set_status(405)
        self.finish(json.dumps({
            "status": "error",
            "message": "this server lists extensions but does not change them: use `jupyter labextension` "
                       "or `mixdistill install` and restart",
            "needs_restart": [],
        }))


def _jupyter_server_extension_points():
    return [{"module": __name__, "app": MixdistillLab}]


class MixdistillLab(LabServerApp):
    # The extension manager imports the app by module name; run as a script that is __main__.
    name = __name__
    app_name = "JupyterLab"
    extension_url = "/lab"
    default_url = "/lab"
    load_other_extensions = False
    app_version = json.load(open(os.path.join(HERE, "..", "core", "package.json")))["version"]
    static_dir = BUILD
    templates_dir = BUILD
    schemas_dir = os.path.join(BUILD, "schemas")
    themes_dir = os.path.join(BUILD, "themes")
    app_settings_dir = os.path.join(HERE, "settings")
    user_settings_dir = os.path.join(STATE_DIR, "user-settings")
    workspaces_dir = os.path.join(STATE_DIR, "workspaces")

    def initialize_handlers(self):
        super().initialize_handlers()
        self.handlers.append(("/api/me", MeHandler))
        self.handlers.append(("/api/events/subscribe", EventsHandler))
        self.handlers.append(("/lsp/status", LspStatusHandler))
        # Before the page handler, which takes every other /lab/... path.
        self.handlers.insert(0, ("/lab/api/extensions", ExtensionsHandler))

    running = None

    def initialize_settings(self):
        super().initialize_settings()
        MixdistillLab.running = self
        # Terminals are served when jupyter_server could start them (python3-terminado installed).
        # MIXDISTILL_LAB_EXPOSE_APP=1 puts the application object on window.jupyterapp (browser tests).
        page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
        # The extension manager lists what is installed (ExtensionsHandler); it cannot install.
        page_config["extensionManager"] = {"name": "read-only", "can_install": False, "install_path": None}
        if os.environ.get("MIXDISTILL_LAB_EXPOSE_APP") == "1":
            page_config["exposeAppInBrowser"] = True


if __name__ == "__main__":
    if not os.path.exists(os.path.join(BUILD, "index.html")):
        sys.exit(f"serve.py: no front end in {BUILD}: run `npm run build --workspace extension` first")
    os.makedirs(STATE_DIR, exist_ok=True)
    MixdistillLab.launch_instance(ARGV)
