"""The docs-URL announcement, written once for both ways of serving: the
seed's ``run(settings, app)`` and a managed ``UvicornService``.

Duck-typed (``app.docs_url``), so it needs no web framework: the seed's
``app`` may be any object with that attribute.
"""

from __future__ import annotations

import logging

__all__ = ["announce_docs", "base_url_of"]

log = logging.getLogger("haraka_di")


def announce_docs(app: object, base_url: str) -> str | None:
    """Log and return ``base_url + app.docs_url``; None when docs are off."""
    docs = getattr(app, "docs_url", None) if app is not None else None
    if not docs:
        return None
    url = f"{base_url}{docs}"
    log.info("API docs at %s", url)
    return url


def base_url_of(settings: object) -> str:
    """``http://host:port`` from the seed's ``settings.host``/``settings.port``."""
    host = getattr(settings, "host", None) or "127.0.0.1"
    port = getattr(settings, "port", None) or 8000
    return f"http://{host}:{port}"
