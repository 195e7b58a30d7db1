"""The reference application: the FastAPI API and the ``Application`` container.

Run it::

    haraka run containers.app:Application --config containers/app.yaml

The database is a ``providers.Resource`` (``db``: SQLAlchemy's async engine,
opened at start and disposed at stop); the queries live in a plain
``ItemRepository`` built by a ``Factory`` around it; the cache, the worker and
uvicorn are services. Routes get what they need with
``Depends(provide(Application.items))``: at request time that resolves the
provider in the *running* container, so a test that overrides
``Application.db`` or ``Application.items`` gets its fake in the routes too.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from dependency_injector import containers, providers
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from haraka_di import Runtime
from haraka_di.fastapi import UvicornService, health_router, install_readiness_gate, provide

from .services import Cache, Item, ItemRepository, Worker, database_url, init_database

__all__ = ["DEFAULTS", "AppSettings", "Application", "create_app"]


class ApiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("haraka_di reference application", min_length=1)


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)  # 0: any free port
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    access_log: bool = True


class DbConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None  # any SQLAlchemy async URL; wins over path
    path: str = ":memory:"  # a SQLite file, or :memory:
    echo: bool = False


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warmup_seconds: float = Field(0.5, ge=0)


class WorkerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_seconds: float = Field(5.0, gt=0)


class AppSettings(BaseSettings):
    """The schema of ``config:``: ``haraka check`` and ``haraka run`` validate the
    YAML section against it before anything starts, and dependency-injector
    loads its defaults into ``Application.config`` when the container is
    created (so a run without a configuration file works)."""

    model_config = SettingsConfigDict(extra="forbid")

    api: ApiConfig = ApiConfig()
    server: ServerConfig = ServerConfig()
    db: DbConfig = DbConfig()
    cache: CacheConfig = CacheConfig()
    worker: WorkerConfig = WorkerConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The values given and the defaults; no environment variables, no .env:
        app.yaml's ``${VAR}`` is where the environment comes in (and a key the
        file sets would win over pydantic-settings' ``SERVER__PORT`` anyway)."""
        return (init_settings,)


#: What runs with no configuration file at all (``config:`` in app.yaml overrides it).
DEFAULTS: dict[str, Any] = AppSettings.model_construct().model_dump()


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=0, ge=0)


class ItemOut(BaseModel):
    id: int
    name: str
    quantity: int


def items_router() -> APIRouter:
    """CRUD on /items: the repository and the cache come from the running container."""
    router = APIRouter(prefix="/items", tags=["items"])
    get_items = Depends(provide(Application.items))
    get_cache = Depends(provide(Application.cache))

    @router.get("", response_model=list[ItemOut])
    async def list_items(cache: Cache = get_cache) -> list[Item]:
        return await cache.list()

    @router.post("", response_model=ItemOut, status_code=201)
    async def create_item(
        body: ItemIn, items: ItemRepository = get_items, cache: Cache = get_cache
    ) -> Item:
        item = await items.create_item(body.name, body.quantity)
        cache.put(item)
        return item

    @router.get("/{item_id}", response_model=ItemOut)
    async def get_item(item_id: int, cache: Cache = get_cache) -> Item:
        item = await cache.get(item_id)
        if item is None:
            raise HTTPException(404, f"no item {item_id}")
        return item

    @router.put("/{item_id}", response_model=ItemOut)
    async def update_item(
        item_id: int, body: ItemIn, items: ItemRepository = get_items, cache: Cache = get_cache
    ) -> Item:
        item = await items.update_item(item_id, body.name, body.quantity)
        if item is None:
            raise HTTPException(404, f"no item {item_id}")
        cache.put(item)
        return item

    @router.delete("/{item_id}", status_code=204)
    async def delete_item(
        item_id: int, items: ItemRepository = get_items, cache: Cache = get_cache
    ) -> Response:
        if not await items.delete_item(item_id):
            raise HTTPException(404, f"no item {item_id}")
        cache.drop(item_id)
        return Response(status_code=204)

    return router


def create_app(title: str = DEFAULTS["api"]["title"]) -> FastAPI:
    """The FastAPI app: /items CRUD, /stats, /slow, and the /health probes."""
    app = FastAPI(title=title)
    app.include_router(health_router())
    app.include_router(items_router())
    install_readiness_gate(app)  # 503 + Retry-After until every service is ready

    @app.get("/stats", tags=["ops"])
    async def stats(
        worker: Worker = Depends(provide(Application.worker)),
        cache: Cache = Depends(provide(Application.cache)),
    ) -> dict[str, Any]:
        return {
            "worker_runs": worker.runs,
            "items_counted": worker.last_count,
            "cache": {"warm": cache.warm, "hits": cache.hits, "misses": cache.misses},
        }

    @app.get("/slow", tags=["ops"])
    async def slow(seconds: float = Query(1.0, ge=0, le=300)) -> dict[str, float]:
        """Sleep, then answer 200: a long in-flight request, to watch a drain."""
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    return app


class Application(containers.DeclarativeContainer):
    """The reference application, wired by constructor arguments.

    db (a Resource: the engine) <- items (a plain repository) <- cache,
    worker; http (uvicorn) starts after everything and stops first.
    """

    runtime = providers.Dependency(instance_of=Runtime)  # bound by the orchestrator
    config = providers.Configuration(default=DEFAULTS, pydantic_settings=[AppSettings])

    db = providers.Resource(
        init_database,
        url=providers.Callable(database_url, url=config.db.url, path=config.db.path),
        echo=config.db.echo,
    )
    items = providers.Factory(ItemRepository, engine=db)
    cache = providers.Singleton(
        Cache, runtime, items, warmup_seconds=config.cache.warmup_seconds.as_float()
    )
    worker = providers.Singleton(
        Worker, runtime, items, interval=config.worker.interval_seconds.as_float()
    )
    api = providers.Singleton(create_app, title=config.api.title)
    http = providers.Singleton(
        UvicornService,
        api,
        host=config.server.host,
        port=config.server.port.as_int(),
        log_level=config.server.log_level,
        access_log=config.server.access_log,
        runtime=runtime,
    )
