"""Loading landing files into bronze: skip what already loaded, account for every row."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .backends.base import AuditRow, Backend
from .contracts import CONTRACTS
from .landing import FileProblem, LandingFile, check_file


@dataclass
class FileResult:
    file: LandingFile
    status: str  # loaded | skipped | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str | None = None
    schema_drift: str | None = None


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
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)

    def by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            t = out.setdefault(
                r.file.table,
                dict.fromkeys(
                    ("loaded", "skipped", "failed", "rows_read", "rows_loaded", "rows_rejected"), 0
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


def load_files(
    backend: Backend, files: list[LandingFile], batch_id: str | None = None, progress: bool = False
) -> LoadReport:
    """Load ``files`` in order. A file that cannot be read fails alone; the others go on."""
    from tqdm import tqdm

    report = LoadReport(batch_id or new_batch_id(), backend.name)
    began = time.perf_counter()
    backend.ensure_schema()
    for file in tqdm(files, desc="loading", unit="file", disable=not progress):
        report.results.append(load_file(backend, file, report.batch_id))
    report.seconds = time.perf_counter() - began
    return report


def load_file(backend: Backend, file: LandingFile, batch_id: str) -> FileResult:
    contract = CONTRACTS[file.table]
    started = _now()

    def audit(status, check=None, parsed=None, message=None, drift=None) -> AuditRow:
        return AuditRow(
            batch_id=batch_id,
            table_name=file.table,
            file_path=file.name,
            sha256=check.sha256 if check else None,
            file_bytes=check.size if check else None,
            rows_read=parsed.rows_read if parsed else 0,
            rows_loaded=parsed.rows_loaded if parsed else 0,
            rows_rejected=parsed.rows_rejected if parsed else 0,
            status=status,
            schema_drift=drift,
            message=message,
            started_at=started,
            finished_at=_now(),
        )

    check = None
    try:
        check, data = check_file(file.path, contract)
        # a file with rows is known by its content; an empty one (header only) by its name too
        if backend.already_loaded(
            file.table, check.sha256, None if check.data_lines else file.name
        ):
            backend.record(audit("skipped", check, message="same sha256 already loaded"))
            return FileResult(file, "skipped", message="already loaded")
        parsed = backend.parse(file, check, data)
    except FileProblem as exc:
        backend.record(audit("failed", check, message=exc.problem))
        return FileResult(file, "failed", message=str(exc))
    try:
        if parsed.rows_loaded + parsed.rows_rejected != parsed.rows_read:
            raise RuntimeError(
                f"{file.path}: {parsed.rows_read} rows read but {parsed.rows_loaded} loaded and "
                f"{parsed.rows_rejected} rejected"
            )
        drift = parsed.schema_drift
        backend.load(parsed, audit("loaded", check, parsed, drift=drift))
    finally:
        parsed.drop()
    return FileResult(
        file,
        "loaded",
        parsed.rows_read,
        parsed.rows_loaded,
        parsed.rows_rejected,
        schema_drift=drift,
    )
