"""Loading landing files into bronze: skip what already loaded, account for every row.

One file never stops a run: whatever goes wrong with a file (it cannot be read, it is not a
regular file, a value breaks the warehouse, the disk is full) becomes a ``failed`` audit row with a
one-line reason naming the file, and the next file goes on. Statuses of a file in a report:

- ``loaded``: its good rows, rejects and audit row committed together; a new version of a file
  name already loaded replaced the earlier version's rows (``replaced`` says so);
- ``skipped``: the same content was already loaded (under this or another name);
- ``waiting``: not ready by the readiness rule (``ingestion.readiness``): not loaded, not
  audited, picked up by a later run;
- ``failed``: could not be loaded; the reason is in the audit and the report;
- ``ignored``: an entry of the landing zone that is not ``<table>/<YYYY-MM-DD>.csv`` of a known
  table (audited once per name, with a warning).

Files go in one at a time, each in its own transaction, except on two kinds of backend: one
with ``overlap`` (DuckDB) writes each file on a connection of its own in a thread while the
next file is checked and parsed (``_load_overlapped``); one with ``bulk`` (local Spark) writes
the files of a table together (``_load_in_bulk``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .backends.base import AuditRow, Backend
from .contracts import CONTRACTS
from .landing import MAX_COLUMNS, FileCheck, FileProblem, LandingFile, Stray, check_file, shown
from .parse import ParsedFile
from .readiness import check_ready


@dataclass
class FileResult:
    file: LandingFile | None
    status: str  # loaded | skipped | failed | waiting | ignored
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str | None = None
    schema_drift: str | None = None
    replaced: bool = False  # a new version of a file name already loaded
    name: str = ""  # relative name (for ignored entries, which have no LandingFile)
    table: str | None = None

    def __post_init__(self):
        if self.file is not None:
            self.name = self.name or self.file.name
            self.table = self.table or self.file.table


@dataclass
class LoadReport:
    batch_id: str
    target: str
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def waiting(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "waiting"]

    @property
    def ignored(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "ignored"]

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)

    @property
    def exit_code(self) -> int:
        """0: everything loaded or skipped; 1: a file failed; 3: files still waiting."""
        if self.failed:
            return 1
        return 3 if self.waiting else 0

    def by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            if r.table not in CONTRACTS:
                continue
            t = out.setdefault(
                r.table,
                dict.fromkeys(
                    (
                        "loaded",
                        "skipped",
                        "failed",
                        "waiting",
                        "ignored",
                        "rows_read",
                        "rows_loaded",
                        "rows_rejected",
                    ),
                    0,
                ),
            )
            t[r.status] += 1
            t["rows_read"] += r.rows_read
            t["rows_loaded"] += r.rows_loaded
            t["rows_rejected"] += r.rows_rejected
        return out


def new_batch_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    kind = type(exc).__name__
    return f"{kind}: {first}" if first else kind


def load_files(
    backend: Backend,
    files: list[LandingFile],
    batch_id: str | None = None,
    progress: bool = False,
    *,
    require_manifest: bool = True,
    max_columns: int = MAX_COLUMNS,
    strays: list[Stray] | None = None,
) -> LoadReport:
    """Load ``files`` in order. A file that cannot be loaded fails alone; the others go on.

    A backend with ``bulk`` set (local Spark) writes the files of one table together, up to
    ``backend.bulk_files`` at a time, in one commit of rows, rejects and audit rows: each file is
    still checked, parsed, reconciled and audited on its own, but a write costs the engine's
    jobs once per group instead of once per file."""
    from tqdm import tqdm

    report = LoadReport(batch_id or new_batch_id(), backend.name)
    began = time.perf_counter()
    backend.ensure_schema()
    for stray in strays or ():
        report.results.append(_ignore(backend, stray, report.batch_id))
    with tqdm(total=len(files), desc="loading", unit="file", disable=not progress) as bar:
        if getattr(backend, "bulk", False):
            report.results.extend(
                _load_in_bulk(backend, files, report.batch_id, require_manifest, max_columns, bar)
            )
        elif getattr(backend, "overlap", False) and len(files) > 1:
            report.results.extend(
                _load_overlapped(
                    backend, files, report.batch_id, require_manifest, max_columns, bar
                )
            )
        else:
            for file in files:
                report.results.append(
                    load_file(
                        backend,
                        file,
                        report.batch_id,
                        require_manifest=require_manifest,
                        max_columns=max_columns,
                    )
                )
                bar.update()
    report.seconds = time.perf_counter() - began
    return report


def _ignore(backend: Backend, stray: Stray, batch_id: str) -> FileResult:
    table = stray.table or "(none)"
    result = FileResult(None, "ignored", message=stray.reason, name=stray.name, table=table)
    try:
        if not backend.audit_exists(table, stray.name, "ignored"):
            now = _now()
            backend.record(
                AuditRow(
                    batch_id, table, stray.name, None, None, 0, 0, 0, "ignored", None,
                    stray.reason, now, now,
                )
            )  # fmt: skip
    except Exception as exc:  # the warning is printed anyway; say why it was not audited
        result.message = f"{stray.reason} (not audited: {one_line(exc)})"
    return result


@dataclass
class _Attempt:
    """One file on its way in: what is known of it so far, and its audit row from that."""

    file: LandingFile
    batch_id: str
    started: datetime
    check: FileCheck | None = None
    parsed: ParsedFile | None = None
    replaced: bool = False
    loaded_now: bool = False  # written and committed by this run

    def audit(self, status: str, message: str | None = None, drift: str | None = None):
        check, parsed = self.check, self.parsed
        return AuditRow(
            batch_id=self.batch_id,
            table_name=self.file.table,
            file_path=self.file.name,
            sha256=check.sha256 if check else None,
            file_bytes=check.size if check else None,
            rows_read=parsed.rows_read if parsed else 0,
            rows_loaded=parsed.rows_loaded if parsed else 0,
            rows_rejected=parsed.rows_rejected if parsed else 0,
            status=status,
            schema_drift=drift,
            message=message,
            started_at=self.started,
            finished_at=_now(),
        )

    def loaded(self) -> FileResult:
        parsed = self.parsed
        return FileResult(
            self.file,
            "loaded",
            parsed.rows_read,
            parsed.rows_loaded,
            parsed.rows_rejected,
            schema_drift=parsed.schema_drift,
            replaced=self.replaced,
        )


def _failed(backend: Backend, attempt: _Attempt, problem: str, record) -> FileResult:
    """A ``failed`` result naming the file, its audit row written with ``record``."""
    file = attempt.file
    message = f"{file.path}: {problem}"
    if getattr(backend, "broken", None):
        return FileResult(
            file, "failed", message=message + " (not audited: the warehouse is unusable)"
        )
    try:
        record(attempt.audit("failed", message=problem))
    except Exception as exc:  # e.g. the disk is full: the file's own problem comes first
        message += f" (and the failure could not be audited: {one_line(exc)})"
    return FileResult(file, "failed", message=message)


def _prepare(
    backend: Backend,
    file: LandingFile,
    batch_id: str,
    require_manifest: bool,
    max_columns: int,
    record,
) -> _Attempt | FileResult:
    """Read, check and parse one file: an attempt ready to write, or its final result
    (waiting, skipped or failed; skips and failures audited with ``record``)."""
    attempt = _Attempt(file, batch_id, _now())
    broken = getattr(backend, "broken", None)
    if broken:  # the engine cannot take any more work in this run
        return FileResult(
            file, "failed", message=f"{file.path}: not loaded: the warehouse stopped after {broken}"
        )
    contract = CONTRACTS[file.table]
    try:
        check, data = check_file(file.path, contract, file.landing, max_columns)
        attempt.check = check
        if require_manifest:
            verdict = check_ready(file.landing, file.day, file.name, check.size, check.sha256)
            if not verdict.ready:
                return FileResult(file, "waiting", message=f"{file.path}: {verdict.reason}")
        # a file with rows is known by its content; an empty one (header only) by its name too
        if backend.already_loaded(
            file.table, check.sha256, None if check.data_lines else file.name
        ):
            record(attempt.audit("skipped", message="same sha256 already loaded"))
            return FileResult(file, "skipped", message="already loaded")
        attempt.replaced = backend_has_version(backend, file)
        attempt.parsed = backend.parse(file, check, data)
        del data
    except FileProblem as exc:
        return _failed(backend, attempt, exc.problem, record)
    except Exception as exc:
        return _failed(backend, attempt, one_line(exc), record)
    parsed = attempt.parsed
    if parsed.rows_loaded + parsed.rows_rejected != parsed.rows_read:
        parsed.drop()
        return _failed(
            backend,
            attempt,
            f"{parsed.rows_read} rows read but {parsed.rows_loaded} loaded and "
            f"{parsed.rows_rejected} rejected",
            record,
        )
    return attempt


def load_file(
    backend: Backend,
    file: LandingFile,
    batch_id: str,
    *,
    require_manifest: bool = True,
    max_columns: int = MAX_COLUMNS,
) -> FileResult:
    """Load one file; never raises for a problem of the file or of its load."""
    attempt = _prepare(backend, file, batch_id, require_manifest, max_columns, backend.record)
    if isinstance(attempt, FileResult):
        return attempt
    parsed = attempt.parsed
    try:
        status = backend.load(parsed, attempt.audit("loaded", drift=parsed.schema_drift))
    except Exception as exc:
        return _failed(backend, attempt, one_line(exc), backend.record)
    finally:
        parsed.drop()
    return _written(attempt, status)


def _same_content(written: _Attempt, step: _Attempt) -> bool:
    """Whether ``step`` is known as already loaded by the file written just before it."""
    return (
        written.loaded_now
        and written.file.table == step.file.table
        and written.check.sha256 == step.check.sha256
        and (step.check.data_lines > 0 or written.file.name == step.file.name)
    )


def _skip(backend: Backend, attempt: _Attempt) -> FileResult:
    """``attempt``'s content is loaded already: its ``skipped`` audit row and result."""
    try:
        backend.record(attempt.audit("skipped", message="same sha256 already loaded"))
    except Exception as exc:
        return _failed(backend, attempt, one_line(exc), backend.record)
    return FileResult(attempt.file, "skipped", message="already loaded")


def _written(attempt: _Attempt, status: str) -> FileResult:
    attempt.loaded_now = status == "loaded"
    if status == "skipped":
        return FileResult(attempt.file, "skipped", message="loaded meanwhile by another loader")
    return attempt.loaded()


def _load_overlapped(
    backend: Backend,
    files: list[LandingFile],
    batch_id: str,
    require_manifest: bool,
    max_columns: int,
    bar,
) -> list[FileResult]:
    """Load ``files`` one at a time, as ``load_file`` does, but write each on the backend's
    writer connection in a thread (``backend.writer_load``) while the next file is checked and
    parsed on the main one. One write is in flight at a time, so at most two parsed files are
    held, and the writes keep the files' order. Every audit row of a skip or a failure is
    written from this thread, on the main connection. A file parsed on the checked path (its
    rows are temporary tables of the main connection) is written there, after the write in
    flight."""
    from concurrent.futures import ThreadPoolExecutor

    results: list[FileResult | None] = []
    flight: list = []  # [(slot, attempt, future)]: the write in flight

    def settle() -> None:
        if not flight:
            return
        slot, attempt, future = flight.pop()
        try:
            results[slot] = _written(attempt, future.result())
        except Exception as exc:
            results[slot] = _failed(backend, attempt, one_line(exc), backend.record)
        finally:
            attempt.parsed.drop()
        bar.update()

    with ThreadPoolExecutor(1, thread_name_prefix="bronze-writer") as writer:
        for file in files:
            step = _prepare(backend, file, batch_id, require_manifest, max_columns, backend.record)
            if isinstance(step, FileResult):
                results.append(step)
                bar.update()
                continue
            before = flight[0][1] if flight else None
            settle()
            parsed = step.parsed
            if before is not None and _same_content(before, step):
                # what the sequential loader's already-loaded check would have seen
                parsed.drop()
                step.parsed = None
                results.append(_skip(backend, step))
                bar.update()
                continue
            broken = getattr(backend, "broken", None)
            if broken:  # the write in flight made the warehouse unusable
                parsed.drop()
                results.append(FileResult(file, "failed", message=f"{file.path}: not loaded: "
                                          f"the warehouse stopped after {broken}"))  # fmt: skip
                bar.update()
                continue
            audit = step.audit("loaded", drift=parsed.schema_drift)
            if parsed.arrow is None:  # the checked path: written on the main connection
                try:
                    results.append(_written(step, backend.load(parsed, audit)))
                except Exception as exc:
                    results.append(_failed(backend, step, one_line(exc), backend.record))
                finally:
                    parsed.drop()
                bar.update()
                continue
            results.append(None)
            flight.append(
                (len(results) - 1, step, writer.submit(backend.writer_load, parsed, audit))
            )
        settle()
    return [r for r in results if r is not None]


def _load_in_bulk(
    backend: Backend,
    files: list[LandingFile],
    batch_id: str,
    require_manifest: bool,
    max_columns: int,
    bar,
) -> list[FileResult]:
    """Load ``files`` a table at a time, ``backend.bulk_files`` files per commit.

    Each file is prepared as ``load_file`` does (checked, parsed, reconciled) and its good
    rows, rejects and audit row staged (``backend.stage``); skips and failures are audited with
    the group (``backend.defer``). ``backend.commit(table)`` then writes the group. If the
    commit fails, every staged file of the group fails with its reason, audited on its own,
    and nothing of it counts as loaded; a file whose rows were written before the failure is
    loaded again, replacing them, by the next run."""
    results: list[FileResult | None] = [None] * len(files)
    groups: dict[str, list[int]] = {}
    for i, file in enumerate(files):
        groups.setdefault(file.table, []).append(i)
    size = max(1, int(backend.bulk_files))
    for table, indexes in groups.items():
        for start in range(0, len(indexes), size):
            chunk = indexes[start : start + size]
            try:
                _load_chunk(backend, table, files, chunk, results, batch_id, require_manifest,
                            max_columns, bar)  # fmt: skip
            except BaseException:  # interrupted: nothing of the group stays staged
                backend.discard(table)
                raise
    return [r for r in results if r is not None]


def _load_chunk(
    backend, table, files, chunk, results, batch_id, require_manifest, max_columns, bar
) -> None:
    """Stage the files of ``chunk`` (indexes into ``files``) and commit them together."""
    staged: list[tuple[int, _Attempt]] = []
    for i in chunk:
        step = _prepare(backend, files[i], batch_id, require_manifest, max_columns, backend.defer)
        if isinstance(step, FileResult):
            results[i] = step
        else:
            parsed = step.parsed
            try:
                backend.stage(parsed, step.audit("loaded", drift=parsed.schema_drift))
                staged.append((i, step))
                results[i] = step.loaded()
            except Exception as exc:
                results[i] = _failed(backend, step, one_line(exc), backend.defer)
            finally:
                parsed.drop()
        bar.update()
    try:
        backend.commit(table)
    except Exception as exc:
        reason = one_line(exc)
        deferred = backend.discard(table)
        failed = [
            step.audit(
                "failed", message=f"the load of {len(staged)} {table} files failed: {reason}"
            )
            for _, step in staged
        ]
        for (i, step), row in zip(staged, failed, strict=True):
            results[i] = FileResult(step.file, "failed", message=f"{step.file.path}: {row.message}")
        try:
            backend.record_many([*deferred, *failed])
        except Exception as also:
            note = f" (not audited: {one_line(also)})"
            for i, _ in staged:
                results[i].message += note


def backend_has_version(backend: Backend, file: LandingFile) -> bool:
    """Whether an earlier version of this file name is loaded (the load will replace it)."""
    return backend.audit_exists(file.table, file.name, "loaded")


__all__ = ["FileResult", "LoadReport", "load_file", "load_files", "one_line", "shown"]
