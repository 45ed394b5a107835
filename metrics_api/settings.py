"""The metrics API's settings: one typed object, read from the environment once, through
:mod:`platform_core.settings` (every variable, its default and meaning: README "Settings"). The
API reads DuckDB (``DUCKDB_PATH``, read-only) or PostgreSQL (``PG*``, as
``WAREHOUSE_READER_ROLE``); ``SEMANTIC_MANIFEST``, ``API_STATE_DIR``, ``MARTS_BUILD_FILE``,
``REDIS_URL`` and the ``API_*`` limits shape the service.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from platform_core.settings import current

from .build import build_file

TARGETS = ("duckdb", "postgres")


def _number(settings, name: str, minimum: float) -> float:
    number = float(settings.get(name))
    if number < minimum:
        raise ValueError(f"{name}={number:g} must be at least {minimum:g}")
    return number


@dataclass(frozen=True)
class ApiSettings:
    target: str
    duckdb_path: Path
    semantic_manifest: Path | None
    state_dir: Path
    build_file: Path
    redis_url: str | None
    cache_ttl: int
    cache_entries: int
    statement_timeout: float
    max_rows: int
    max_body_bytes: int
    host: str
    port: int
    today: date | None
    env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = dict(os.environ if environ is None else environ)
        settings = current(env)
        target = settings.target
        if target not in TARGETS:
            raise ValueError(
                f"WAREHOUSE_TARGET={target!r}: the metrics API reads {' or '.join(TARGETS)} "
                "(the engines whose module in ingestion/backends has read_only)"
            )
        host = settings.get("API_HOST")
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
            raise ValueError(f"API_HOST={host!r} is not a host name or address")
        manifest = settings.get("SEMANTIC_MANIFEST")
        state_dir = settings.get("API_STATE_DIR") or settings.local_dir / "metrics_api"
        return cls(
            target=target,
            duckdb_path=settings.duckdb_path,
            semantic_manifest=manifest.resolve() if manifest else None,
            state_dir=state_dir.resolve(),
            build_file=build_file(env),
            redis_url=settings.get("REDIS_URL") or None,
            cache_ttl=int(_number(settings, "API_CACHE_TTL", minimum=1)),
            cache_entries=int(_number(settings, "API_CACHE_ENTRIES", minimum=1)),
            statement_timeout=_number(settings, "API_STATEMENT_TIMEOUT", minimum=0.1),
            max_rows=int(_number(settings, "API_MAX_ROWS", minimum=1)),
            max_body_bytes=int(_number(settings, "API_MAX_BODY_BYTES", minimum=256)),
            host=host,
            port=settings.get("API_PORT"),
            today=settings.get("API_TODAY"),
            env=env,
        )
