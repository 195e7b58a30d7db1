"""The reference application for plain ``uvicorn`` (lifespan mode), so that
drain_under_load.py can compare it with ``haraka run``:

    python -m uvicorn benchmarks._plain_app:app --port 8000

The same FastAPI app and container; uvicorn owns the signals and the
container's services run under ``lifespan()`` (its UvicornService stands
down). Not part of haraka_di.
"""

from __future__ import annotations

from containers.app import Application, create_app
from haraka_di.fastapi import lifespan

app = create_app()
app.router.lifespan_context = lifespan(Application)
