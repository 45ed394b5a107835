"""The API's work without HTTP: run a checked query through cache, MetricFlow and the warehouse.

``MetricsService.run(query)``: the cache key is the normalised query under the current build id;
a hit returns the stored Arrow table; a miss compiles with MetricFlow (compiled SQL is kept per
query), runs the SQL through :class:`metrics_api.engine.Reader` and stores the table.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa

from . import build as builds
from .cache import CacheError, key_for, make_cache
from .engine import Reader
from .query import Query, metricflow_request
from .semantic import SemanticLayer, ensure_manifest
from .settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass
class Result:
    query: Query
    table: pa.Table
    sql: str
    cache: str  # hit, miss or bypass
    build_id: str
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def records(self) -> list[dict]:
        from .engine import python_value

        return [{k: python_value(v) for k, v in row.items()} for row in self.table.to_pylist()]


def encode(table: pa.Table, sql: str) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    head = json.dumps({"sql": sql}).encode()
    return len(head).to_bytes(4, "big") + head + sink.getvalue()


def decode(blob: bytes) -> tuple[pa.Table, str]:
    size = int.from_bytes(blob[:4], "big")
    head = json.loads(blob[4 : 4 + size])
    table = pa.ipc.open_stream(io.BytesIO(blob[4 + size :])).read_all()
    return table, head["sql"]


class MetricsService:
    """One per process: the semantic layer (warm), the reader, the cache, the build watcher."""

    def __init__(self, settings: ApiSettings, layer: SemanticLayer | None = None):
        self.settings = settings
        self.layer = layer or SemanticLayer(ensure_manifest(settings), settings.target)
        self.reader = Reader(settings, catalog=self.layer.database)
        self.cache = make_cache(settings.redis_url, settings.cache_entries, settings.cache_ttl)
        self.builds = builds.BuildWatcher(settings.build_file)
        self._seen_build: str | None = None
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], set] = {}

    # ------------------------------------------------------------------ build changes
    def build_id(self) -> str:
        current = self.builds.current().build_id
        if current != self._seen_build:
            with self._lock:
                previous, self._seen_build = self._seen_build, current
                self._values.clear()
            if previous is not None:
                try:
                    retired = self.cache.retire(previous)
                    log.info("new marts build %s: %d cached answers retired", current, retired)
                except CacheError as exc:
                    log.warning(
                        "new marts build %s: could not retire old answers: %s", current, exc
                    )
        return current

    # ------------------------------------------------------------------ queries
    def run(self, query: Query, kind: str = "query") -> Result:
        started = time.perf_counter()
        build_id = self.build_id()
        key = key_for(build_id, kind, query.normalised())
        state = "miss"
        try:
            blob = self.cache.get(key)
        except CacheError:
            blob, state = None, "bypass"
        if blob is not None:
            table, sql = decode(blob)
            return Result(query, table, sql, "hit", build_id, time.perf_counter() - started)
        sql = self.sql(query)
        table = self.reader.run(sql, self.settings.max_rows)
        if state == "miss":
            try:
                self.cache.set(key, encode(table, sql))
            except CacheError:
                state = "bypass"
        return Result(query, table, sql, state, build_id, time.perf_counter() - started)

    def sql(self, query: Query) -> str:
        key = json.dumps(query.normalised(), sort_keys=True, default=str)
        request = metricflow_request(query, self.layer, self.settings.max_rows + 1)
        return self.layer.compile(key, request)

    def values_of(self, dimension: str) -> set:
        """The values a categorical dimension holds (per build; for checks and questions)."""
        build_id = self.build_id()
        cached = self._values.get((build_id, dimension))
        if cached is not None:
            return cached
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        request = MetricFlowQueryRequest.create(group_by_names=[dimension], limit=2001)
        sql = self.layer.compile(f"values:{dimension}", request)
        table = self.reader.run(sql, 2001)
        values = {v for v in table.column(0).to_pylist() if v is not None}
        self._values[(build_id, dimension)] = values
        return values

    def last_day(self, metric: str = "orders") -> date | None:
        """The newest day with data for ``metric`` (what "today" means in questions)."""
        if self.settings.today:
            return self.settings.today
        result = self.run(
            Query(
                metrics=(metric,),
                group_by=("metric_time__day",),
                order_by=("-metric_time__day",),
                limit=1,
            ),
            kind="last_day",
        )
        days = result.table.column("metric_time__day").to_pylist()
        return days[0] if days else None

    def status(self) -> dict:
        build = self.builds.current()
        return {
            "target": self.settings.target,
            "build": {"id": build.build_id, "finished_at": build.finished_at},
            "cache": self.cache.status(),
            "metrics": len(self.layer.metrics),
            "semantic_manifest": str(self.layer.manifest_path),
        }
