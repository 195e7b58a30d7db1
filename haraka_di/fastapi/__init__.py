"""FastAPI and uvicorn integration (``pip install haraka_di[fastapi]``).

Two ways to run an app's services:

- **Lifespan mode**: ``FastAPI(lifespan=lifespan(Container))`` and run it with
  ``uvicorn`` as usual. uvicorn owns the process's signals; the orchestrator
  installs none and stops the services when uvicorn runs the lifespan shutdown.
- **Managed serving**: put ``UvicornService(app)`` among the services and run
  the orchestrator (``await orchestrator.serve()`` or ``haraka run``). The
  orchestrator owns the signals: SIGTERM drops readiness, waits
  ``drain_seconds``, stops uvicorn (in-flight requests finish), then stops the
  other services in reverse order.

Either way ``app.state.orchestrator`` and ``app.state.container`` are set,
:func:`provide` resolves providers of that running container, and
:func:`health_router` serves the probes.

This package imports FastAPI, Starlette and uvicorn, and only the core of
haraka_di; ``import haraka_di`` never imports it.
"""

from ..exceptions import ServeError
from ._health import ReadinessGate, health_router, install_readiness_gate
from ._lifespan import lifespan
from ._provide import provide
from ._uvicorn import LAST, UvicornService

__all__ = [
    "LAST",
    "ReadinessGate",
    "ServeError",
    "UvicornService",
    "health_router",
    "install_readiness_gate",
    "lifespan",
    "provide",
]

# Public names say where users import them from (tracebacks, reprs, docs);
# those the top package also exports (ServeError) keep "haraka_di", and LAST
# is an int, which has no __module__ of its own.
for _name in __all__:
    _value = globals()[_name]
    if hasattr(_value, "__module__") and _value.__module__.startswith("haraka_di.fastapi."):
        _value.__module__ = __name__
del _name, _value
