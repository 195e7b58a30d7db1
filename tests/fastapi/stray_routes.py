"""Routes wired with dependency-injector's ``@inject`` / ``Provide[...]`` for
test_stray_wiring.py (wiring patches module-level functions, so they live in
a module of their own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dependency_injector import containers, providers
from dependency_injector.wiring import Provide, Provider, inject
from fastapi import APIRouter, Depends

from haraka_di import Service

router = APIRouter()


class Db(Service):
    """Knows whether an orchestrator started it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False

    async def startup(self) -> None:
        self.started = True


class Stray(containers.DeclarativeContainer):
    config = providers.Configuration(default={"greeting": "hello"})
    db = providers.Singleton(Db)


class AutoWired(containers.DeclarativeContainer):
    """Every new instance wires this module to itself."""

    wiring_config = containers.WiringConfiguration(modules=[__name__])
    db = providers.Singleton(Db)


@router.get("/db")
@inject
async def db_route(db: Db = Depends(Provide[Stray.db])) -> dict[str, Any]:
    return {"started": db.started}


@inject
def greeting(text: str = Provide[Stray.config.greeting]) -> str:
    return text


@inject
def db_factory(make: Callable[[], Db] = Provider[Stray.db]) -> Db:
    return make()


@router.get("/nested")
async def nested(text: str = Depends(greeting), db: Db = Depends(db_factory)) -> dict[str, Any]:
    return {"greeting": text, "started": db.started}


auto_router = APIRouter()


@auto_router.get("/auto")
@inject
async def auto_route(db: Db = Depends(Provide[AutoWired.db])) -> dict[str, Any]:
    return {"started": db.started}
