"""Containers with a pydantic schema for ``config:``, for the CLI tests
(``tests.cli.schema_targets:...``). Small: no FastAPI, no network."""

from __future__ import annotations

from dependency_injector import containers, providers
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from haraka_di import Runtime

from .targets import Step


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retries: int = Field(3, ge=0)
    ratio: float = 0.5


class ShopSettings(BaseSettings):
    """Read from SHOP_* environment variables too (pydantic-settings' own way)."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", env_nested_delimiter="__")

    name: str = "shop"
    debug: bool = False
    limits: Limits = Limits()
    tags: list[str] = []


class Shop(containers.DeclarativeContainer):
    """a <- b, configured through ``config`` with the ShopSettings schema."""

    runtime = providers.Dependency(instance_of=Runtime)
    config = providers.Configuration(pydantic_settings=[ShopSettings])
    a = providers.Singleton(Step, runtime, fail=config.name)
    b = providers.Singleton(Step, runtime, a, fail=config.limits.retries)
