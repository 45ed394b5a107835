"""The metrics API on 127.0.0.1: latency of ``POST /query`` and ``POST /ask``, cold and cached, and
throughput with 20 concurrent clients for 30 s.

The warehouse is the sample one (the committed ``sample_data/``, 14 days at scale 0.2, what
``make run`` builds), built into ``.local/bench/api`` (``BENCH_DIR`` moves it) by the production
loader and ``dbt build``; ``API_BENCH_DUCKDB`` + ``API_BENCH_MANIFEST`` use an existing one. The
API runs as ``make serve`` does (``python -m metrics_api serve``, one uvicorn worker), with the
in-process cache, then with Redis when ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``)
answers.

* **cold**: each request a query (or question) the API has not seen since it started: MetricFlow
  compiles it, the warehouse runs it (the vocabulary and "today" are warm, as after start-up).
* **cached**: the same requests again (``X-Cache: hit``).
* **throughput**: 20 client threads, each with its own keep-alive connection, for 30 s, on a mix
  of cached queries and questions; requests per second, p95, errors.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2026, 1, 14)
CLIENTS, SECONDS = 20, 30


def build_sample_warehouse(work: Path) -> tuple[Path, Path]:
    """The sample warehouse in ``work``: (DuckDB file, its semantic manifest)."""
    from ingestion.backends.duckdb import DuckDBBackend
    from ingestion.landing import discover
    from ingestion.loader import load_files

    work.mkdir(parents=True, exist_ok=True)
    db = work / "warehouse.duckdb"
    with DuckDBBackend(db) as backend:
        report = load_files(backend, discover(SAMPLE))
    if report.failed:
        raise RuntimeError(f"loading {SAMPLE} failed: {[f.file for f in report.failed]}")
    project = ROOT / "dbt_project"
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [
        str(Path(sys.executable).parent / "dbt"),
        "build",
        "--exclude-resource-type",
        "test",
        "unit_test",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--no-version-check",
        "--quiet",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
    manifest = work / "target" / "semantic_manifest.json"
    if done.returncode != 0 or not manifest.is_file():
        raise RuntimeError(f"dbt build failed ({done.returncode}):\n{done.stdout[-4000:]}")
    return db, manifest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``python -m metrics_api serve`` on 127.0.0.1, a port of its own; stopped by its PID."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metrics_api", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env={**env, "API_HOST": "127.0.0.1"},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 90) -> Server:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise TimeoutError(f"the API did not answer on {self.url} in {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        self._out.flush()
        return "\n".join(self.log.read_text().splitlines()[-30:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()

    def __enter__(self) -> Server:
        return self.wait()

    def __exit__(self, *exc) -> None:
        self.stop()


def _queries() -> list[dict]:
    """Distinct /query bodies: what the page and an analyst ask, over each day of the data."""
    bodies = []
    for offset in range((LAST_DAY - FIRST_DAY).days + 1):
        day = (FIRST_DAY + timedelta(days=offset)).isoformat()
        bodies += [
            {
                "metrics": ["net_revenue", "orders"],
                "group_by": ["order__channel"],
                "start": day,
                "end": day,
            },
            {
                "metrics": ["on_time_rate"],
                "group_by": ["carrier__carrier_name"],
                "start": FIRST_DAY.isoformat(),
                "end": day,
            },
            {
                "metrics": ["defect_rate", "waste_kg"],
                "group_by": ["facility__facility_name"],
                "start": day,
                "end": LAST_DAY.isoformat(),
            },
        ]
    return bodies


QUESTIONS = [
    "revenue yesterday",
    "orders by channel last week",
    "on-time rate by carrier this week",
    "why were deliveries late in Texas last week?",
    "top 5 products by revenue this month",
    "daily revenue last 7 days",
    "defect rate by facility this month",
    "return rate by category last 14 days",
    "waste by waste type last week",
    "revenue this week vs last week",
    "average order value by segment this month",
    "which carrier had the lowest on-time rate last week",
    "why did revenue drop yesterday",
    "cancellation rate by channel this month",
    "weekly orders this month",
    "on-time rate in snow last 14 days",
    "revenue from premium customers this month",
    "average rating by carrier last week",
    "orders per day by channel this week",
    "refunds by reason this month",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(client, path: str, body: dict, expect: str | None) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path} {body}: {response.status_code} {response.text[:300]}")
    if expect and response.headers.get("x-cache") != expect:
        raise RuntimeError(
            f"{path} {body}: X-Cache {response.headers.get('x-cache')}, not {expect}"
        )
    return elapsed


def _latency(client, path: str, bodies: list[dict], expect: str) -> str:
    times = [_timed(client, path, b, expect) * 1000 for b in bodies]
    return f"p50 {statistics.median(times):.0f} ms, p95 {_percentile(times, 0.95):.0f} ms"


def _load(url: str, bodies: list[tuple[str, dict]]) -> tuple[str, str]:
    import httpx

    stop = time.monotonic() + SECONDS
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = index
            while time.monotonic() < stop:
                path, body = bodies[i % len(bodies)]
                i += 1
                try:
                    elapsed = _timed(http, path, body, None)
                    with lock:
                        times.append(elapsed)
                except Exception as exc:  # counted and shown, never hidden
                    with lock:
                        errors.append(str(exc)[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = len(times) / SECONDS
    note = (
        f"{len(times)} requests, p95 {_percentile(times, 0.95) * 1000:.0f} ms, {len(errors)} errors"
    )
    if errors:
        note += f" (first: {errors[0]})"
    return f"{rate:.0f} req/s", note


#: The bench times the shared cache on the local Redis server when REDIS_URL names none (the
#: platform's own default is the in-process cache).
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or LOCAL_REDIS
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except Exception:
        return None


def _measure(env: dict, work: Path, label: str) -> list[tuple[str, str, str]]:
    import httpx

    rows = []
    queries, questions = _queries(), [{"question": q} for q in QUESTIONS]
    with (
        Server(env, work / f"server-{label}.log") as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        rows.append(
            (
                f"/query cold ({label})",
                _latency(http, "/query", queries, "miss"),
                f"{len(queries)} distinct queries",
            )
        )
        rows.append(
            (f"/query cached ({label})", _latency(http, "/query", queries, "hit"), "the same again")
        )
        rows.append(
            (
                f"/ask cold ({label})",
                _latency(http, "/ask", questions, "miss"),
                f"{len(questions)} distinct questions",
            )
        )
        rows.append(
            (f"/ask cached ({label})", _latency(http, "/ask", questions, "hit"), "the same again")
        )
        mix = [("/query", b) for b in queries[:12]] + [("/ask", q) for q in questions]
        rate, note = _load(server.url, mix)
        rows.append(
            (f"throughput ({label})", rate, f"{CLIENTS} clients x {SECONDS} s, cached mix; {note}")
        )
    return rows


def run() -> list[tuple[str, str, str]]:
    work = Path(os.environ.get("BENCH_DIR", ROOT / ".local" / "bench")) / "api"
    given = os.environ.get("API_BENCH_DUCKDB"), os.environ.get("API_BENCH_MANIFEST")
    if all(given):
        db, manifest = Path(given[0]), Path(given[1])
    else:
        shutil.rmtree(work, ignore_errors=True)
        started = time.perf_counter()
        db, manifest = build_sample_warehouse(work)
        print(f"sample warehouse built in {time.perf_counter() - started:.0f} s", flush=True)
    work.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "API_TODAY")} | {
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "SEMANTIC_MANIFEST": str(manifest),
        "MARTS_BUILD_FILE": str(work / "marts_build.json"),
        "API_STATE_DIR": str(work / "state"),
    }
    from metrics_api.build import publish

    publish(work / "marts_build.json", "duckdb")  # a fresh build id: nothing cached before
    rows = _measure(base, work, "in-process cache")
    redis_url = _redis_url()
    if redis_url:
        publish(work / "marts_build.json", "duckdb")
        rows += _measure({**base, "REDIS_URL": redis_url}, work, "Redis")
    else:
        rows.append(("Redis", "skipped", "no Redis answers on REDIS_URL / 127.0.0.1:6379"))
    if not all(given):
        shutil.rmtree(work, ignore_errors=True)
    return rows
