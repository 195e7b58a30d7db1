"""Routes using dependency-injector's own wiring (@inject + Provide[...]).

Wiring patches module-level functions, so these live in a module of their
own; test_depends.py wires a running container to it.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers
from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends

from haraka_di import Runtime

from .support import Recorder

router = APIRouter()


class Infra(containers.DeclarativeContainer):
    log = providers.Dependency()
    db = providers.Singleton(Recorder, log)


class WiredContainer(containers.DeclarativeContainer):
    runtime = providers.Dependency(instance_of=Runtime)
    log = providers.Object(None)
    infra = providers.Container(Infra, log=log)
    cache = providers.Singleton(Recorder, log, infra.db)
    greeting = providers.Factory(str, "hello")


@router.get("/wired")
@inject
async def wired(
    cache: Recorder = Depends(Provide[WiredContainer.cache]),
    db: Recorder = Depends(Provide[WiredContainer.infra.db]),
    greeting: str = Depends(Provide[WiredContainer.greeting]),
) -> dict[str, Any]:
    same_db = bool(cache.deps) and cache.deps[0] is db
    return {"cache": cache.value, "db": db.value, "same_db": same_db, "greeting": greeting}
