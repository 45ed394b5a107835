"""The metrics API's settings: one typed object, read from the environment once.

| variable | meaning | default |
| --- | --- | --- |
| ``WAREHOUSE_TARGET`` | the engine the API reads (``duckdb`` or ``postgres``) | ``duckdb`` |
| ``DUCKDB_PATH`` | the DuckDB warehouse file, opened read-only | ``<repo>/.local/warehouse.duckdb`` |
| ``PGHOST`` ``PGPORT`` ``PGDATABASE`` | the PostgreSQL server and warehouse database | libpq's own |
| ``WAREHOUSE_READER_ROLE`` ``WAREHOUSE_READER_PASSWORD`` | the read-only login (``python -m ingestion roles``) | ``analytics_reader`` / none |
| ``SEMANTIC_MANIFEST`` | dbt's ``semantic_manifest.json`` for that target | made by ``dbt parse`` under ``API_STATE_DIR`` |
| ``API_STATE_DIR`` | where the API keeps its parsed dbt project | ``<repo>/.local/metrics_api`` |
| ``MARTS_BUILD_FILE`` | the build id the transform DAG publishes (cache key) | ``<PLATFORM_LOCAL_DIR or .local>/marts_build.json`` |
| ``REDIS_URL`` | the shared cache (``redis://host:6379/0``); unset: an in-process LRU | unset |
| ``API_CACHE_TTL`` | seconds a cached answer lives at most (a new build ends it sooner) | ``3600`` |
| ``API_CACHE_ENTRIES`` | answers the in-process LRU keeps | ``512`` |
| ``API_STATEMENT_TIMEOUT`` | seconds one warehouse query may run | ``10`` |
| ``API_MAX_ROWS`` | rows one answer may hold | ``5000`` |
| ``API_MAX_BODY_BYTES`` | largest request body accepted | ``16384`` |
| ``API_HOST`` ``API_PORT`` | where ``make serve`` listens | ``127.0.0.1`` / ``8070`` |
| ``API_TODAY`` | the day "today" means in questions (``YYYY-MM-DD``) | the last day with data |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .build import build_file

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("duckdb", "postgres")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
    if number < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum:g}")
    return number


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class ApiSettings:
    target: str = "duckdb"
    duckdb_path: Path = ROOT / ".local" / "warehouse.duckdb"
    semantic_manifest: Path | None = None
    state_dir: Path = ROOT / ".local" / "metrics_api"
    build_file: Path = ROOT / ".local" / "marts_build.json"
    redis_url: str | None = None
    cache_ttl: int = 3600
    cache_entries: int = 512
    statement_timeout: float = 10.0
    max_rows: int = 5000
    max_body_bytes: int = 16384
    host: str = "127.0.0.1"
    port: int = 8070
    today: date | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = dict(os.environ if environ is None else environ)
        target = (env.get("WAREHOUSE_TARGET") or "duckdb").strip().lower()
        if target not in TARGETS:
            raise ValueError(
                f"WAREHOUSE_TARGET={target!r}: the metrics API reads {' or '.join(TARGETS)} "
                "(other engines come with the engine registry)"
            )
        today = env.get("API_TODAY", "").strip()
        try:
            today_date = date.fromisoformat(today) if today else None
        except ValueError:
            raise ValueError(f"API_TODAY={today!r} is not a date (YYYY-MM-DD)") from None
        host = env.get("API_HOST", "").strip() or "127.0.0.1"
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
            raise ValueError(f"API_HOST={host!r} is not a host name or address")
        manifest = env.get("SEMANTIC_MANIFEST", "").strip()
        return cls(
            target=target,
            duckdb_path=_path(env, "DUCKDB_PATH", ROOT / ".local" / "warehouse.duckdb"),
            semantic_manifest=Path(manifest).expanduser().resolve() if manifest else None,
            state_dir=_path(env, "API_STATE_DIR", ROOT / ".local" / "metrics_api"),
            build_file=build_file(env),
            redis_url=env.get("REDIS_URL", "").strip() or None,
            cache_ttl=int(_number(env, "API_CACHE_TTL", 3600, 1)),
            cache_entries=int(_number(env, "API_CACHE_ENTRIES", 512, 1)),
            statement_timeout=_number(env, "API_STATEMENT_TIMEOUT", 10.0, 0.1),
            max_rows=int(_number(env, "API_MAX_ROWS", 5000, 1)),
            max_body_bytes=int(_number(env, "API_MAX_BODY_BYTES", 16384, 256)),
            host=host,
            port=int(_number(env, "API_PORT", 8070, 1)),
            today=today_date,
            env=env,
        )
