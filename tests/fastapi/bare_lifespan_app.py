"""A FastAPI app in lifespan mode that configures no logging, as a user's
``main.py`` would; for child processes run by ``uvicorn``:

    python -m uvicorn tests.fastapi.bare_lifespan_app:app --port PORT

haraka's lines (plan, started, timeline, stopped) must then go through
uvicorn's logging. The services are db <- cache <- api.
"""

from __future__ import annotations

from dependency_injector import containers, providers
from fastapi import FastAPI

from haraka_di import Service
from haraka_di.fastapi import health_router, lifespan


class Part(Service):
    def __init__(self, *deps: Service) -> None:
        super().__init__()
        self.deps = deps

    async def startup(self) -> None:
        return None


class Container(containers.DeclarativeContainer):
    db = providers.Singleton(Part)
    cache = providers.Singleton(Part, db)
    api = providers.Singleton(Part, cache)


app = FastAPI(lifespan=lifespan(Container))
app.include_router(health_router())
