"""Simulation and file writing side by side: the main process simulates, writer processes write.

Days go to the writers in runs of up to ``CHUNK_DAYS`` days or about ``CHUNK_ROWS`` rows (to
whichever writer is free), one run per writer in flight, so memory follows the rows in flight, never the length of
the run. Each writer writes a day's files, then that day's readiness manifest.

The writers are processes, not threads: a writer thread makes several GIL-releasing calls per
file (Arrow, hashing, open, write) and must win the GIL back from the simulating thread each
time, which holds it for up to the 5 ms switch interval; measured on a busy 2-core machine,
threads gave no overlap at all. A writer is a plain ``python -m data_generator.pipeline``
child fed length-prefixed pickles on its stdin (no ``multiprocessing`` start method: those
either fork a process whose Arrow thread pools may hold locks, or re-run the caller's main
script). Runs too small to pay for starting two interpreters (under ``PROCESS_MIN_ROWS`` rows
to write) are written inline, run of days by run of days.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from .frames import DayRows
from .writer import DayWriter, Written

WRITERS = 2  # writer processes; the main process simulates
CHUNK_ROWS = 200_000  # rows handed to a writer at once (whole days) ...
CHUNK_DAYS = 7  # ... or this many days, whichever comes first
IN_FLIGHT = 1  # runs of days per writer: the simulation waits for a free writer
PROCESS_MIN_ROWS = 1_000_000  # smaller runs are written inline
ROWS_PER_DAY_AT_SCALE_1 = 9_200  # all tables, to estimate a run's size before making it
# glibc's malloc in the writer processes (ignored by other C libraries): see below
WRITER_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's largest allowed value
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
}

Days = list[tuple[int, dict[str, DayRows]]]
_LENGTH = struct.Struct("<Q")


class WriterError(RuntimeError):
    """A writer process failed; raised as the cause of its own error, with its traceback."""


# Freed heap memory is not given back to the system between runs of days (no malloc_trim): it
# is reused by the next run. In the writer processes, glibc is also told to serve blocks up to
# 32 MiB from its heap (not from a fresh mmap each, whose pages fault in again on every file) and
# to keep the heap's free top: a year at scale 10 took 0.97x the wall time (12.9 against 13.3 s)
# and 0.82x the system CPU (3.6 against 4.4 s), medians of five paired runs (2026-12-06, idle),
# for a largest writer of 292 instead of 256 MB. (Arrow's own allocator, mimalloc, is left as is:
# keeping its freed pages as well changed nothing more.) Trimming after every run cost the simulating process about 2 s of
# page faults a year at scale 10 and each writer more, 7-11% of the wall time, and it lowered no
# writer's peak; the simulating process's peak is 5% (scale 10) to 11% (scale 100) higher
# without it (223 against 212 MB, 817 against 737 MB; see the CHANGELOG, 2026-12-06).


def peak_rss_kib() -> int:
    """This process's own peak resident memory in KiB: ``VmHWM`` from ``/proc/self/status``.
    (``getrusage``'s ``ru_maxrss`` survives exec: a process started by ``subprocess``, which
    uses vfork, reports at least its parent's peak.) Elsewhere, ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource  # Unix only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def use_processes(scale: float, days_written: int) -> bool:
    return scale * days_written * ROWS_PER_DAY_AT_SCALE_1 >= PROCESS_MIN_ROWS


def _send(stream: IO[bytes], obj: Any) -> None:
    """One message: the pickle and, out of band, the array buffers it refers to (no copy into
    the pickle), each preceded by its length."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    stream.write(_LENGTH.pack(len(buffers)))
    for part in (data, *(b.raw() for b in buffers)):
        stream.write(_LENGTH.pack(part.nbytes if isinstance(part, memoryview) else len(part)))
        stream.write(part)
    stream.flush()


def _read(stream: IO[bytes], size: int) -> bytearray:
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            raise EOFError
        got += n
    return data


def _receive(stream: IO[bytes]) -> Any:
    """The next object, or ``EOFError`` when the other side has gone."""
    count = _LENGTH.unpack(_read(stream, _LENGTH.size))[0]
    parts = [
        _read(stream, _LENGTH.unpack(_read(stream, _LENGTH.size))[0]) for _ in range(count + 1)
    ]
    return pickle.loads(parts[0], buffers=parts[1:])


class _Worker:
    """One writer process, seen from the simulating process."""

    def __init__(self, writer: DayWriter):
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path),
            **WRITER_MALLOC,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "data_generator.pipeline"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.in_flight = 0
        _send(self.proc.stdin, (writer.out, writer.start, writer.plan))

    def send(self, days: Days) -> None:
        try:
            _send(self.proc.stdin, days)
        except BrokenPipeError:
            self._died()
        self.in_flight += 1

    def receive(self) -> Written:
        try:
            kind, value = _receive(self.proc.stdout)
        except EOFError:
            self._died()
        if kind == "error":
            error, trace = value
            raise error from WriterError(f"in writer process {self.proc.pid}:\n{trace}")
        self.in_flight -= 1
        return value

    def _died(self) -> NoReturn:
        code = self.proc.wait()
        raise RuntimeError(
            f"writer process {self.proc.pid} ended with exit code {code} before finishing its "
            "files; its own error, if any, is printed above"
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                _send(self.proc.stdin, None)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _free(workers: list[_Worker], collect: Callable[[Written], None]) -> _Worker:
    """A writer with room for another run of days: an idle one, else the first to finish."""
    for worker in workers:
        if worker.in_flight < IN_FLIGHT:
            return worker
    ready, _, _ = select.select([w.proc.stdout for w in workers], [], [])
    worker = next(w for w in workers if w.proc.stdout is ready[0])
    collect(worker.receive())
    return worker


def stream(
    days: Iterator[tuple[int, dict[str, DayRows]]],
    writer: DayWriter,
    first_day: int,
    last_day: int,
    processes: bool,
    tick: Callable[[], None] = lambda: None,
) -> tuple[Written, float]:
    """Write the days ``first_day`` .. ``last_day`` of ``days`` (earlier ones are only
    simulated). Returns what was written and the seconds spent simulating."""
    written = Written()
    simulated = 0.0
    workers = [_Worker(writer) for _ in range(WRITERS)] if processes else []

    def collect(done: Written) -> None:
        written.add(done)
        if writer.plan is not None:
            writer.plan.records.extend(done.records)

    try:
        chunk: Days = []
        rows = 0
        clock = time.perf_counter()
        for d, batch in days:
            if writer.plan is not None:
                writer.plan.arrive(d, batch)  # late orders move between days
            simulated += time.perf_counter() - clock
            if d >= first_day:
                chunk.append((d, batch))
                rows += sum(len(r) for r in batch.values())
            if chunk and (rows >= CHUNK_ROWS or len(chunk) >= CHUNK_DAYS or d == last_day):
                if not workers:
                    collect(writer.write_days(chunk))
                else:
                    _free(workers, collect).send(chunk)
                chunk, rows = [], 0
            tick()
            if d == last_day:
                break
            clock = time.perf_counter()
        for worker in workers:
            while worker.in_flight:
                collect(worker.receive())
            worker.close()
    finally:
        for worker in workers:
            worker.kill()
    return written, simulated


def serve() -> int:
    """A writer process: read (out, start, plan), then runs of days until ``None``; answer
    each run with what was written, or with the error and stop."""
    from .writer import DayWriter

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the channel
    root, start, plan = _receive(inp)
    writer = DayWriter(root, start, plan)
    waiting: queue.Queue = queue.Queue()

    def read() -> None:  # keeps the pipe drained, so the simulating process never waits on it
        try:
            while True:
                obj = _receive(inp)
                waiting.put(obj)
                if obj is None:
                    return
        except EOFError:
            waiting.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (days := waiting.get()) is not None:
        try:
            done = writer.write_days(days)
        except BaseException as exc:
            trace = traceback.format_exc()
            try:
                pickle.dumps(exc)
            except Exception:
                exc = WriterError(f"{type(exc).__name__}: {exc}")
            _send(out, ("error", (exc, trace)))
            return 1
        del days
        done.peak_rss_kib = peak_rss_kib()
        _send(out, ("ok", done))
    return 0


if __name__ == "__main__":
    sys.exit(serve())
