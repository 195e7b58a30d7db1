"""Health endpoints (live / ready / startup) and the readiness gate.

Re-exported by :mod:`haraka_di.fastapi`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .._docs import PROBE_ROUTE_NAMES, probe_paths
from .._report import ServiceReport
from .._service import LifecycleState
from ..exceptions import HarakaError

__all__ = ["ReadinessGate", "health_router", "install_readiness_gate", "orchestrator_of"]

_NO_STORE = {"Cache-Control": "no-store"}
_MISSING = (
    "no orchestrator is attached to this app: pass lifespan=haraka_di.fastapi.lifespan(container) "
    "to FastAPI(), or serve it with haraka_di.fastapi.UvicornService"
)
DEFAULT_EXEMPT: tuple[str, ...] = ("/health", "/docs", "/redoc", "/openapi.json")


class Probed(Protocol):
    """What the probes read: an Orchestrator (or its Runtime handle)."""

    @property
    def state(self) -> LifecycleState: ...

    def is_ready(self, name: str | None = None) -> bool: ...

    def report(self) -> list[ServiceReport]: ...


def orchestrator_of(app: Any) -> Probed | None:
    """The orchestrator attached to ``app.state`` (by the lifespan or by
    UvicornService), or None."""
    return getattr(getattr(app, "state", None), "orchestrator", None)


def health_body(orchestrator: Probed) -> dict[str, Any]:
    """Orchestrator state, overall readiness, and each node's kind
    (``"Service"`` or ``"Resource"``), state and readiness."""
    try:
        reports = orchestrator.report()
    except HarakaError:  # not planned yet and not plannable: say so, don't crash a probe
        reports = []
    return {
        "state": orchestrator.state.value,
        "ready": orchestrator.is_ready(),
        "services": {
            r.name: {"kind": r.kind, "state": r.state.value, "ready": r.ready} for r in reports
        },
    }


def health_router(
    prefix: str = "/health",
    *,
    orchestrator: Probed | None = None,
    tags: Sequence[str] = ("health",),
    include_in_schema: bool = True,
) -> APIRouter:
    """Liveness, readiness and startup probes at ``{prefix}/live``,
    ``{prefix}/ready`` and ``{prefix}/startup``.

    - live: 200 while the process answers and the orchestrator is not
      DESTROYED (a draining app is alive: do not restart it).
    - ready: 200 only while the orchestrator is RUNNING and every service is
      ready; 503 before, during a drain, and after.
    - startup: 200 once startup finished (RUNNING, or STOPPING after it), 503
      before.

    Each answers JSON: ``status``, ``state``, ``ready`` and ``services`` (each
    service's ``state`` and ``ready``). The orchestrator is the one attached
    to the app (``app.state.orchestrator``) unless one is given here.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    router = APIRouter(prefix=prefix, tags=list(tags), include_in_schema=include_in_schema)

    def probe(request: Request, ok: Callable[[Probed], bool], good: str, bad: str) -> JSONResponse:
        orch = orchestrator if orchestrator is not None else orchestrator_of(request.app)
        if orch is None:
            body: dict[str, Any] = {"status": bad, "ready": False, "detail": _MISSING}
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        passed = bool(ok(orch))
        body = {"status": good if passed else bad, **health_body(orch)}
        return JSONResponse(body, status_code=200 if passed else 503, headers=_NO_STORE)

    async def live(request: Request) -> JSONResponse:
        return probe(request, lambda o: o.state is not LifecycleState.DESTROYED, "alive", "dead")

    async def ready(request: Request) -> JSONResponse:
        return probe(request, lambda o: o.is_ready(), "ready", "not ready")

    async def startup(request: Request) -> JSONResponse:
        return probe(request, _started, "started", "starting")

    for probe_name, endpoint, summary in (
        ("live", live, "Liveness probe"),
        ("ready", ready, "Readiness probe"),
        ("startup", startup, "Startup probe"),
    ):
        # The route name lets the gate and the start-up announcement find the
        # probes wherever they are mounted (haraka_di._docs.probe_paths).
        router.add_api_route(
            f"/{probe_name}",
            endpoint,
            methods=["GET"],
            summary=summary,
            name=PROBE_ROUTE_NAMES[probe_name],
        )
    return router


def _started(orchestrator: Probed) -> bool:
    return orchestrator.state in (LifecycleState.RUNNING, LifecycleState.STOPPING)


def accepting(orchestrator: Probed) -> bool:
    """Should the gate let ordinary requests through?

    Not before the app is ready (CREATED, STARTING, or RUNNING with a service
    not ready). Yes while RUNNING and ready, and also while STOPPING: during
    the drain the load balancer may still route requests here, and they must
    be served, not refused.
    """
    state = orchestrator.state
    if state is LifecycleState.RUNNING:
        return bool(orchestrator.is_ready())
    return state in (LifecycleState.STOPPING, LifecycleState.DESTROYED)


class ReadinessGate:
    """ASGI middleware: 503 with ``Retry-After`` for every HTTP request
    until the app is ready, except the probes of :func:`health_router`
    (wherever mounted) and paths under the ``exempt`` prefixes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        exempt: Sequence[str] = DEFAULT_EXEMPT,
        retry_after: int = 5,
        orchestrator: Probed | None = None,
    ) -> None:
        if isinstance(exempt, str):
            raise TypeError(f"exempt must be a list of path prefixes, got the string {exempt!r}")
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError(f"retry_after must be a non-negative integer, got {retry_after!r}")
        self.app = app
        self.exempt = tuple(p.rstrip("/") for p in exempt)
        self.retry_after = retry_after
        self.orchestrator = orchestrator
        self._probes: frozenset[str] | None = None

    def _exempt(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if self._probes is None:
            self._probes = _probe_paths(scope.get("app"))
        if path in self._probes:
            return True
        return any(path == p or path.startswith(p + "/") for p in self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        orch = self.orchestrator
        if orch is None:
            orch = orchestrator_of(scope.get("app"))
        if orch is not None and accepting(orch):
            await self.app(scope, receive, send)
            return
        detail = "the service is starting; retry later" if orch is not None else _MISSING
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.retry_after).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _probe_paths(app: Any) -> frozenset[str]:
    return frozenset(probe_paths(app))


def install_readiness_gate(
    app: Any,
    *,
    exempt: Sequence[str] = DEFAULT_EXEMPT,
    retry_after: int = 5,
) -> None:
    """Add :class:`ReadinessGate` to a FastAPI/Starlette ``app`` (before it starts)."""
    app.add_middleware(ReadinessGate, exempt=exempt, retry_after=retry_after)
