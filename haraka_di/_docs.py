"""What an app serves for people and probes, announced once it listens:
its API docs URL and its health endpoints. Written once for both ways of
serving: the seed's ``run(settings, app)`` and a managed ``UvicornService``.

Duck-typed, so it needs no web framework: the docs URL is ``app.docs_url``,
and the health endpoints are found with ``app.url_path_for(name)`` by the
route names :func:`haraka_di.fastapi.health_router` gives its probes
(:data:`PROBE_ROUTE_NAMES`). That finds them wherever they are mounted (any
``prefix``, ``include_router(..., prefix=...)``, an unnamed ``app.mount``),
as the readiness gate does. The seed's ``app`` may be any object: without
``docs_url`` or ``url_path_for`` nothing is announced for it.
"""

from __future__ import annotations

import logging

__all__ = [
    "PROBES",
    "PROBE_ROUTE_NAMES",
    "PROBE_ROUTE_PREFIX",
    "announce_docs",
    "base_url_of",
    "probe_paths",
]

log = logging.getLogger("haraka_di")

PROBES: tuple[str, ...] = ("live", "ready", "startup")
PROBE_ROUTE_PREFIX = "haraka_health_"
PROBE_ROUTE_NAMES: dict[str, str] = {probe: f"{PROBE_ROUTE_PREFIX}{probe}" for probe in PROBES}


def probe_paths(app: object) -> list[str]:
    """The paths of the health probes ``app`` mounts, in live/ready/startup
    order; only those it has (none for an app without ``health_router()``,
    or an object that is no Starlette app)."""
    url_path_for = getattr(app, "url_path_for", None)
    if not callable(url_path_for):
        return []
    paths = []
    for name in PROBE_ROUTE_NAMES.values():
        try:
            path = str(url_path_for(name))
        except Exception:  # starlette's NoMatchFound: this probe is not mounted
            continue
        if path.startswith("/"):
            paths.append(path)
    return paths


def announce_docs(app: object, base_url: str) -> str | None:
    """Log the docs URL (``API docs at {base_url}{app.docs_url}``) and the
    health endpoints (``health at {base_url}/health/live, /health/ready,
    /health/startup``), each line only when the app has them.

    Returns the docs URL, None when docs are off (whatever the probes).
    """
    docs = getattr(app, "docs_url", None) if app is not None else None
    url = f"{base_url}{docs}" if docs else None
    if url is not None:
        log.info("API docs at %s", url)
    probes = probe_paths(app) if app is not None else []
    if probes:
        log.info("health at %s%s", base_url, ", ".join(probes))
    return url


def base_url_of(settings: object) -> str:
    """``http://host:port`` from the seed's ``settings.host``/``settings.port``."""
    host = getattr(settings, "host", None) or "127.0.0.1"
    port = getattr(settings, "port", None) or 8000
    return f"http://{host}:{port}"
