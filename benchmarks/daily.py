"""The daily ``dbt build`` on DuckDB after a year and after two years of history: does its cost
follow the day, or the history?

``make bench-daily BENCH_SCALE=10`` (or ``python -m benchmarks --only daily --scale 10``). One
landing zone of ``2 * days + 2 * REPEATS`` days serves every step (the generator's prefix property):

1. the first ``days`` days are loaded and built in full (``data_tests_scope: all``, a first build);
2. day ``days + 1`` is loaded and the scheduled build runs as dbt's command line (a cold process:
   start-up, partial parse and every node), day ``days + 2`` the same in a warm process (a worker
   that parsed once and keeps dbt imported and the manifest in memory: ``dbtRunner(manifest=)``),
   and so on for ``REPEATS`` days of each kind; the build of median wall time is reported (one
   build varies by a second or more from run to run: DuckDB's checkpoints land in one or another);
3. the days up to ``2 * days`` are loaded at once and built (a catch-up build);
4. the days after ``2 * days`` as in step 2, now over two years of history.

Every load is back-dated (:func:`benchmarks.dbt_build.backdate_loads`: each file's rows stamped
with its own day, as one load a day would have them), so the incremental models' look-back reads
a week of loads. Times are the wall clock of the build; dbt's per-node timings
(``run_results.json``) name the slowest nodes. The work folder is under ``.local/bench/``
(``BENCH_DIR``) and is removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from .dbt_build import (
    PROJECT,
    SCHEDULED,
    SEED,
    START,
    Build,
    _bench_dir,
    _load,
    _nodes_by_kind,
    _slowest,
    backdate_loads,
    dbt,
    dbt_argv,
    dbt_environment,
)

#: daily builds of each kind (cold, warm) after each history; the median is reported
REPEATS = 3


def worker() -> None:
    """The warm process: parse once, then one ``dbt build`` per line read (its argv as JSON), each
    answered with one JSON line; the DuckDB file is released after each build, so the bench can
    load the next day from another process."""
    from dbt.cli.main import dbtRunner

    from platform_core.dbt_runner import release_warehouse

    work = Path(sys.argv[-1])
    parsed = dbtRunner().invoke(dbt_argv(work, "parse"))
    if not parsed.success:
        raise SystemExit(f"dbt parse failed: {parsed.exception}")
    manifest = parsed.result
    release_warehouse()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        args = json.loads(line)
        began = time.perf_counter()
        try:
            done = dbtRunner(manifest=manifest).invoke(dbt_argv(work, *args))
        finally:
            release_warehouse()
        wall = time.perf_counter() - began
        print(json.dumps({"success": done.success, "wall": wall}), flush=True)


class Warm:
    """A :func:`worker` process and its pipes."""

    def __init__(self, work: Path, db: Path):
        self.work = work
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.daily", "--worker", str(work)],
            cwd=PROJECT.parent,
            env=dbt_environment(db),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer()  # ready

    def _answer(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the warm dbt worker ended ({self.proc.wait()})")

    def build(self, *args: str) -> Build:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(list(args)) + "\n")
        self.proc.stdin.flush()
        answer = self._answer()
        if not answer["success"]:
            raise RuntimeError(f"warm dbt {' '.join(args)} failed: see {self.work / 'logs'}")
        results = json.loads((self.work / "target" / "run_results.json").read_text())
        nodes = {r["unique_id"]: r["execution_time"] for r in results["results"]}
        return Build(answer["wall"], 0.0, results["elapsed_time"], nodes, {})

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _median(builds: list[Build]) -> Build:
    """The build of median wall time (an odd number of them)."""
    return sorted(builds, key=lambda b: b.wall)[len(builds) // 2]


def run(scale: float = 10.0, days: int = 365, repeats: int = REPEATS) -> list[tuple[str, str, str]]:
    """Rows of (measure, value, note)."""
    folder = _bench_dir() / f"daily-scale{scale:g}-{uuid.uuid4().hex[:8]}"
    landing, db, work = folder / "landing", folder / "warehouse.duckdb", folder / "dbt"
    total = 2 * days + 2 * repeats
    final = START + timedelta(days=total - 1)
    today = date.today()  # one shift for every back-dating of the run
    warm: Warm | None = None

    def day(n: int) -> date:  # the n-th day, 1-based
        return START + timedelta(days=n - 1)

    def load(first: int, last: int) -> None:
        _load(db, landing, day(first), day(last))
        backdate_loads(db, final, today)

    try:
        from data_generator import generate

        generate(START, total, scale, SEED, landing)
        load(1, days)
        dbt(work, db, "parse", "--vars", "{data_tests_scope: all}")
        full = dbt(work, db, *SCHEDULED, "--vars", "{data_tests_scope: all}")
        dbt(work, db, "parse")  # the daily builds' settings (no vars)
        out: list[tuple[str, str, str]] = [
            (
                f"dbt build full, {days} days, scale {scale:g}",
                f"{full.wall:.1f} s",
                f"{sum(full.statuses.values())} nodes",
            )
        ]
        daily: dict[tuple[int, str], Build] = {}
        for history in (days, 2 * days):
            if history != days:
                load(days + 2 * repeats + 1, history)
                catch_up = dbt(work, db, *SCHEDULED)
                out.append(
                    (
                        f"catch-up build, days {days + 2 * repeats + 1}-{history} at once",
                        f"{catch_up.wall:.1f} s",
                        "",
                    )
                )
            # one new day at a time, cold and warm in turn: days history+1, +3, ... cold
            warm = Warm(work / "warm", db)
            runs: dict[str, list[Build]] = {"cold": [], "warm": []}
            for n in range(history + 1, history + 2 * repeats + 1, 2):
                load(n, n)
                runs["cold"].append(dbt(work, db, *SCHEDULED))
                load(n + 1, n + 1)
                runs["warm"].append(warm.build(*SCHEDULED))
            warm.close()
            warm = None
            for kind in ("cold", "warm"):
                b = daily[(history, kind)] = _median(runs[kind])
                how = "dbt's command line" if kind == "cold" else "a warm dbtRunner"
                walls = ", ".join(f"{r.wall:.1f}" for r in runs[kind])
                out.append(
                    (
                        f"daily build after {history} days, {kind}",
                        f"{b.wall:.1f} s",
                        f"{how}; median of {walls} s; {b.wall / full.wall:.0%} of the {days}-day "
                        f"full build; node time {sum(b.nodes.values()):.0f} s "
                        f"({_nodes_by_kind(b)})",
                    )
                )
            out.append(
                (f"slowest nodes after {history} days", "", _slowest(daily[(history, "warm")]))
            )
        for kind in ("cold", "warm"):
            ratio = daily[(2 * days, kind)].wall / daily[(days, kind)].wall
            out.append((f"daily after {2 * days} / after {days} days, {kind}", f"{ratio:.2f}x", ""))
        return out
    finally:
        if warm is not None:
            warm.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
