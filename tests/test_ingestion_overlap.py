"""DuckDB's loader writes a file on a connection of its own while it parses the next one.

``ingestion.loader._load_overlapped``: one write in flight, in the files' order, on a cursor of
the same database (``DuckDBBackend.writer_load``); skips and failures audited from the main
connection. These tests show the overlap happens, and that what a sequential load would report
and store is what the overlapped one reports and stores, on a real DuckDB file.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from ingestion.backends.duckdb import DuckDBBackend
from ingestion.landing import discover
from ingestion.loader import load_files

TABLES = ("orders", "order_lines", "shipments")


def _files(landing: Path, days: int = 4):
    files = [f for f in discover(landing) if f.table in TABLES]
    first = sorted({f.day for f in files})[:days]
    return [f for f in files if f.day in first]


def _bronze(path: Path) -> dict[str, list[tuple]]:
    backend = DuckDBBackend(path)
    try:
        return {
            t: backend.query(
                f"select * exclude (_loaded_at, _batch_id) from bronze.{t} "
                "order by _source_file, _source_line"
            )
            for t in TABLES
        }
    finally:
        backend.close()


def _audit(path: Path) -> list[tuple]:
    backend = DuckDBBackend(path)
    try:
        return backend.query(
            "select table_name, file_path, status, rows_read, rows_loaded, rows_rejected, message "
            "from bronze._load_audit order by table_name, file_path, status"
        )
    finally:
        backend.close()


def test_the_next_file_is_parsed_while_one_is_written_and_bronze_is_the_same(
    clean_landing, tmp_path, monkeypatch
):
    files = _files(clean_landing)
    events: list[tuple[str, str, float, str]] = []  # (what, file, at, thread)
    real_write, real_parse = DuckDBBackend.writer_load, DuckDBBackend.parse

    names = [f.name for f in files]

    def writer_load(self, parsed, audit):
        events.append(("write", parsed.file.name, time.perf_counter(), _thread()))
        at = names.index(parsed.file.name)
        deadline = time.monotonic() + 10  # hold the write until the next file is parsed
        while at + 1 < len(names) and time.monotonic() < deadline:
            if any(e[0] == "parse" and e[1] == names[at + 1] for e in events):
                break
            time.sleep(0.005)
        try:
            return real_write(self, parsed, audit)
        finally:
            events.append(("written", parsed.file.name, time.perf_counter(), _thread()))

    def parse(self, file, check, data):
        events.append(("parse", file.name, time.perf_counter(), _thread()))
        return real_parse(self, file, check, data)

    monkeypatch.setattr(DuckDBBackend, "writer_load", writer_load)
    monkeypatch.setattr(DuckDBBackend, "parse", parse)
    backend = DuckDBBackend(tmp_path / "overlapped.duckdb")
    try:
        report = load_files(backend, files, require_manifest=False)
    finally:
        backend.close()
    assert report.count("loaded") == len(files) > 8, report.results

    writes = [e for e in events if e[0] == "write"]
    written = [e for e in events if e[0] == "written"]
    # every file is written by the writer thread, in the files' order, one at a time
    assert [e[1] for e in writes] == [f.name for f in files]
    assert {e[3] for e in writes} == {"bronze-writer"}
    assert all(e[3] == "main" for e in events if e[0] == "parse")
    for done, nxt in zip(written, writes[1:], strict=False):
        assert done[2] <= nxt[2], (done, nxt)
    # the file after each one is parsed while that one is written (each write waits for it
    # up to 10 s: a loader that parsed only between writes would show none)
    parsed_at = {e[1]: e[2] for e in events if e[0] == "parse"}
    overlapped = [d[1] for d, nxt in zip(written, names[1:], strict=False) if parsed_at[nxt] < d[2]]
    assert len(overlapped) == len(files) - 1, overlapped

    # the same rows and audit as the sequential load
    monkeypatch.setattr(DuckDBBackend, "overlap", False)
    backend = DuckDBBackend(tmp_path / "sequential.duckdb")
    try:
        load_files(backend, files, require_manifest=False)
    finally:
        backend.close()
    overlapped_bronze = _bronze(tmp_path / "overlapped.duckdb")
    assert sum(map(len, overlapped_bronze.values())) > 1000
    assert overlapped_bronze == _bronze(tmp_path / "sequential.duckdb")
    assert _audit(tmp_path / "overlapped.duckdb") == _audit(tmp_path / "sequential.duckdb")


def _thread() -> str:
    name = threading.current_thread().name
    return "main" if name == "MainThread" else name.rsplit("_", 1)[0]


def test_a_write_failing_in_the_writer_fails_its_file_alone_audited_and_the_next_run_loads_it(
    clean_landing, tmp_path, monkeypatch
):
    files = _files(clean_landing, days=2)
    victim = next(f for f in files[1:] if len(f.path.read_bytes().splitlines()) > 10)
    real_write = DuckDBBackend.writer_load
    fail = {"on": True}

    def writer_load(self, parsed, audit):
        if fail["on"] and parsed.file.name == victim.name:
            raise OSError(28, "No space left on device")
        return real_write(self, parsed, audit)

    monkeypatch.setattr(DuckDBBackend, "writer_load", writer_load)
    path = tmp_path / "warehouse.duckdb"
    backend = DuckDBBackend(path)
    try:
        report = load_files(backend, files, require_manifest=False)
    finally:
        backend.close()
    statuses = {r.name: r.status for r in report.results}
    assert statuses.pop(victim.name) == "failed"
    assert set(statuses.values()) == {"loaded"} and len(statuses) == len(files) - 1
    (failed,) = report.failed
    assert failed.message.startswith(str(victim.path)), failed.message
    assert "OSError" in failed.message and "No space left on device" in failed.message
    audit = [r for r in _audit(path) if r[1] == victim.name]
    assert [(r[2], "No space left on device" in r[6]) for r in audit] == [("failed", True)]

    fail["on"] = False
    backend = DuckDBBackend(path)
    try:
        again = load_files(backend, files, require_manifest=False)
        rows = backend.query(
            f"select count(*), count(distinct _source_line) from bronze.{victim.table} "
            "where _source_file = ?",
            [victim.name],
        )[0]
    finally:
        backend.close()
    assert {r.name: r.status for r in again.results}[victim.name] == "loaded"
    assert again.count("skipped") == len(files) - 1
    assert rows[0] == rows[1] == again.rows_loaded > 0


def test_the_same_content_twice_in_one_run_is_skipped_as_already_loaded(clean_landing, tmp_path):
    """A file whose content the write just before it loaded: the sequential loader's verdict
    (``already loaded``), not a race with another loader."""
    landing = tmp_path / "landing"
    source = sorted((clean_landing / "orders").glob("*.csv"))[:2]
    (landing / "orders").mkdir(parents=True)
    shutil.copy(source[0], landing / "orders" / source[0].name)
    shutil.copy(source[0], landing / "orders" / source[1].name)  # another day, the same bytes
    backend = DuckDBBackend(tmp_path / "warehouse.duckdb")
    try:
        report = load_files(backend, discover(landing), require_manifest=False)
        audit = backend.query(
            "select file_path, status, message from bronze._load_audit order by file_path"
        )
    finally:
        backend.close()
    assert [(r.name, r.status, r.message) for r in report.results] == [
        (f"orders/{source[0].name}", "loaded", None),
        (f"orders/{source[1].name}", "skipped", "already loaded"),
    ]
    assert audit == [
        (f"orders/{source[0].name}", "loaded", None),
        (f"orders/{source[1].name}", "skipped", "same sha256 already loaded"),
    ]


@pytest.mark.parametrize("overlap", [True, False])
def test_a_checked_file_between_fast_ones_is_written_in_its_place(
    faulty_landing, tmp_path, monkeypatch, overlap
):
    """Files with faults take the checked path (their rows are temporary tables of the main
    connection): they are written there, after the write in flight, and the report keeps the
    files' order."""
    monkeypatch.setattr(DuckDBBackend, "overlap", overlap)
    files = _files(faulty_landing, days=6)
    backend = DuckDBBackend(tmp_path / "warehouse.duckdb")
    paths: list[str] = []
    real_load = DuckDBBackend.load

    def load(self, parsed, audit):
        paths.append(parsed.path)
        return real_load(self, parsed, audit)

    monkeypatch.setattr(DuckDBBackend, "load", load)
    try:
        report = load_files(backend, files, require_manifest=False)
    finally:
        backend.close()
    assert [r.name for r in report.results] == [f.name for f in files]
    assert report.count("loaded") == len(files)
    assert report.rows_rejected > 0
    if overlap:  # only checked files go through the main connection's load
        assert paths and set(paths) == {"checked"}, paths
    else:
        assert {"checked", "fast"} <= set(paths), paths
