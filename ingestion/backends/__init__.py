"""The engine registry: one module per warehouse engine, registered by name.

Each engine's module (``ingestion/backends/<name>.py``) holds everything the platform does on
that engine: its loader (a :class:`~ingestion.backends.base.Backend`, made by ``backend(settings)``)
and, where built, its :class:`~ingestion.warehouse.Warehouse` for reading marts and writing result
tables (``warehouse(settings)``). Modules import lazily: an engine whose driver is not installed
costs nothing until it is asked for. A new engine is a module with those two functions and one
``register`` line (CONTRIBUTING.md, "Adding a warehouse engine").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from platform_core.settings import TARGETS

from .base import AuditRow, Backend

if TYPE_CHECKING:
    from ..config import Settings
    from .base import Warehouse


@dataclass(frozen=True)
class Engine:
    """One registered engine: its name and the module that implements it."""

    name: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def backend(self, settings: Settings) -> Backend:
        """The loader of this engine, connected with ``settings``."""
        return self.load().backend(settings)

    def warehouse(self, settings: Settings) -> Warehouse:
        """The reader and writer of marts and result tables on this engine."""
        module = self.load()
        if not hasattr(module, "warehouse"):
            raise NotImplementedError(
                f"reading marts and writing result tables is not built for "
                f"WAREHOUSE_TARGET={self.name!r} yet (engines with it: {', '.join(readers())})"
            )
        return module.warehouse(settings)

    def read_only(self, settings: Settings, sql: str, **limits):
        """``sql`` run read-only for a serving reader (the metrics API), as an Arrow table;
        ``limits``: ``timeout`` (seconds), ``max_rows``, ``catalog``."""
        module = self.load()
        if not hasattr(module, "read_only"):
            raise NotImplementedError(
                f"serving reads are not built for WAREHOUSE_TARGET={self.name!r} yet (engines "
                f"with them: {', '.join(n for n, e in ENGINES.items() if hasattr(e.load(), 'read_only'))})"
            )
        return module.read_only(settings, sql, **limits)


ENGINES: dict[str, Engine] = {}


def register(name: str, module: str) -> Engine:
    ENGINES[name] = Engine(name, module)
    return ENGINES[name]


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(
            f"unknown warehouse target {name!r}; registered: {', '.join(ENGINES)}"
        ) from None


def readers() -> list[str]:
    """Engines whose module has a ``warehouse`` (quality and ML run there)."""
    return [name for name, e in ENGINES.items() if hasattr(e.load(), "warehouse")]


for _name in TARGETS:
    register(_name, f"{__name__}.{_name}")


def get_backend(settings: Settings) -> Backend:
    """The backend ``WAREHOUSE_TARGET`` names, connected with settings from the environment."""
    return engine(settings.target).backend(settings)


__all__ = ["ENGINES", "AuditRow", "Backend", "Engine", "engine", "get_backend", "register"]
