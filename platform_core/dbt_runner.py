"""The one way this platform runs dbt from Python: in this process, one invocation at a time.

DuckDB lets one process at a time hold a database file open for writing. dbt-duckdb keeps its
connection in a process-wide cache, so after an in-process ``dbt build`` (Cosmos runs the
transform that way) the file stays locked by the process that ran it, and any later dbt
subprocess, or another process's loader or quality check, met "Could not set lock on file ...
Conflicting lock is held in ... (PID ...)". Hence the rule (docs/architecture.md, "One writer
per DuckDB file"):

* every dbt call from the platform's code goes through :func:`run` (dbt's Python runner, in
  this process, serialized by a lock), never a dbt subprocess;
* after each invocation, :func:`release_warehouse` closes dbt-duckdb's cached connection, so the
  file is free the moment dbt returns. Cosmos' operators call it too (``post_execute``, see
  dags/transform.py), after the transform's in-process ``dbt build``;
* a failure raises :class:`DbtFailed` carrying dbt's own error lines (the events dbt logged at
  error level, then each failed node's message): the task log and the alert show why.

:func:`dbt_env` is dbt's environment here, for this runner and for a person's ``make dbt``.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .paths import DBT_PROJECT, duckdb_path
from .pii_key import pii_hash_key
from .settings import current

_ONE_AT_A_TIME = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: dbt's own lines shown in an error, at most
MAX_ERROR_LINES = 20


class DbtFailed(RuntimeError):
    """A dbt invocation that failed; ``lines`` are dbt's own error lines."""

    def __init__(self, command: str, lines: list[str], statuses: dict[str, int]):
        self.command, self.lines, self.statuses = command, lines, statuses
        shown = "\n".join(f"  {line}" for line in lines[:MAX_ERROR_LINES])
        more = len(lines) - MAX_ERROR_LINES
        tail = f"\n  ... {more} more line(s) in dbt's log" if more > 0 else ""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        super().__init__(
            f"{command} failed{f' ({counts})' if counts else ''}:\n{shown or '  (no message)'}"
            + tail
        )


def dbt_env(target: str) -> dict[str, str]:
    """dbt's environment: the same target and (absolute) DuckDB file as the loader's, and the
    key of the personal-data hashes, and DuckDB's resource settings (profiles.yml reads them)."""
    duckdb_config = current().duckdb_config
    return {
        **os.environ,
        "DUCKDB_MEMORY_LIMIT": duckdb_config["memory_limit"],
        "DUCKDB_THREADS": duckdb_config["threads"],
        "DUCKDB_TEMP_DIRECTORY": duckdb_config["temp_directory"],
        "DBT_PROFILES_DIR": str(DBT_PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "WAREHOUSE_TARGET": target,
        "DUCKDB_PATH": str(duckdb_path()),
        "PII_HASH_KEY": pii_hash_key(),
    }


def dbt_executable() -> str:
    """dbt from this environment (for a person's ``make dbt`` and Cosmos' command line; the
    platform's own calls go through :func:`run`, in-process)."""
    return str(Path(sys.executable).parent / "dbt")


def dbt_args(target: str, args: tuple[str, ...], target_path: Path) -> list[str]:
    """``args`` plus the project, profiles, target and target path every dbt call here uses."""
    return [
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target",
        target,
        "--target-path",
        str(target_path),
        "--no-version-check",
    ]


def release_warehouse(*_args, **_kwargs) -> None:
    """Close dbt-duckdb's process-wide connection (and the cursors made from it), so this
    process no longer holds the DuckDB file. Safe to call at any time, with any arguments (it
    is an Airflow ``post_execute`` hook too)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing can hold a DuckDB file
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        conn = getattr(env, "conn", None)
        if conn is not None:
            conn.close()
            env.conn = None
        DuckDBConnectionManager._ENV = None


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _status(result) -> str:
    return str(getattr(result.status, "value", result.status))


def run(
    target: str,
    *args: str,
    target_path: Path | None = None,
    allow: tuple[str, ...] = (),
) -> dict:
    """``dbt <args>`` on the project, in this process; the warehouse is released afterwards.

    Returns ``{"command", "seconds", "statuses"}``. Raises :class:`DbtFailed` with dbt's error
    lines when dbt failed, unless every failed node's status is in ``allow`` (``dbt source
    freshness`` reports a stale source as ``error``: its caller reads the verdicts).
    """
    from dbt.cli.main import dbtRunner

    target_path = target_path or DBT_PROJECT / "target" / "airflow"
    command = f"dbt {' '.join(args)}"
    errors: list[str] = []

    def collect(event) -> None:
        if getattr(event.info, "level", "") == "error":
            errors.extend(_without_tracebacks(_ANSI.sub("", str(event.info.msg))))

    began = time.perf_counter()
    with _ONE_AT_A_TIME, _environment(dbt_env(target)):
        try:
            done = dbtRunner(callbacks=[collect]).invoke(dbt_args(target, tuple(args), target_path))
        finally:
            release_warehouse()
    results = list(getattr(done.result, "results", None) or [])
    statuses: dict[str, int] = {}
    for r in results:
        statuses[_status(r)] = statuses.get(_status(r), 0) + 1
    summary = {
        "command": command,
        "seconds": round(time.perf_counter() - began, 1),
        "statuses": statuses,
    }
    if done.success:
        return summary
    bad = [r for r in results if _status(r) in ("error", "fail", "runtime error")]
    if done.exception is None and bad and all(_status(r) in allow for r in bad):
        return summary
    lines = list(errors)
    if done.exception is not None:
        lines.append(_ANSI.sub("", f"{type(done.exception).__name__}: {done.exception}"))
    for r in bad:
        name = getattr(getattr(r, "node", None), "name", None) or "?"
        message = _ANSI.sub("", str(getattr(r, "message", "") or "")).strip()
        line = f"{name}: {message.splitlines()[0] if message else _status(r)}"
        if line not in lines:
            lines.append(line)
    raise DbtFailed(command, _dedupe(lines), statuses)


def _without_tracebacks(text: str) -> list[str]:
    """The non-empty lines of ``text`` with each Python traceback cut to its last line (the
    exception and its message): what went wrong, not where in dbt's code."""
    out: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.strip().startswith("Traceback (most recent call last)"):
            in_traceback = True
            continue
        if in_traceback and (not line.strip() or line[:1].isspace()):
            continue
        in_traceback = False
        if line.strip():
            out.append(line.rstrip())
    return out


def _dedupe(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out
