"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served by the gateway itself.

Swagger UI 5 (which reads OpenAPI 3.1) and ReDoc come from the ``fastapi-standalone-docs``
package, which ships their distribution files; only those files are used (its own page
template has inline script). No CDN, so the pages work offline and under a
Content-Security-Policy that allows this origin's scripts and nothing else. The pages hold no
inline script; each loads a small init file from here.
Both are off in production, with ``/openapi.json`` (``GATEWAY_DOCS_ENABLED``).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_standalone_docs
from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from .errors import NotFound
from .settings import PACKAGE_ROOT

DOCS_STATIC = PACKAGE_ROOT / "static" / "docs"
PACKAGED = Path(fastapi_standalone_docs.__file__).resolve().parent / "static"
SWAGGER_DIR = PACKAGED / "swagger"
SWAGGER_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
}

# Swagger UI and ReDoc set element styles from script, ReDoc also adds <style> elements
# (styled-components) and runs its search index in a worker made from a blob.
SWAGGER_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
REDOC_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             "connect-src 'self'; font-src 'self' data:; worker-src blob:; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'")

_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: API (Swagger UI)</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body></html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: API (ReDoc)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><div id="redoc"></div>
<script src="/redoc/assets/redoc.standalone.js"></script>
<script src="/redoc/assets/redoc-init.js"></script>
</body></html>
"""


def _with_csp(response: Response, csp: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["Cache-Control"] = "no-store"
    return response


def docs_router(title: str) -> APIRouter:
    """The two pages and their assets (add only when docs are enabled)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_page() -> Response:
        return _with_csp(HTMLResponse(_SWAGGER_PAGE.format(title=title)), SWAGGER_CSP)

    @router.get("/docs/assets/{name}")
    def swagger_asset(name: str) -> Response:
        if name == "swagger-init.js":
            return _with_csp(FileResponse(DOCS_STATIC / name, media_type="text/javascript"), SWAGGER_CSP)
        if name not in SWAGGER_ASSETS:
            raise NotFound()
        return _with_csp(FileResponse(SWAGGER_DIR / name, media_type=SWAGGER_ASSETS[name]), SWAGGER_CSP)

    @router.get("/redoc")
    def redoc_page() -> Response:
        return _with_csp(HTMLResponse(_REDOC_PAGE.format(title=title)), REDOC_CSP)

    @router.get("/redoc/assets/{name}")
    def redoc_asset(name: str) -> Response:
        files = {"redoc.standalone.js": PACKAGED / "redoc" / "redoc.standalone.js",
                 "redoc-init.js": DOCS_STATIC / "redoc-init.js"}
        if name not in files:
            raise NotFound()
        return _with_csp(FileResponse(files[name], media_type="text/javascript"), REDOC_CSP)

    return router


def install_docs(app: FastAPI, title: str) -> None:
    app.include_router(docs_router(title))
