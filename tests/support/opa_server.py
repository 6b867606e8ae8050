"""A local server speaking OPA's REST API, evaluating with real OPA (opa-golib bindings).

No ``opa`` binary can be installed here, so the remote-engine path is tested against this:
the same REST surface (``/health``, ``/v1/policies``, ``/v1/data``, ``/v1/query``), the same
answers as a real server (``{}`` for an undefined document, 400 with ``rego_parse_error`` or
``rego_compile_error`` for a bad policy, 500 for an evaluation error), and OPA 1.20.2 doing
the evaluation through ``opa_bindings.OpaEngine``.

``Faults`` lets a test make the decision endpoint slow, fail with a status, or answer with
a malformed result. ``OpaServer`` runs the app with uvicorn on 127.0.0.1 and an ephemeral
port in a background thread.
"""

from __future__ import annotations

import asyncio
import copy
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from opa_bindings import OpaEngine, OpaError
from opa_bindings.engine import OpaUndefinedError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Faults", "OpaServer", "OpaStore", "create_app"]


@dataclass
class Faults:
    """Misbehaviour injected into ``POST /v1/data/...`` (the decision endpoint)."""

    delay_s: float = 0.0
    status: int | None = None
    result: Any = field(default=None)
    """If not None, answer ``{"result": result}`` instead of evaluating."""

    def reset(self) -> None:
        """Behave like a healthy server again."""
        self.delay_s, self.status, self.result = 0.0, None, None


class OpaStore:
    """Policies and data, and a real OPA engine compiled whenever either changes.

    As OPA, the store compiles when it is written (a policy upload compiles every module once; a data
    write is part of what queries see at once), so a query never waits for a compilation. A replaced
    engine is not closed under a query that may still run on it: it is closed when no one holds it.
    ``builds`` counts full compilations, so a test can count the work a client makes the server do."""

    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._engine: OpaEngine | None = None
        self.builds = 0
        self.bundle_roots: dict[str, str] = {}
        """Data paths owned by an activated bundle (root -> bundle name): OPA refuses API writes under them."""
        self.bundles_configured = False
        self.bundles_activated = False

    def _build(self, policies: dict[str, str], data: dict[str, Any]) -> OpaEngine:
        self.builds += 1
        engine = OpaEngine()
        try:
            for pid, src in policies.items():
                engine.add_policy(pid, src)
            engine.add_data(data)
            engine.eval_query("true")  # forces compilation: surfaces compile errors now
        except BaseException:
            engine.close()
            raise
        return engine

    def engine(self) -> OpaEngine:
        with self._lock:
            if self._engine is None:
                self._engine = self._build(self.policies, self.data)
            return self._engine

    def _recompile(self) -> None:
        """After a write: the new state's engine now, or (if it does not compile) an error at the next query."""
        try:
            self._engine = self._build(self.policies, self.data)
        except OpaError:
            self._engine = None

    def put_policy(self, pid: str, src: str) -> None:
        """Add or replace a module; raises OpaError if the result does not compile."""
        with self._lock:
            candidate = {**self.policies, pid: src}
            compiled = self._build(candidate, self.data)  # OPA compiles every module on each upload, once
            self.policies = candidate
            self._engine = compiled  # and then serves what it compiled (no second build)

    def activate_bundle(self, name: str, roots: list[str], policies: dict[str, str], data: dict[str, Any],
                        manifest: dict[str, Any], etag: str) -> None:
        """Replace everything the bundle owns at once, as OPA's bundle plugin activates a bundle; raises OpaError
        (and keeps the active bundle) if the new one does not compile."""
        with self._lock:
            kept_policies = {k: v for k, v in self.policies.items() if not k.startswith(f"{name}/")}
            candidate_policies = {**kept_policies, **{f"{name}/{path}": src for path, src in policies.items()}}
            kept_data = {k: v for k, v in self.data.items() if k not in roots and k != "system"}
            system = copy.deepcopy(self.data.get("system", {}))
            system.setdefault("bundles", {})[name] = {"manifest": manifest, "etag": etag}
            candidate_data = {**kept_data, **data, "system": system}
            compiled = self._build(candidate_policies, candidate_data)
            self.policies, self.data, self._engine = candidate_policies, candidate_data, compiled
            self.bundle_roots = {root: name for root in roots}
            self.bundles_activated = True

    def owner_of(self, path: str) -> str | None:
        """The bundle owning a slash-separated data path (or a package's), as OPA checks writes."""
        parts = [p for p in path.split("/") if p]
        for root, name in self.bundle_roots.items():
            root_parts = [p for p in root.split("/") if p]
            if parts[:len(root_parts)] == root_parts or root_parts[:len(parts)] == parts:
                return name
        return None

    def delete_policy(self, pid: str) -> bool:
        with self._lock:
            found = self.policies.pop(pid, None) is not None
            if found:
                self._recompile()
            return found

    def put_data(self, parts: list[str], value: Any) -> None:
        with self._lock:
            if not parts:
                self.data = value if isinstance(value, dict) else {}
            else:
                node = self.data
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                node[parts[-1]] = value
            self._recompile()

    def delete_data(self, parts: list[str]) -> bool:
        with self._lock:
            node: Any = self.data
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            found = isinstance(node, dict) and parts and node.pop(parts[-1], None) is not None
            if found:
                self._recompile()
            return bool(found)


def _compile_error(exc: OpaError) -> JSONResponse:
    code = "rego_parse_error" if exc.code == "parse_error" else "rego_compile_error"
    return JSONResponse(
        {
            "code": "invalid_parameter",
            "message": "error(s) occurred while compiling module(s)",
            "errors": [{"code": code, "message": exc.message}],
        },
        status_code=400,
    )


def _owned(store: OpaStore, path: str) -> JSONResponse | None:
    """OPA's answer to an API write under a bundle's roots (``server.go`` ``checkPathScope``)."""
    owner = store.owner_of(path)
    if owner is None:
        return None
    return JSONResponse({"code": "invalid_parameter", "message": f"path /{path} is owned by bundle {owner!r}"}, 400)


_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)", re.MULTILINE)


def _path_parts(request: Request) -> list[str]:
    return [p for p in str(request.path_params.get("path", "")).split("/") if p]


class _TokenAuth:
    """OPA's ``--authentication=token --authorization=basic`` with the authorisation policy of
    ``deploy/opa/authz.rego``: every request, health included, needs ``Bearer <token>``; anything
    else gets OPA's 401 ``unauthorized``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope.get("headers", [])).get(b"authorization") != self.expected:
            response = JSONResponse({"code": "unauthorized", "message": "request rejected by administrative policy"},
                                    401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(store: OpaStore | None = None, faults: Faults | None = None, token: str | None = None) -> Any:
    """The OPA-REST app over ``store``; ``faults`` is consulted on every decision query; with ``token``,
    every request must present it (as OPA run with token authentication and basic authorisation)."""
    app = _create_app(store, faults)
    return _TokenAuth(app, token) if token else app


def _create_app(store: OpaStore | None = None, faults: Faults | None = None) -> Starlette:
    state = store or OpaStore()
    fault = faults or Faults()

    async def health(request: Request) -> Response:
        if "bundles" in request.query_params and state.bundles_configured and not state.bundles_activated:
            return JSONResponse({"error": "not all configured bundles have been activated"}, 500)
        return JSONResponse({})

    async def list_policies(_: Request) -> Response:
        return JSONResponse({"result": [{"id": k, "raw": v, "ast": {}} for k, v in state.policies.items()]})

    async def policy(request: Request) -> Response:
        pid = str(request.path_params["pid"])
        if request.method == "GET":
            if pid not in state.policies:
                return JSONResponse({"code": "resource_not_found", "message": f"policy id {pid!r}"}, 404)
            return JSONResponse({"result": {"id": pid, "raw": state.policies[pid], "ast": {}}})
        if request.method == "DELETE":
            if not await asyncio.to_thread(state.delete_policy, pid):
                return JSONResponse({"code": "resource_not_found", "message": f"policy id {pid!r}"}, 404)
            return JSONResponse({})
        src = (await request.body()).decode("utf-8")
        package = _PACKAGE.search(src)
        refused = _owned(state, package.group(1).replace(".", "/")) if package else None
        if refused is not None:
            return refused
        try:
            await asyncio.to_thread(state.put_policy, pid, src)
        except OpaError as exc:
            return _compile_error(exc)
        return JSONResponse({})

    async def document(request: Request) -> Response:
        parts = _path_parts(request)
        if request.method in {"PUT", "DELETE"}:
            refused = _owned(state, "/".join(parts))
            if refused is not None:
                return refused
        if request.method == "PUT":
            await asyncio.to_thread(state.put_data, parts, await request.json())
            return Response(status_code=204)
        if request.method == "DELETE":
            found = await asyncio.to_thread(state.delete_data, parts)
            return Response(status_code=204) if found else JSONResponse({"code": "resource_not_found"}, 404)
        body = (await request.json()) if request.method == "POST" else {}
        if request.method == "POST":
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                return JSONResponse({"code": "internal_error", "message": "injected fault"}, fault.status)
            if fault.result is not None:
                return JSONResponse({"result": copy.deepcopy(fault.result)})
        input_doc = body.get("input") if isinstance(body, dict) else None
        try:
            value = await asyncio.to_thread(_evaluate, state, ".".join(parts), input_doc)
        except OpaUndefinedError:
            return JSONResponse({})  # OPA answers {} when the document is undefined
        except OpaError as exc:
            return JSONResponse({"code": "internal_error", "message": exc.message}, 500)
        return JSONResponse({"result": value})

    async def query(request: Request) -> Response:
        body = await request.json()
        try:
            rows = await asyncio.to_thread(state.engine().eval_query, body.get("query", ""), body.get("input"))
        except OpaError as exc:
            return JSONResponse({"code": "invalid_parameter", "message": exc.message}, 400)
        return JSONResponse({"result": rows})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/policies", list_policies),
            Route("/v1/policies/", list_policies),
            Route("/v1/policies/{pid:path}", policy, methods=["GET", "PUT", "DELETE"]),
            Route("/v1/data", document, methods=["GET", "POST", "PUT"]),
            Route("/v1/data/{path:path}", document, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/v1/query", query, methods=["POST"]),
        ]
    )


def _evaluate(store: OpaStore, path: str, input_doc: Any) -> Any:
    return store.engine().eval_document(path, input_doc)


class OpaServer:
    """Runs the stub with uvicorn on 127.0.0.1:<ephemeral> in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.token = token
        self.host = host
        self.store = OpaStore()
        self.faults = Faults()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.store, self.faults, token),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> OpaServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("OPA stub did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> OpaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
