"""``make run``: the platform's DAGs, run by Airflow's own runner (``dag.test()``) in asset order.

ingest_daily runs once per day of the range (its logical date's batch is generated and loaded);
then transform, quality_checks and ml_retrain run once, as the scheduler would after the
``bronze`` and ``marts`` assets were updated (an asset-triggered DAG run consumes every event
queued since its last run). The terminal shows one line per DAG run, a live count of dbt nodes
during the transform and, at the end, what each layer holds and where to look; the libraries'
logs go to ``.local/logs/run-<time>.log`` (``-v``: to the terminal). See orchestration/console.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from platform_core.settings import current

from .home import DAGS


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    runs: int = 0
    tasks: dict[str, int] = field(default_factory=dict)


def _load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    if str(DAGS) not in sys.path:  # as Airflow's DAG processor does for the DAGs folder
        sys.path.insert(0, str(DAGS))
    bag = DagBag(dag_folder=str(DAGS))
    if bag.import_errors:
        errors = "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
        raise SystemExit(f"DAG import errors:\n{errors}")
    return bag.dags


def _run(dag, logical_date: datetime | None, stage: Stage) -> None:
    from airflow.utils.state import DagRunState

    began = time.perf_counter()
    run = dag.test(logical_date=logical_date)
    stage.seconds += time.perf_counter() - began
    stage.runs += 1
    for ti in run.get_task_instances():
        state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        stage.tasks[state] = stage.tasks.get(state, 0) + 1
    if run.state != DagRunState.SUCCESS:
        failed = [ti.task_id for ti in run.get_task_instances() if ti.state != "success"]
        raise SystemExit(
            f"{dag.dag_id} run for {logical_date} ended {run.state}; tasks not successful: "
            f"{', '.join(failed)}. Logs: {os.environ['AIRFLOW_HOME']}/logs"
        )


def run_pipeline(start: date, days: int, console=None) -> list[Stage]:
    dags = _load_dags()
    expected = {"ingest_daily", "transform", "quality_checks", "ml_retrain"}
    missing = expected - set(dags)
    if missing:
        raise SystemExit(f"DAGs missing from {DAGS}: {', '.join(sorted(missing))}")
    stages = [
        Stage("ingest_daily"),
        Stage("transform"),
        Stage("quality_checks"),
        Stage("ml_retrain"),
    ]
    say = console.say if console else lambda line: print(line, flush=True)
    for i in range(days):
        day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=i)
        before = stages[0].seconds
        _run(dags["ingest_daily"], day, stages[0])
        say(f"  ingest_daily {day:%Y-%m-%d}: success ({stages[0].seconds - before:.0f}s)")
    last = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=days)
    for stage in stages[1:]:
        if console is not None and stage.name == "transform":
            with console.dbt_progress(stage.name):
                _run(dags[stage.name], last, stage)
        else:
            _run(dags[stage.name], last, stage)
        say(f"  {stage.name}: success ({stage.seconds:.0f}s)")
    return stages


def _warehouse_counts() -> list[tuple[str, int, int]]:
    """(layer, tables, rows) per schema of the warehouse."""
    from ingestion.backends import get_backend
    from ingestion.config import Settings

    with get_backend(Settings.from_env()) as backend:
        rows = backend.query(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in "
            "('bronze', 'staging', 'intermediate', 'marts', 'metrics', 'quality', 'ml') "
            "order by 1, 2"
        )
        out: dict[str, list[int]] = {}
        for schema, table in rows:
            # names read from the catalog, quoted (any quote doubled); schemas from the list above
            quoted = '"' + str(table).replace('"', '""') + '"'
            count = backend.query(f"select count(*) from {schema}.{quoted}")[0][0]
            layer = out.setdefault(schema, [0, 0])
            layer[0] += 1
            layer[1] += int(count)
    order = ["bronze", "staging", "intermediate", "marts", "metrics", "quality", "ml"]
    return [(s, *out[s]) for s in order if s in out]


def ml_summary() -> list[str]:
    """Per model: version in use, newest version promoted or why not, holdout metric against
    the baselines, last drift verdict and why, score rows (:func:`ml.report.summary_lines`)."""
    from ml.report import summary_lines

    return summary_lines()


def summary(stages: list[Stage], seconds: dict[str, float]) -> str:
    from platform_core.paths import manifest_path
    from quality.settings import data_docs_url, dbt_docs_url, mlflow_ui_url

    from .tasks import marts_summary

    lines = ["", "== summary"]
    lines.append("timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items()))
    for s in stages:
        tasks = ", ".join(f"{n} {k}" for k, n in sorted(s.tasks.items()))
        lines.append(f"  {s.name:<15} {s.runs} run(s) in {s.seconds:5.0f}s  tasks: {tasks}")
    lines.append("rows per layer:")
    for schema, tables, rows in _warehouse_counts():
        lines.append(f"  {schema:<12} {tables:>3} tables/views {rows:>10,} rows")
    m = marts_summary(current().target, manifest_path())
    transform = next(s for s in stages if s.name == "transform")
    lines.append(
        f"dbt: {m['models']} models and {m['tests']} data tests run "
        f"by {transform.tasks.get('success', 0)} Cosmos/Airflow tasks, all passed (the "
        f"{m['unit_tests']} unit tests run with a plain `dbt build` and in make test)"
    )
    lines.append(
        "quality: GX bronze gate (with the load audit), mart checks, freshness and anomalies "
        "passed (quality_checks)"
    )
    lines += ml_summary()
    home = os.environ["AIRFLOW_HOME"]
    lines += [
        "where to look:",
        f"  warehouse    {os.environ.get('DUCKDB_PATH')}  (duckdb -ui, or any SQL client)",
        f"  make docs    dbt docs {dbt_docs_url()}, Data Docs {data_docs_url()},",
        f"               MLflow UI {mlflow_ui_url()}",
        "  make airflow Airflow UI on http://127.0.0.1:8080 (these runs are in "
        f"{home}/airflow.db); the daily schedule resumes after the last loaded day",
        "  make serve   the metrics API and live page on http://127.0.0.1:8070",
    ]
    return "\n".join(lines)


def build_manifest(target: str) -> float:
    """``dbt parse``: the manifest Cosmos renders the transform DAG from."""
    from platform_core.paths import manifest_path

    from .tasks import dbt_command

    began = time.perf_counter()
    dbt_command(target, "parse", target_path=manifest_path().parent)
    return time.perf_counter() - began


def main(start: date, days: int, verbose: bool = False) -> int:
    from platform_core.paths import local_dir

    from .console import Console
    from .home import setup

    target = current().target
    console = Console(local_dir() / "logs", verbose=verbose)
    with console:
        shown = "the terminal" if verbose else f"{console.log} (make run V=1 shows them here)"
        console.say(f"== make run: {days} day(s) from {start} on {target}; logs: {shown}")
        seconds: dict[str, float] = {}
        began = time.perf_counter()
        try:
            setup(dict(os.environ))
            seconds["airflow setup"] = time.perf_counter() - began
            seconds["dbt parse"] = build_manifest(target)
            console.say(
                f"== Airflow home {os.environ['AIRFLOW_HOME']} ready "
                f"({seconds['airflow setup']:.0f}s), dbt manifest built "
                f"({seconds['dbt parse']:.0f}s); running the DAGs"
            )
            stages = run_pipeline(start, days, console)
            for s in stages:
                seconds[s.name] = s.seconds
            seconds["total"] = time.perf_counter() - began
            text = summary(stages, seconds)
        except (Exception, SystemExit) as exc:  # every failure: its reason on the terminal
            code = exc.code if isinstance(exc, SystemExit) else None
            if isinstance(exc, SystemExit) and code in (0, None):
                raise
            if not isinstance(exc, SystemExit):
                traceback.print_exc()  # the whole story, in the log
            console.restore()
            reason = code if isinstance(code, str) else f"{type(exc).__name__}: {exc}"
            console.say(f"== make run failed: {reason}")
            if not verbose:
                console.say(f"-- last lines of {console.log}:")
                for line in console.tail():
                    console.say(f"   {line}")
            return 1
        console.say(text)
    timings = Path(os.environ["AIRFLOW_HOME"]) / "last_run_timings.json"
    timings.write_text(json.dumps({k: round(v, 1) for k, v in seconds.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(date(2026, 1, 1), 14))
