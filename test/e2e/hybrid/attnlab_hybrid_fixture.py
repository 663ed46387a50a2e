"""A Jupyter Server extension for the hybrid-kernel e2e test (test/e2e/hybrid.test.mjs).

It stands in for what the Python `jupyterlab` package adds to a Jupyter server (not installable
here: no PyPI): it serves the built attnlab app at /attnlab/ with a server-mode page config, and
answers /api/translations (jupyter-server 1.x lacks it) and /lsp/status (jupyter-lsp's, with no
language servers). Kernels, kernelspecs, sessions and
contents are the server's own. COOP/COEP make the page cross-origin isolated, as `attnlab serve`
does, so the in-browser kernel keeps its interrupt.

Configured with environment variables: ATTNLAB_LAB_BUILD (packages/lab/build) and
ATTNLAB_HYBRID_INDEX (the server-mode index.html the test writes).
"""
import os

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class LabFiles(web.StaticFileHandler):
    def set_default_headers(self):
        for k, v in ISOLATION.items():
            self.set_header(k, v)


class LabPage(JupyterHandler):
    def set_default_headers(self):
        super().set_default_headers()
        for k, v in ISOLATION.items():
            self.set_header(k, v)

    def get(self, _path=""):
        with open(os.environ["ATTNLAB_HYBRID_INDEX"], encoding="utf-8") as f:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(f.read())


class LspStatus(JupyterHandler):
    """What jupyter-lsp answers when no language server is installed (the lab's LSP plugin asks)."""

    def get(self):
        self.finish({"version": 2, "sessions": {}, "specs": {}})


class Translations(JupyterHandler):
    def get(self, locale=""):
        if locale in ("", "all", "all.json"):
            data = {"en": {"displayName": "English", "nativeName": "English"}}
        else:
            data = {}
        self.finish({"data": data, "message": ""})


def _jupyter_server_extension_points():
    return [{"module": "attnlab_hybrid_fixture"}]


def _load_jupyter_server_extension(server_app):
    build = os.environ["ATTNLAB_LAB_BUILD"]
    server_app.web_app.add_handlers(
        ".*$",
        [
            (r"/attnlab/lab(/.*)?", LabPage),
            (r"/api/translations/?(.*?)(?:\.json)?", Translations),
            (r"/lsp/status", LspStatus),
            (r"/attnlab/(.*)", LabFiles, {"path": build}),
        ],
    )
    server_app.log.info("attnlab hybrid fixture: serving %s at /attnlab/", build)
