"""What ``make run`` shows: one line per DAG run, a live count of dbt nodes, the summary.

Airflow, Cosmos, dbt and Great Expectations log thousands of lines per run. Unless ``-v`` is
given, :class:`Console` points this process's stdout and stderr (file descriptors 1 and 2, so
child processes and C libraries too) at a log file under ``.local/logs/`` and keeps the
terminal for :meth:`Console.say`. On failure the terminal gets the reason and the log's last
lines; the path of the log is printed first, so nothing is hidden.

During the transform, :meth:`Console.dbt_progress` follows dbt's own log (JSON lines, written
to ``DBT_LOG_PATH`` while dbt runs) and shows ``dbt <done>/<total> nodes``: updated in place on
a terminal; otherwise one line halfway and one when done.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


class Console:
    def __init__(self, logs: Path, verbose: bool = False):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logs = logs
        self.log = logs / f"run-{stamp}.log"
        self.dbt_log_dir = logs / f"dbt-{stamp}"
        self.verbose = verbose
        self._saved: tuple[int, int] | None = None
        self.out: TextIO = sys.stdout
        self.tty = sys.stdout.isatty()

    # ------------------------------------------------------------------ redirection
    def __enter__(self) -> Console:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.dbt_log_dir.mkdir(parents=True, exist_ok=True)
        # dbt writes its log here, as JSON lines (the progress count reads it)
        os.environ["DBT_LOG_PATH"] = str(self.dbt_log_dir)
        os.environ["DBT_LOG_FORMAT_FILE"] = "json"
        if self.verbose:
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self.out = os.fdopen(os.dup(self._saved[0]), "w", buffering=1)
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        """Give fds 1 and 2 back to the terminal (idempotent)."""
        if self._saved is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._saved = None
        self.out.flush()

    # ------------------------------------------------------------------ output
    def say(self, line: str = "") -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def tail(self, lines: int = 25) -> list[str]:
        """The log's last ``lines`` lines (for a failure)."""
        if not self.log.is_file():
            return []
        with self.log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
        return [line[:300] for line in text.splitlines()[-lines:]]

    @contextmanager
    def dbt_progress(self, label: str) -> Iterator[None]:
        """Show how many dbt nodes are done while the block runs."""
        stop = threading.Event()
        watcher = _Progress(self, label, self.dbt_log_dir / "dbt.log")
        thread = threading.Thread(target=watcher.follow, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
            watcher.finish()


#: dbt invocations with fewer nodes than this are not shown
MIN_NODES = 20


class _Progress:
    """Counts dbt's node results in its JSON log, from the end of what it held at the start."""

    def __init__(self, console: Console, label: str, path: Path):
        self.console, self.label, self.path = console, label, path
        self.offset = path.stat().st_size if path.exists() else 0
        self.done = self.total = 0
        self.shown_half = 0
        self.drawn = False

    def follow(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.read()

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # whole lines only
        self.offset += end
        changed = False
        for raw in chunk[:end].splitlines():
            try:
                data = json.loads(raw).get("data") or {}
            except ValueError:
                continue
            # a node's result: LogModelResult, LogTestResult (num_models), LogSnapshotResult, ...
            total = data.get("total", data.get("num_models"))
            if not isinstance(data.get("index"), int) or not isinstance(total, int):
                continue
            if "status" not in data:  # LogStartLine: a node began
                continue
            if total != self.total or self.done >= self.total:  # the next dbt invocation
                self.total, self.done, self.shown_half = total, 0, 0
            self.done += 1
            changed = True
        if changed:
            self.show()

    def show(self) -> None:
        if self.total < MIN_NODES:  # e.g. source freshness: over before anyone looks
            return
        text = f"  {self.label}: dbt {self.done}/{self.total} nodes done"
        if self.console.tty and not self.console.verbose:
            self.console.out.write("\r" + text)
            self.console.out.flush()
            self.drawn = True
            return
        half = 2 * self.done // self.total
        if half > self.shown_half:  # not a terminal: halfway, then done
            self.shown_half = half
            self.console.say(text)

    def finish(self) -> None:
        self.read()
        if self.drawn:
            self.console.out.write("\n")
            self.console.out.flush()
