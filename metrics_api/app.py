"""The HTTP service (FastAPI): the live page, ``/metrics``, ``/query``, ``/ask``, ``/alerts``, ``/status``.

Every answer carries ``X-Cache`` (``hit``, ``miss`` or ``bypass``) and ``X-Build-Id`` (the marts
build it was computed from). Errors are JSON ``{"detail": ...}`` saying what was wrong and what to
do: 413 a body over ``API_MAX_BODY_BYTES``, 422 a request that fails a check (or that MetricFlow
cannot answer), 503 with ``Retry-After`` while the warehouse cannot be read (a DuckDB build holds
the file), 504 a query over ``API_STATEMENT_TIMEOUT``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from . import alerts as alert_feed
from .ask import Asker, AskRequest, NotUnderstood
from .engine import QueryTimeout, TooManyRows, WarehouseBusy
from .query import InvalidQuery, QueryRequest, check
from .service import MetricsService, Result
from .settings import ApiSettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _headers(result: Result) -> dict[str, str]:
    return {
        "X-Cache": result.cache,
        "X-Build-Id": result.build_id,
        "Server-Timing": f"query;dur={result.seconds * 1000:.1f}",
    }


def render(result: Result, fmt: str, extra: dict | None = None) -> Response:
    headers = _headers(result)
    if fmt == "csv":
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(result.table, sink)
        return Response(sink.getvalue().to_pybytes(), media_type="text/csv", headers=headers)
    if fmt == "arrow":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, result.table.schema) as writer:
            writer.write_table(result.table)
        return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM, headers=headers)
    body = {
        "query": result.query.describe(),
        "columns": result.table.column_names,
        "rows": result.records(),
        "build_id": result.build_id,
        **(extra or {}),
    }
    return JSONResponse(body, headers=headers)


class BodyLimit:
    """413 for a request body over ``limit`` bytes, declared or streamed (pure ASGI)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        seen, refused = 0, False

        async def counted():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}  # the app stops reading
            return message

        async def guarded(message):
            if not refused:  # after the 413 the app has nothing more to say
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send):
        body = (
            b'{"detail":"request body over %d bytes (API_MAX_BODY_BYTES): ask for less"}'
            % self.limit
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(
    settings: ApiSettings | None = None, service: MetricsService | None = None
) -> FastAPI:
    settings = settings or (service.settings if service else ApiSettings.from_env())
    # MetricFlow logs every plan and query at INFO: the API's own log says what matters
    for name in ("metricflow", "metricflow_semantics", "dbt_semantic_interfaces"):
        logging.getLogger(name).setLevel(logging.WARNING)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = service or MetricsService(settings)
        app.state.asker = Asker(app.state.service)
        try:  # warm: "today", the values questions may name, the page's first queries
            app.state.asker.interpreter()
            app.state.service.last_day()
        except (WarehouseBusy, FileNotFoundError) as exc:
            log.warning("metrics API started cold (the warehouse cannot be read yet): %s", exc)
        yield

    app = FastAPI(
        title="Metrics API",
        summary="MetricFlow metrics over the marts, plain-language questions, a live page",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(InvalidQuery)
    async def invalid(request: Request, exc: InvalidQuery):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(NotUnderstood)
    async def not_understood(request: Request, exc: NotUnderstood):
        return JSONResponse(exc.body(), status_code=422)

    @app.exception_handler(TooManyRows)
    async def too_many(request: Request, exc: TooManyRows):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(QueryTimeout)
    async def timeout(request: Request, exc: QueryTimeout):
        return JSONResponse({"detail": str(exc)}, status_code=504)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    try:
        from metricflow_semantics.errors.error_classes import InformativeUserError

        @app.exception_handler(InformativeUserError)
        async def metricflow_refused(request: Request, exc: InformativeUserError):
            return JSONResponse(
                {"detail": f"MetricFlow cannot answer this query: {exc}"}, status_code=422
            )
    except ImportError:  # pragma: no cover - MetricFlow is a dependency
        pass

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/status")
    def status(request: Request) -> dict:
        svc: MetricsService = request.app.state.service
        body = svc.status()
        try:
            body["last_day"] = str(svc.last_day())
        except (WarehouseBusy, FileNotFoundError) as exc:
            body["last_day"] = None
            body["warehouse_error"] = str(exc)
        return body

    @app.get("/metrics")
    def metrics(request: Request) -> dict:
        layer = request.app.state.service.layer
        return {
            "metrics": [
                {
                    "name": m.name,
                    "label": m.label,
                    "description": m.description,
                    "type": m.type,
                    "dimensions": list(m.dimensions),
                    "time_dimensions": list(m.time_dimensions),
                }
                for m in sorted(layer.metrics.values(), key=lambda m: m.name)
            ]
        }

    @app.post("/query")
    def query(body: QueryRequest, request: Request) -> Response:
        svc: MetricsService = request.app.state.service
        checked = check(body, svc.layer, svc.settings.max_rows, svc.values_of)
        if body.explain:
            return JSONResponse(
                {"query": checked.describe(), "sql": svc.sql(checked)},
                headers={"X-Build-Id": svc.build_id()},
            )
        return render(svc.run(checked), body.format)

    @app.post("/ask")
    def ask(body: AskRequest, request: Request) -> Response:
        answer = request.app.state.asker.ask(body.question)
        return JSONResponse(answer.body(), headers=answer.headers())

    @app.get("/alerts")
    def alerts(request: Request, limit: int = 10) -> Response:
        svc: MetricsService = request.app.state.service
        limit = max(1, min(limit, 50))
        return JSONResponse({"alerts": alert_feed.latest(svc, limit)})

    @app.get("/anomalies")
    def anomalies(request: Request, metric: str) -> Response:
        """One quality monitor's series (the link of an anomaly alert)."""
        svc: MetricsService = request.app.state.service
        if not 0 < len(metric) <= 200:
            return JSONResponse({"error": "metric: a monitor's label, 1-200 characters"}, 422)
        rows = alert_feed.series(svc, metric)
        return JSONResponse({"metric": metric, "days": alert_feed.SERIES_DAYS, "series": rows})

    return app
