"""Placeholder: the Resource unit lands with Resource discovery."""

from __future__ import annotations

from typing import Any

__all__ = ["ResourceUnit"]


class ResourceUnit:
    kind = "Resource"

    def __init__(self, name: str, provider: Any) -> None:
        self.name = name
        self.provider = provider
        self.building = False

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError
