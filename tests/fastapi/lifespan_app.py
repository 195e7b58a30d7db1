"""A FastAPI app in lifespan mode, for child processes run by ``uvicorn``:

    python -m uvicorn tests.fastapi.lifespan_app:app --port PORT

uvicorn owns the signals; the lifespan runs db <- cache <- api. The
environment variable LIFESPAN_APP_FAIL names a service whose start fails.
``served`` is the same with a UvicornService for the app on
LIFESPAN_APP_SERVER_PORT among the services (it must stand down).
"""

from __future__ import annotations

import logging
import os
import sys

from dependency_injector import containers, providers
from fastapi import FastAPI

from haraka_di import Service
from haraka_di.fastapi import UvicornService, health_router, lifespan

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("haraka: %(message)s"))
logging.getLogger("haraka_di").addHandler(handler)
logging.getLogger("haraka_di").setLevel(logging.INFO)


class Part(Service):
    def __init__(self, *deps: Service) -> None:
        super().__init__()
        self.deps = deps

    async def startup(self) -> None:
        if os.environ.get("LIFESPAN_APP_FAIL") == self.name:
            raise ConnectionError(f"{self.name} is unreachable")


class Container(containers.DeclarativeContainer):
    db = providers.Singleton(Part)
    cache = providers.Singleton(Part, db)
    api = providers.Singleton(Part, cache)


app = FastAPI(lifespan=lifespan(Container))
app.include_router(health_router())


class Served(Container):
    web = providers.Object(None)  # the app below, once it exists
    http = providers.Singleton(
        UvicornService, web, port=int(os.environ.get("LIFESPAN_APP_SERVER_PORT", "8000"))
    )


served_container = Served()
served = FastAPI(lifespan=lifespan(served_container))
served.include_router(health_router())
served_container.web.override(providers.Object(served))
