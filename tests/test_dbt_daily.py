"""Daily operation, from day 1 of a fresh warehouse, on DuckDB, PostgreSQL and Spark.

The path a team walks every day: the day's files land, they are loaded into bronze, and the
scheduled build runs (``dbt build --selector scheduled``, as the transform DAG runs it, with
``lookback_days`` 0: see ``SCHEDULED``). The walk
starts on day 1 of an empty warehouse (no shipments, returns or feedback yet: the incremental
facts start empty) and goes on for the five days of ``PLAN``, with what real days bring: one
table's file held back and delivered two days late, an earlier day delivered again, and a day
whose build is run twice.

After every build, every mart, metrics table and incremental staging or intermediate table must
equal a full refresh of the same bronze, row for row: ``dbt run --full-refresh --selector
scheduled --vars '{schema_suffix: _full}'`` rebuilds every layer next to the daily one
(``marts_full``, ...; see macros/generate_schema_name.sql), and the two are compared with
``except all`` both ways. Both are built from the same bronze rows, so every column is compared,
load times (``loaded_at``) included: none is left out.

The landing zone is the generator's own output (``data_generator.generate``), copied in day by day
as a delivery: every file of the generator whose path names the day, so whatever the generator
writes for a day (e.g. a readiness manifest) is delivered with it. A ``Delivery`` with a
``rewrite`` changes a file's content on its way in (a re-delivered file with new content): add
such a day to ``PLAN`` when the loader replaces re-delivered files.

DuckDB and PostgreSQL load in this process and run dbt as a subprocess (tests/dbt_support.py).
Spark walks in one child process (``python tests/test_dbt_daily.py request.json``, ``_main``):
one JVM and one session, as the embedded metastore allows one process at a time. There every
data test is a Spark job, so the days before the last run the scheduled selection's models only
(``dbt run --selector scheduled``, the same tables) and the last day the whole scheduled build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # script mode (Spark's child process)
    sys.path.insert(0, str(ROOT))

from tests.dbt_support import PROJECT, run_dbt  # noqa: E402

START = date(2026, 1, 1)
SCALE, SEED = 0.05, 7
SUFFIX = "_full"
#: layers compared with their full refresh: every table there (incremental staging and
#: intermediate tables too)
COMPARED_SCHEMAS = ("staging", "intermediate", "marts", "metrics")
#: the scheduled build, re-reading only what was loaded since its last run: loads in a test are
#: seconds apart, so the default window (7 days of loads) would re-read every row and hide a
#: wrong selection of changed rows
SCHEDULED = ("build", "--selector", "scheduled", "--vars", "{lookback_days: 0}")
FULL_REFRESH = ("run", "--full-refresh", "--selector", "scheduled", "--vars")
INCREMENTAL_FACTS = (
    "fct_order_lines",
    "fct_orders",
    "fct_shipments",
    "fct_returns",
    "fct_delivery_feedback",
    "metrics_sales_performance",
)
OK = {"success", "pass", "no-op"}
pytestmark = pytest.mark.slow


def day(n: int) -> date:
    return START + timedelta(days=n - 1)


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Delivery:
    """Files of the generator's day ``of_day`` put into the landing zone, then loaded.

    ``tables``: only those tables' files (default: all of the day's files); ``held_back``: all
    but those. ``rewrite`` changes each delivered CSV's content (a re-delivery with new content);
    without it the bytes are the generator's own."""

    of_day: date
    tables: tuple[str, ...] | None = None
    held_back: tuple[str, ...] = ()
    rewrite: Callable[[Path], None] | None = None
    #: what the loader must report for it: every file ``loaded`` or ``skipped``
    expect: str = "loaded"


@dataclass(frozen=True)
class PipelineDay:
    number: int
    deliveries: tuple[Delivery, ...]
    what: str
    builds: int = 1  # 2: the day's scheduled build is run again


def corrected_channel(path: Path) -> None:
    """A producer's correction: the first order of the file moves to another sales channel
    (the file comes again under its name with other content: a new version, which replaces the
    earlier version's rows in bronze)."""
    lines = path.read_text().split("\n")
    fields = lines[1].split(",")
    channel = fields[3]
    fields[3] = '"marketplace"' if channel != '"marketplace"' else '"web"'
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines))


#: the moved order's new updated_at: the end of day 6, newer than any status it had by then
MOVED_AT = f"{day(6)} 23:59:59"
#: the order files a correction re-delivers on day 6: every file with a version of the order
MOVED_IN = (3, 5)
_moved: dict[Path, tuple[int, int, int]] = {}


def moved_order(orders: Path) -> tuple[int, int, int]:
    """The order day 6's correction moves to another customer: in day 3's file, the first order
    whose versions on days 1-5 are in the files of days ``MOVED_IN`` and whose customer places no
    other order then, moved to the customer of day 3's last order: (order_id, its customer, the
    new customer). Once the corrected files replace those days' rows, no version in bronze names
    the old customer. Read from the orders files of days 1-5 in ``orders`` (the landing zone's,
    as the first correction is delivered, the generator's in a test); the same answer after."""
    if orders in _moved:
        return _moved[orders]
    buyers: dict[str, set[str]] = {}
    files: dict[str, set[int]] = {}
    header = ""
    for n in range(1, 6):
        header, *lines = (orders / f"{day(n)}.csv").read_text().splitlines()
        for line in lines:
            fields = line.split(",")
            buyers.setdefault(fields[1], set()).add(fields[0])
            files.setdefault(fields[0], set()).add(n)
    assert header.startswith("order_id,customer_id,"), header
    rows = [line.split(",") for line in (orders / f"{day(3)}.csv").read_text().splitlines()[1:]]
    new_customer = rows[-1][1]
    for fields in rows:
        alone = len(buyers[fields[1]]) == 1 and files[fields[0]] == set(MOVED_IN)
        if alone and fields[1] != new_customer:
            _moved[orders] = int(fields[0]), int(fields[1]), int(new_customer)
            return _moved[orders]
    raise AssertionError(f"no order to move in {orders / f'{day(3)}.csv'}")


def moved_customer(path: Path) -> None:
    """A producer's correction of a customer: every version of ``moved_order`` in this orders
    file names the new customer, the newest dated ``MOVED_AT`` (the file comes again under its
    name: its rows replace the earlier version's in bronze)."""
    order, _, new_customer = moved_order(path.parent)
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    customer, updated = header.index("customer_id"), header.index("updated_at")
    moved = [i for i, line in enumerate(lines) if line.split(",")[0] == str(order)]
    assert moved, f"order {order} is not in {path}"
    for i in moved:
        fields = lines[i].split(",")
        fields[customer] = str(new_customer)
        if i == moved[-1]:
            fields[updated] = MOVED_AT
        lines[i] = ",".join(fields)
    path.write_text("\n".join(lines))


def corrected_channel_and_customer(path: Path) -> None:
    """Day 3's orders again, corrected twice: the first order's channel (``corrected_channel``)
    and the moved order's customer (``moved_customer``)."""
    moved_order(path.parent)  # chosen before this file changes
    corrected_channel(path)
    moved_customer(path)


#: the late customer version's updated_at: late on day 2, older than the customer's current version
LATE_VERSION_AT = f"{day(2)} 23:59:59"


def late_version(customers: Path) -> tuple[int, str]:
    """A customer whose current version is from a later day than day 2 (the first on day 5, else
    day 4 or 3) and who is not in day 2's file: its id, and a CSV line of a new version of it
    dated ``LATE_VERSION_AT`` with another segment. The generator quotes text and writes no
    comma inside a value in these rows (checked: 14 fields)."""
    header, *ours = (customers / f"{day(2)}.csv").read_text().splitlines()
    on_day_two = {line.split(",")[0] for line in ours}
    first_day = {
        line.split(",")[0] for line in (customers / f"{day(1)}.csv").read_text().splitlines()
    }
    columns = header.split(",")
    segment, updated = columns.index("segment"), columns.index("updated_at")
    for later in (5, 4, 3):
        for line in (customers / f"{day(later)}.csv").read_text().splitlines()[1:]:
            fields = line.split(",")
            if len(fields) != len(columns) or fields[0] in on_day_two or fields[0] not in first_day:
                continue
            fields[segment] = '"business"' if fields[segment] != '"business"' else '"standard"'
            fields[updated] = LATE_VERSION_AT
            return int(fields[0]), ",".join(fields)
    raise AssertionError(f"no customer with a version after day 2 in {customers}")


def with_late_customer_version(path: Path) -> None:
    """Day 2's customers delivered again with one more row: a version of a customer whose current
    version came later (day 5's file, already delivered), dated day 2: it goes between the
    customer's day-1 version and its current one, and closes the day-1 version's window."""
    _, line = late_version(path.parent)
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n")


PLAN = (
    PipelineDay(1, (Delivery(day(1)),), "first day of a fresh warehouse: no shipments yet"),
    PipelineDay(
        2,
        (Delivery(day(2), held_back=("order_lines",)),),
        "day 2 without its order lines (held back): the first shipments",
    ),
    PipelineDay(3, (Delivery(day(3)),), "day 3, its build run twice", builds=2),
    PipelineDay(
        4,
        (Delivery(day(4)), Delivery(day(2), tables=("order_lines",))),
        "day 4 and the late order lines of day 2",
    ),
    PipelineDay(
        5,
        (Delivery(day(1), expect="skipped"), Delivery(day(5))),
        "day 1 delivered again (same bytes), then day 5: the first returns",
    ),
    PipelineDay(
        6,
        (
            Delivery(day(3), tables=("orders",), rewrite=corrected_channel_and_customer),
            Delivery(day(2), tables=("customers",), rewrite=with_late_customer_version),
            Delivery(day(MOVED_IN[1]), tables=("orders",), rewrite=moved_customer),
            Delivery(day(6)),
        ),
        "day 3's orders delivered again with a corrected channel and an order moved to another "
        "customer (new versions), day 2's customers again with a late version older than the "
        "customer's current one, day 5's orders again with the same order moved, then day 6; "
        "its build run twice",
        builds=2,
    ),
)
#: the pipeline day the held-back file is delivered on, and that file
LATE = (4, f"order_lines/{day(2)}.csv")
GENERATED_DAYS = (max(d.of_day for p in PLAN for d in p.deliveries) - START).days + 1


def deliver(source: Path, landing: Path, delivery: Delivery) -> list[str]:
    """Copy the generator's files of ``delivery.of_day`` into ``landing``; their table names."""
    stamp = delivery.of_day.isoformat()
    tables = []
    for path in sorted(source.rglob(f"*{stamp}*")):
        if not path.is_file():
            continue
        rel = path.relative_to(source)
        table = rel.parts[0] if len(rel.parts) > 1 else None
        if table in delivery.held_back or (
            delivery.tables is not None and table not in delivery.tables
        ):
            continue
        target = landing / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        if delivery.rewrite is not None and target.suffix == ".csv":
            delivery.rewrite(target)
        if table and not table.startswith("_"):  # _manifests/: the day's readiness manifest
            tables.append(table)
    if delivery.rewrite is not None:
        # the producer rewrote the day's files: it writes the day's readiness manifest anew
        from ingestion.landing import discover
        from ingestion.readiness import seal_day

        present = discover(landing, start=delivery.of_day, end=delivery.of_day)
        seal_day(landing, delivery.of_day, [f.name for f in present])
    # files of the whole run (e.g. the generator's _manifest.json) come along every time
    for path in source.iterdir():
        if path.is_file() and stamp not in path.name:
            shutil.copyfile(path, landing / path.name)
    assert tables, f"the generator wrote no files for {stamp} under {source}"
    return tables


# --------------------------------------------------------------------------- one day's work
@dataclass
class DayResult:
    """What one pipeline day did: loads, builds and the comparison with a full refresh."""

    number: int
    what: str
    loads: list[dict] = field(default_factory=list)
    builds: list[dict] = field(default_factory=list)
    reference: dict = field(default_factory=dict)
    compared: dict[str, dict] = field(default_factory=dict)

    @property
    def failed_builds(self) -> list[str]:
        runs = self.builds + ([self.reference] if self.reference else [])
        return [f"{run['command']}: {failure}" for run in runs for failure in run["failures"]]

    @property
    def differences(self) -> dict[str, dict]:
        return {
            m: c
            for m, c in self.compared.items()
            if c["rows"] != c["reference_rows"] or c["not_in_reference"] or c["only_in_reference"]
        }


def load_day(env: dict[str, str], landing: Path, of_day: date, tables: list[str]) -> dict:
    """Load the landing files of ``of_day`` of ``tables`` with the production loader."""
    from ingestion.backends import get_backend
    from ingestion.config import Settings
    from ingestion.landing import discover
    from ingestion.loader import load_files

    settings = Settings.from_env(env, landing=landing)
    files = discover(landing, tables=sorted(set(tables)), start=of_day, end=of_day)
    with get_backend(settings) as backend:
        report = load_files(backend, files)
    return {
        "day": of_day.isoformat(),
        "statuses": {r.file.name: r.status for r in report.results},
        "failed": [r.message for r in report.failed],
    }


def summarize_run(command: str, target_path: Path) -> dict:
    """dbt's run_results.json as: every node's status, and the ones that did not pass."""
    doc = json.loads((target_path / "run_results.json").read_text())
    results = doc["results"]
    failures = [
        f"{r['unique_id']} {r['status']}: {(r.get('message') or '').strip()[:800]}"
        for r in results
        if r["status"] not in OK | {"skipped"}
    ]
    skipped = sum(r["status"] == "skipped" for r in results)
    return {
        "command": command,
        "statuses": {r["unique_id"]: r["status"] for r in results},
        "failures": failures + ([f"{skipped} nodes skipped"] if skipped else []),
    }


def compared_tables(target_path: Path) -> list[tuple[str, str]]:
    """(schema, model) of every table of the compared layers the build made (manifest)."""
    manifest = json.loads((target_path / "manifest.json").read_text())
    out = []
    for node in manifest["nodes"].values():
        config = node["config"]
        if (
            node["resource_type"] == "model"
            and config.get("enabled", True)
            and "ml" not in node.get("tags", [])
            and node["schema"] in COMPARED_SCHEMAS
            and config["materialized"] in ("table", "incremental")
        ):
            out.append((node["schema"], node["name"]))
    return sorted(out)


def comparison_sql(schema: str, model: str) -> str:
    """Rows of the daily table, of its full refresh, and rows each has that the other lacks
    (``except all``: a duplicated row counts)."""
    daily, full = f"{schema}.{model}", f"{schema}{SUFFIX}.{model}"
    return (
        f"select (select count(*) from {daily}), (select count(*) from {full}), "
        f"(select count(*) from (select * from {daily} except all "
        f"select * from {full}) as a), "
        f"(select count(*) from (select * from {full} except all "
        f"select * from {daily}) as b)"
    )


def compare(query: Callable[[str], list[tuple]], tables: list[tuple[str, str]]) -> dict:
    out = {}
    for schema, model in tables:
        rows, reference, missing, extra = (int(v) for v in query(comparison_sql(schema, model))[0])
        out[model] = {
            "rows": rows,
            "reference_rows": reference,
            "not_in_reference": missing,
            "only_in_reference": extra,
        }
    return out


def run_day(
    plan_day: PipelineDay,
    env: dict[str, str],
    landing: Path,
    work: Path,
    dbt: Callable[[tuple[str, ...], Path], dict],
    query: Callable[[str], list[tuple]],
    tables_of: list[list[str]],
    build: tuple[str, ...] = SCHEDULED,
) -> DayResult:
    """Load the day's deliveries, run its build(s), the full refresh, and compare the two."""
    result = DayResult(plan_day.number, plan_day.what)
    for delivery, tables in zip(plan_day.deliveries, tables_of, strict=True):
        loaded = load_day(env, landing, delivery.of_day, tables)
        result.loads.append(loaded)
        if loaded["failed"]:
            return result
    for n in range(plan_day.builds):
        build_path = work / f"day{plan_day.number}_build{n + 1}"
        result.builds.append(dbt(build, build_path))
        if result.builds[-1]["failures"]:
            return result
    full = (*FULL_REFRESH, f"{{schema_suffix: {SUFFIX}}}")
    result.reference = dbt(full, work / f"day{plan_day.number}_full")
    if result.reference["failures"]:
        return result
    result.compared = compare(query, compared_tables(build_path / "target"))
    return result


def walk_plan(
    generated: Path,
    landing: Path,
    env: dict[str, str],
    work: Path,
    dbt: Callable[[tuple[str, ...], Path], dict],
    query: Callable[[str], list[tuple]],
    build_of: Callable[[PipelineDay], tuple[str, ...]] = lambda _: SCHEDULED,
) -> list[DayResult]:
    """Every day of ``PLAN``: deliver, load, build, compare; stops after a day that failed."""
    days = []
    for plan_day in PLAN:
        tables_of = [deliver(generated, landing, d) for d in plan_day.deliveries]
        days.append(
            run_day(plan_day, env, landing, work, dbt, query, tables_of, build_of(plan_day))
        )
        if not days[-1].compared:
            break
    return days


# --------------------------------------------------------------------------- engines
@dataclass
class Engine:
    """One warehouse the walk runs on: how to walk the plan, and how to query it afterwards
    (in this process; None for Spark, whose session lives in the child process)."""

    name: str
    walk: Callable[[Path, Path], list[DayResult]]
    query: Callable[[str], list[tuple]] | None = None


def _subprocess_dbt(env: dict[str, str], threads: int) -> Callable[[tuple, Path], dict]:
    def dbt(args: tuple[str, ...], work: Path) -> dict:
        done = run_dbt(work, env, *args, threads=threads)
        if not (work / "target" / "run_results.json").is_file():
            raise AssertionError(
                f"dbt {' '.join(args)} wrote no run_results.json ({done.returncode}):\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
            )
        return summarize_run(" ".join(args), work / "target")

    return dbt


def _local_engine(name: str, env: dict[str, str], work: Path, query) -> Engine:
    # the daily build's own test scope (recent rows), as scheduled; two threads, as the
    # DuckDB profile says
    dbt = _subprocess_dbt({**env, "DBT_DATA_TESTS_SCOPE": "recent"}, threads=2)

    def walk(generated: Path, landing: Path) -> list[DayResult]:
        return walk_plan(generated, landing, env, work, dbt, query)

    return Engine(name, walk, query)


@contextmanager
def duckdb_engine(work: Path) -> Iterator[Engine]:
    import duckdb

    path = work / "warehouse.duckdb"
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(path),
        "BRONZE_SCHEMA": "bronze",
    }

    def query(sql: str) -> list[tuple]:
        # short-lived: DuckDB allows one writing process per file, dbt's comes next
        with duckdb.connect(str(path)) as con:
            return con.execute(sql).fetchall()

    yield _local_engine("duckdb", env, work, query)


@contextmanager
def postgres_engine(work: Path) -> Iterator[Engine]:
    """A fresh database (every schema dbt builds lands in it), dropped at the end."""
    import psycopg

    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"dbt_daily_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "postgres",
        "BRONZE_SCHEMA": "bronze",
        "PGHOST": admin["host"],
        "PGPORT": admin["port"],
        "PGUSER": admin["user"],
        "PGDATABASE": name,
    }

    def query(sql: str) -> list[tuple]:
        with psycopg.connect(dbname=name, autocommit=True, **admin) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    try:
        yield _local_engine("postgres", env, work, query)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def spark_build(plan_day: PipelineDay) -> tuple[str, ...]:
    """On Spark every data test is a Spark job (~160 of them, minutes on two cores): the days
    before the last run the scheduled selection's models only (``dbt run``: the same tables),
    the last day the whole scheduled build, tests included."""
    return SCHEDULED if plan_day is PLAN[-1] else ("run", *SCHEDULED[1:])


@contextmanager
def spark_engine(work: Path) -> Iterator[Engine]:
    """The whole walk in one child process (``_main``): one JVM and one Spark session for the
    loads, the builds, the full refreshes and the comparisons."""
    pytest.importorskip("pyspark")
    pytest.importorskip("dbt.adapters.spark")
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "spark",
        "BRONZE_SCHEMA": "bronze",
        "SPARK_WAREHOUSE_DIR": str(work / "spark" / "warehouse"),
        "SPARK_METASTORE_DIR": str(work / "spark" / "metastore"),
        "SPARK_SHUFFLE_PARTITIONS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_DATA_TESTS_SCOPE": "recent",
    }

    def walk(generated: Path, landing: Path) -> list[DayResult]:
        request, answer = work / "request.json", work / "answer.json"
        request.write_text(
            json.dumps(
                {
                    "generated": str(generated),
                    "landing": str(landing),
                    "work": str(work),
                    "out": str(answer),
                }
            )
        )
        done = subprocess.run(
            [sys.executable, __file__, str(request)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        assert done.returncode == 0 and answer.is_file(), (
            f"the daily walk on Spark failed ({done.returncode}):\n"
            f"{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
        )
        return [DayResult(**d) for d in json.loads(answer.read_text())]

    yield Engine("spark", walk)


def _main(request_path: str) -> int:
    """Script mode (Spark): the walk in this process, dbt through its Python runner."""
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    request = json.loads(Path(request_path).read_text())

    def dbt(args: tuple[str, ...], path: Path) -> dict:
        argv = [
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(path / "target"),
            "--log-path",
            str(path / "logs"),
            "--threads",
            "2",
            "--no-version-check",
        ]
        done = dbtRunner().invoke(argv)
        if not (path / "target" / "run_results.json").is_file():
            raise RuntimeError(f"dbt {' '.join(args)} wrote no run_results.json: {done.exception}")
        return summarize_run(" ".join(args), path / "target")

    def query(sql: str) -> list[tuple]:
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        return [tuple(row) for row in spark.sql(sql).collect()]

    days = walk_plan(
        Path(request["generated"]),
        Path(request["landing"]),
        dict(os.environ),
        Path(request["work"]),
        dbt,
        query,
        spark_build,
    )
    Path(request["out"]).write_text(json.dumps([d.__dict__ for d in days]))
    return 0


ENGINES = {"duckdb": duckdb_engine, "postgres": postgres_engine, "spark": spark_engine}


# --------------------------------------------------------------------------- the walk
@dataclass
class Walk:
    engine: Engine
    days: list[DayResult]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """The generator's output for every day of the plan (read-only: deliveries copy from it)."""
    from data_generator import generate

    out = tmp_path_factory.mktemp("daily_generated") / "landing"
    generate(start=START, days=GENERATED_DAYS, scale=SCALE, seed=SEED, out=out)
    return out


@pytest.fixture(
    scope="module",
    params=[
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=pytest.mark.spark),
    ],
)
def walk(request, generated, tmp_path_factory) -> Iterator[Walk]:
    """Every day of ``PLAN`` on a fresh warehouse of the engine."""
    work = tmp_path_factory.mktemp(f"daily_{request.param}")
    landing = work / "landing"
    landing.mkdir()
    with ENGINES[request.param](work) as engine:
        yield Walk(engine, engine.walk(generated, landing))


def _why(result: DayResult) -> str:
    failed = [f for load in result.loads for f in load["failed"]]
    return "; ".join(failed + result.failed_builds) or "no comparison was made"


# --------------------------------------------------------------------------- tests
def test_every_day_loads_and_builds_with_the_scheduled_selector(walk):
    for result in walk.days:
        assert result.compared, f"day {result.number} ({result.what}): {_why(result)}"
    assert len(walk.days) == len(PLAN)
    # the build of every day ran the whole scheduled selection: models and data tests
    for result in walk.days:
        for build in result.builds:
            kinds = {uid.split(".")[0] for uid in build["statuses"]}
            tested = build["command"].startswith("build")
            assert {"model", "test"} <= kinds if tested else "model" in kinds, (
                result.number,
                kinds,
            )
            assert "unit_test" not in kinds
    assert walk.days[-1].builds[-1]["command"] == " ".join(SCHEDULED)
    assert [len(r.builds) for r in walk.days] == [p.builds for p in PLAN]


def test_after_each_day_every_mart_and_metrics_table_equals_a_full_refresh(walk):
    for result in walk.days:
        assert result.compared, f"day {result.number} ({result.what}): {_why(result)}"
        assert not result.differences, (
            f"day {result.number} ({result.what}): daily build differs from a full refresh: "
            f"{json.dumps(result.differences, indent=1)}"
        )
    compared = walk.days[-1].compared
    schemas = {"marts": "fct_", "metrics": "metrics_"}
    for prefix in schemas.values():
        assert any(m.startswith(prefix) for m in compared), sorted(compared)
    assert set(INCREMENTAL_FACTS) <= set(compared)


def test_incremental_facts_that_start_empty_fill_up(walk):
    """No shipments on day 1: fct_shipments starts as an empty incremental table, and so do
    returns and delivery feedback; the days after must still fill them."""
    for result in walk.days:
        assert result.compared, f"day {result.number} ({result.what}): {_why(result)}"
    first, last = walk.days[0], walk.days[-1]
    for model in ("fct_shipments", "fct_returns", "fct_delivery_feedback"):
        assert first.compared[model]["rows"] == 0, model
        assert last.compared[model]["rows"] > 0, model
    assert walk.days[1].compared["fct_shipments"]["rows"] > 0


def test_late_and_redelivered_files_load_as_the_plan_says(walk):
    for result, plan_day in zip(walk.days, PLAN, strict=False):
        for load, delivery in zip(result.loads, plan_day.deliveries, strict=True):
            statuses = set(load["statuses"].values())
            assert statuses == {delivery.expect}, (result.number, load)
    number, name = LATE
    assert list(walk.days[number - 1].loads[1]["statuses"]) == [name]
    # the corrected re-delivery replaced its earlier version: the daily facts follow it (the
    # comparison with a full refresh above), and bronze holds the new version only
    assert list(walk.days[5].loads[0]["statuses"]) == [f"orders/{day(3)}.csv"]
    # while the file was missing, its day's orders were in the facts without their lines
    lines = [r.compared["fct_order_lines"]["rows"] for r in walk.days]
    orders = [r.compared["fct_orders"]["rows"] for r in walk.days]
    assert lines[1] == lines[0] and orders[1] > orders[0]
    assert lines[number - 1] > lines[number - 2]


def test_a_late_customer_version_takes_its_place_in_the_history(walk, generated):
    """A version that arrives after the customer's current one but is dated before it: on day 6,
    day 2's customers come again with a version dated day 2 of a customer whose current version
    is from day 3-5. The daily dim_customer (equal to a full refresh after every day, above) holds
    it between the two, the day-1 version's window closed at its date, the current one still
    current. Before day 6 the customer has two versions."""
    customer, _ = late_version(generated / "customers")
    for result in walk.days:
        assert result.compared, f"day {result.number} ({result.what}): {_why(result)}"
    assert list(walk.days[5].loads[1]["statuses"]) == [f"customers/{day(2)}.csv"]
    assert set(walk.days[5].loads[1]["statuses"].values()) == {"loaded"}
    if walk.engine.query is None:
        pytest.skip("the dim's rows are read on the in-process engines (Spark: the comparison)")
    rows = walk.engine.query(
        "select cast(valid_from as varchar), cast(valid_to as varchar), is_current, segment"
        f" from marts.dim_customer where customer_id = {customer} order by valid_from"
    )
    assert len(rows) == 3, rows
    (first_from, first_to, *_), (late_from, late_to, late_current, _), current = rows
    assert first_to.startswith(LATE_VERSION_AT) and late_from.startswith(LATE_VERSION_AT), rows
    assert late_to == current[0] and not late_current and current[2], rows
    assert first_from < late_from < current[0], rows


def test_an_order_moved_to_another_customer_leaves_the_month_it_was_in(walk, generated):
    """Day 6's correction moves a day-3 order from a customer with no other order to another
    customer, in both files with a version of it. The customers' orders by month (equal to a
    full refresh after every day, above) drop the first customer's month, left empty, and count
    the order in the second's. The re-delivered files replaced the old versions in bronze, so
    nothing there names the month the order left: the daily build must see the replaced files."""
    order, first, second = moved_order(generated / "orders")
    later = (generated / "orders" / f"{day(6)}.csv").read_text().splitlines()[1:]
    assert all(line.split(",")[1] != str(first) for line in later), "no empty month to test"
    assert all(line.split(",")[0] != str(order) for line in later), "a later version names it"
    for result in walk.days:
        assert result.compared, f"day {result.number} ({result.what}): {_why(result)}"
    if walk.engine.query is None:
        pytest.skip("the rows are read on the in-process engines (Spark: the comparison)")
    query = walk.engine.query
    customers = dict(query("select order_id, customer_id from marts.fct_orders"))
    assert customers[order] == second
    months: dict[int, int] = {}
    for customer, orders in query(
        "select customer_id, orders from intermediate.int_customer_order_months"
    ):
        months[customer] = months.get(customer, 0) + orders
    assert first not in months and months[second] >= 2, (months.get(first), months.get(second))


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_comparison_sees_a_changed_or_missing_row(walk, change):
    """The check the daily test relies on fails in the direction it guards."""
    if walk.engine.query is None:
        pytest.skip("the comparison itself is checked on the in-process engines")
    query = walk.engine.query
    tables = [("marts", "fct_orders")]
    assert compare(query, tables)["fct_orders"]["not_in_reference"] == 0
    key = query("select max(order_id) from marts_full.fct_orders")[0][0]
    if change == "update":
        query(f"update marts.fct_orders set units = units + 1 where order_id = {key}")
        expected = (1, 1)
    else:
        query(f"delete from marts.fct_orders where order_id = {key}")
        expected = (0, 1)
    found = compare(query, tables)["fct_orders"]
    assert (found["not_in_reference"], found["only_in_reference"]) == expected
    # put the full refresh's row back, for the next case
    query(f"delete from marts.fct_orders where order_id = {key}")
    query(
        f"insert into marts.fct_orders select * from marts_full.fct_orders where order_id = {key}"
    )


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1]))
