"""Hostile and malformed landing files: nothing executes, nothing hangs, no traceback, nothing lost.

Run on DuckDB and on the local PostgreSQL server (tests/test_ingestion_spark.py repeats the
injection, value and concurrency cases on Spark). Each file problem must become a ``failed`` audit
row with a one-line reason naming the file, while the other files of the run load.
"""

from __future__ import annotations

import gzip
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from ingestion.landing import LandingFile, discover, strays
from ingestion.loader import load_files
from ingestion.readiness import manifest_path, seal_day

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 1, 1)
ORDERS_HEADER = "order_id,customer_id,ordered_at,channel,status,updated_at"
GOOD_ORDER = '{id},7,2026-01-01 10:00:00,"web","placed",2026-01-01 10:00:00'
# Names that, pasted into SQL, would end a string or an identifier and run a statement.
HOSTILE_NAMES = [
    "x': 'VARCHAR'}); drop table {schema}.orders; select ({'a",
    'x": "VARCHAR"}); drop table {schema}.orders; --',
    "x'); copy (select 42) to '{canary}'; select ('",
    "a;b--c/*d*/",
    "tab\tand\\backslash",
    "nul\x00byte",
]


def _cli(env: dict, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def _write(landing: Path, table: str, day: date, text: str | bytes) -> Path:
    path = landing / table / f"{day.isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _seal(landing: Path, day: date) -> None:
    names = [f.name for f in discover(landing, start=day, end=day) if f.path.is_file()]
    seal_day(landing, day, names)


def _orders(ids, header: str = ORDERS_HEADER, extra: str = "") -> str:
    return "\n".join([header, *(GOOD_ORDER.format(id=i) + extra for i in ids)]) + "\n"


def _env(warehouse, landing: Path, **more) -> dict[str, str]:
    return {**warehouse.env, "LANDING_DIR": str(landing), **more}


# --------------------------------------------------------------------- 1. nothing reaches SQL
def test_hostile_header_names_are_data_never_sql(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    canary = tmp_path / "pwned.csv"
    _write(landing, "orders", DAY, _orders([1, 2]))
    _seal(landing, DAY)
    env = _env(local_warehouse, landing)
    assert _cli(env, "load", "--date", "2026-01-01", "--quiet").returncode == 0
    day2 = date(2026, 1, 2)
    names = [
        n.replace("{schema}", local_warehouse.schema)
        .replace("{canary}", str(canary))
        .replace('"', '""')
        for n in HOSTILE_NAMES
    ]
    header = ORDERS_HEADER + "," + ",".join(f'"{n}"' for n in names)
    body = [GOOD_ORDER.format(id=i) + "," + ",".join("v" for _ in names) for i in (3, 4)]
    _write(landing, "orders", day2, "\n".join([header, *body]) + "\n")
    _seal(landing, day2)
    done = _cli(env, "load", "--date", "2026-01-02", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # the table is intact, both days are in it, and nothing was written on the loader host
    assert local_warehouse.query("select order_id from bronze.orders order by 1") == [
        (1,),
        (2,),
        (3,),
        (4,),
    ]
    assert not canary.exists()
    drift = local_warehouse.scalar(
        "select schema_drift from bronze._load_audit where file_path = 'orders/2026-01-02.csv'"
    )
    assert "drop table" in drift and "extra column(s) ignored" in drift
    # printed on one line: the newline and NUL of the hostile names are escaped
    line = next(ln for ln in done.stdout.splitlines() if "schema drift" in ln)
    assert "tab\\tand" in line and "nul\\x00byte" in line
    # a name spanning lines breaks the header itself: the file fails, saying so
    _write(landing, "orders", date(2026, 1, 3), f'{ORDERS_HEADER},"new\nline"\n')
    _seal(landing, date(2026, 1, 3))
    broken = _cli(env, "load", "--date", "2026-01-03", "--quiet")
    assert broken.returncode == 1 and "header (line 1) cannot be parsed" in broken.stderr
    assert local_warehouse.scalar("select count(*) from bronze.orders") == 4


def test_hostile_folder_and_file_names_are_ignored_with_a_warning(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    _write(landing, "orders", DAY, _orders([1]))
    _seal(landing, DAY)
    evil = [
        landing / "orders'; drop table bronze.orders; --",
        landing / "orders" / "2026-01-01.csv'; drop table bronze.orders; --.csv",
        landing / "orders" / "2026-13-40.csv",
        landing / "orders" / "notes\n.txt",
    ]
    evil[0].mkdir()
    for path in evil[1:]:
        path.write_text(_orders([99]))
    env = _env(local_warehouse, landing)
    done = _cli(env, "load", "--all", "--quiet")
    assert done.returncode == 0, done.stderr
    assert local_warehouse.query("select order_id from bronze.orders") == [(1,)]
    ignored = done.stderr.count("IGNORED")
    assert ignored == 4, done.stderr
    assert "notes\\n.txt" in done.stderr  # escaped, one line each
    audit = local_warehouse.query(
        "select file_path from bronze._load_audit where status = 'ignored' order by 1"
    )
    assert len(audit) == 4
    # audited once per name, however many runs see them
    again = _cli(env, "load", "--all", "--quiet")
    assert again.returncode == 0
    assert (
        local_warehouse.scalar("select count(*) from bronze._load_audit where status = 'ignored'")
        == 4
    )
    assert {s.name for s in strays(landing)} == {str(p.relative_to(landing)) for p in evil}


# --------------------------------------------------------------------- 2. one file never stops a run
def _device(path: Path) -> None:
    if os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # a /dev/zero of our own
    else:
        path.symlink_to("/dev/zero")


def test_each_broken_file_fails_alone_with_one_line_and_the_rest_loads(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    outside = tmp_path / "secret.csv"
    outside.write_text(_orders([666]))
    tables = {
        # table: what is wrong with its file on DAY
        "facilities": "fifo",
        "carriers": "device",
        "materials": "socket",
        "products": "symlink out of the root",
        "recipe_lines": "directory",
        "customers": "gzip",
        "orders": "CR-only line endings",
        "order_lines": "too many columns",
    }
    folder = {t: landing / t for t in tables}
    for f in folder.values():
        f.mkdir(parents=True)
    target = {t: folder[t] / f"{DAY}.csv" for t in tables}
    os.mkfifo(target["facilities"])
    _device(target["carriers"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(target["materials"]))
    target["products"].symlink_to(outside)
    target["recipe_lines"].mkdir()
    target["customers"].write_bytes(gzip.compress(b"customer_id\n1\n"))
    target["orders"].write_bytes(_orders([1, 2]).replace("\n", "\r").encode())
    target["order_lines"].write_text(",".join(f"c{i}" for i in range(500)) + "\n")
    # good files of the same day: they load
    _write(landing, "shipments", DAY, (ROOT / "sample_data/shipments/2026-01-05.csv").read_bytes())
    _write(landing, "returns", DAY, "return_id,order_line_id,requested_at,reason,quantity,"
           "refund_amount,status\n")  # fmt: skip
    seal_day(landing, DAY, ["shipments/2026-01-01.csv", "returns/2026-01-01.csv"])
    env = _env(local_warehouse, landing, INGEST_REQUIRE_MANIFEST="false")
    try:
        done = _cli(env, "load", "--date", "2026-01-01", "--quiet", timeout=120)
    finally:
        server.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    failed = [ln for ln in done.stderr.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == len(tables), done.stderr
    expect = {
        "facilities": "a FIFO, not a file: refused, not opened",
        "carriers": "device" if os.geteuid() == 0 else "leading out of the landing root",
        "materials": "a socket, not a file: refused",
        "products": "symbolic link leading out of the landing root: refused",
        "recipe_lines": "a directory, not a file",
        "customers": "gzip-compressed",
        "orders": "line 1: carriage return without a line feed",
        "order_lines": "header has 500 columns, more than 200 (INGEST_MAX_COLUMNS)",
    }
    for table, words in expect.items():
        line = next(ln for ln in failed if f"/{table}/" in ln)
        assert words in line, line
        assert str(target[table]) in line
    audit = dict(local_warehouse.query("select table_name, status from bronze._load_audit"))
    assert {t: audit[t] for t in tables} == dict.fromkeys(tables, "failed")
    assert audit["shipments"] == audit["returns"] == "loaded"
    assert local_warehouse.scalar("select count(*) from bronze.products") == 0  # never read


def test_a_hostile_manifest_or_table_folder_link_is_refused_without_hanging(
    local_warehouse, tmp_path
):
    """The readiness manifest and the table folders are landing input too: a FIFO manifest used to
    hang the loader, and a table folder linked out of the landing root used to be loaded."""
    landing = tmp_path / "landing"
    _write(landing, "orders", DAY, _orders([1, 2]))
    manifest = manifest_path(landing, DAY)
    manifest.parent.mkdir(parents=True)
    os.mkfifo(manifest)
    outside = tmp_path / "elsewhere"
    _write(outside, "customers", DAY, "customer_id\n666\n")
    (landing / "customers").symlink_to(outside / "customers", target_is_directory=True)
    env = _env(local_warehouse, landing)
    done = _cli(env, "load", "--date", "2026-01-01", "--quiet", timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr  # waiting: nothing loaded, no hang
    assert "Traceback" not in done.stderr
    waiting = [ln for ln in done.stderr.splitlines() if ln.startswith("WAITING")]
    assert len(waiting) == 1 and "orders/2026-01-01.csv" in waiting[0], done.stderr
    assert "_manifests/2026-01-01.json refused (a FIFO" in waiting[0]
    ignored = [ln for ln in done.stderr.splitlines() if ln.startswith("IGNORED")]
    assert any("customers" in ln and "plain folder" in ln for ln in ignored), done.stderr
    assert local_warehouse.scalar("select count(*) from bronze.orders") == 0
    assert (
        local_warehouse.scalar(
            "select count(*) from bronze._load_audit where table_name = 'customers' "
            "and status <> 'ignored'"
        )
        == 0
    )
    # a manifest linked out of the root is refused the same way; a plain one lets the file load
    manifest.unlink()
    foreign = tmp_path / "foreign.json"
    foreign.write_text("{}")
    manifest.symlink_to(foreign)
    linked = _cli(env, "load", "--date", "2026-01-01", "--quiet", timeout=60)
    assert linked.returncode == 3 and "leading out of the landing root" in linked.stderr
    manifest.unlink()
    _seal(landing, DAY)
    assert _cli(env, "load", "--date", "2026-01-01", "--quiet").returncode == 0
    assert local_warehouse.scalar("select count(*) from bronze.orders") == 2
    assert local_warehouse.query(
        "select table_name, status from bronze._load_audit order by 1"
    ) == [("customers", "ignored"), ("orders", "loaded")]  # the linked folder: never loaded


def test_sealing_a_day_refuses_a_fifo_in_one_line_without_hanging(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    _write(landing, "orders", DAY, _orders([1]))
    os.mkfifo(landing / "orders" / "2026-01-01.csv.tmp")  # not a landing name: never listed
    (landing / "facilities").mkdir()
    os.mkfifo(landing / "facilities" / "2026-01-01.csv")
    env = _env(local_warehouse, landing)
    done = _cli(env, "seal", "--date", "2026-01-01", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "facilities/2026-01-01.csv: a FIFO, not a file: refused, not opened" in done.stderr
    assert "nothing sealed" in done.stderr
    assert not manifest_path(landing, DAY).exists()
    (landing / "facilities" / "2026-01-01.csv").unlink()
    sealed = _cli(env, "seal", "--date", "2026-01-01", timeout=60)
    assert sealed.returncode == 0, sealed.stderr
    assert manifest_path(landing, DAY).is_file()


def test_a_very_long_field_nul_bytes_and_engine_specific_values_are_accounted_for(
    local_warehouse, tmp_path
):
    landing = tmp_path / "landing"
    header = "feedback_id,shipment_id,order_id,customer_id,submitted_at,rating,comment"
    long_comment = "x" * (10 * 1024 * 1024)
    lines = [
        header,
        f'1,1,1,1,2026-01-01 10:00:00,5,"{long_comment}"',
        '2,1,1,1,2026-01-01 10:00:00,4,"a\x00b"',
        '3,1,1,1,2026-01-01 10:00:00,3,"fine"',
        "4,1,1,1,infinity,3,",
        "5,1,1,1,2026-01-01 24:00:00,3,",
        "6,1,1,1,2026-01-01 10:00:00+05:00,2,",
    ]
    _write(landing, "delivery_feedback", DAY, "\n".join(lines) + "\n")
    _write(landing, "quality_inspections", DAY, (
        "inspection_id,product_id,facility_id,inspected_at,lot_size,sample_size,defects_found,result\n"
        "1,1,1,2026-01-01 08:00:00,100,10,0,\"pass\"\n"
    ))  # fmt: skip
    _seal(landing, DAY)
    done = _cli(_env(local_warehouse, landing), "load", "--date", "2026-01-01", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = local_warehouse.query(
        "select feedback_id, length(comment), submitted_at from bronze.delivery_feedback order by 1"
    )
    assert [(r[0], r[1]) for r in rows] == [(1, len(long_comment)), (3, 4), (6, None)]
    assert str(rows[2][2]) == "2026-01-01 05:00:00"  # +05:00 converted to UTC
    rejects = dict(
        local_warehouse.query("select line_number, column_name from bronze._rejects order by 1")
    )
    assert rejects == {3: "comment", 5: "submitted_at", 6: "submitted_at"}
    assert local_warehouse.scalar("select count(*) from bronze.quality_inspections") == 1
    read, loaded, rejected = local_warehouse.query(
        "select rows_read, rows_loaded, rows_rejected from bronze._load_audit "
        "where table_name = 'delivery_feedback'"
    )[0]
    assert (read, loaded, rejected) == (6, 3, 3)


def test_a_warehouse_locked_by_another_process_waits_then_names_the_holder(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    landing = tmp_path / "landing"
    _write(landing, "orders", DAY, _orders([1]))
    _seal(landing, DAY)
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(db),
        "LANDING_DIR": str(landing),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(db), "60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        done = _cli({**env, "DUCKDB_LOCK_TIMEOUT": "2"}, "load", "--all", "--quiet")
        waited = time.monotonic() - began
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "locked by another process" in done.stderr and f"PID {holder.pid}" in done.stderr
    assert waited >= 2
    # the other direction: a holder that lets go within the timeout is waited for
    short = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(db), "2"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert short.stdout.readline().strip() == "held"
    done = _cli({**env, "DUCKDB_LOCK_TIMEOUT": "60"}, "load", "--all", "--quiet")
    short.wait()
    assert done.returncode == 0, done.stderr
    assert "1 files loaded" in done.stdout


def _small_fs(path: Path, megabytes: int):
    """A real small file system (tmpfs) when we may mount one, else a file-size limit for the
    child process: writes past it fail in the kernel either way."""
    path.mkdir(parents=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
            capture_output=True,
        ).returncode
        == 0
    )
    return mounted


def test_a_full_disk_fails_files_with_one_line_each(tmp_path):
    disk = tmp_path / "disk"
    mounted = _small_fs(disk, 3)
    landing = tmp_path / "landing"
    # about 10 MB of text that does not compress: more than the disk holds
    header = (
        "customer_id,first_name,last_name,email,phone,street_address,city,state,postal_code,"
        "country,segment,marketing_opt_in,created_at,updated_at"
    )
    lines = [header] + [
        f'{i},"{os.urandom(16).hex()}","{os.urandom(16).hex()}","{os.urandom(24).hex()}@x.com",'
        f',,"c","s",,"US","standard",true,2026-01-01 00:00:00,2026-01-01 00:00:00'
        for i in range(1, 80_000)
    ]
    _write(landing, "customers", DAY, "\n".join(lines) + "\n")
    _write(landing, "orders", DAY, _orders([1]))
    _seal(landing, DAY)
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(disk / "warehouse.duckdb"),
        "LANDING_DIR": str(landing),
    }
    limit = None
    if not mounted:
        import resource
        import signal

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (3 * 1024 * 1024, 3 * 1024 * 1024))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "ingestion", "load", "--all", "--quiet"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, preexec_fn=limit,
        )  # fmt: skip
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    problems = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert problems and all(
        ln.startswith(("FAILED", "error:")) and "\n" not in ln for ln in problems
    )
    assert any(
        words in done.stderr
        for words in ("No space left on device", "File too large", "could not write", "write")
    ), done.stderr


# --------------------------------------------------------------------- 4. re-delivered and partial
def test_a_redelivered_file_replaces_its_earlier_version(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    _write(landing, "orders", DAY, _orders([1, 2, 3]))
    _seal(landing, DAY)
    env = _env(local_warehouse, landing)
    assert _cli(env, "load", "--date", "2026-01-01", "--quiet").returncode == 0
    # upstream deleted order 2 and corrected nothing else: the file comes again, other content
    _write(landing, "orders", DAY, _orders([1, 3, 4]))
    _seal(landing, DAY)
    done = _cli(env, "load", "--date", "2026-01-01", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "new version of orders/2026-01-01.csv" in done.stdout
    assert local_warehouse.query("select order_id from bronze.orders order by 1") == [
        (1,),
        (3,),
        (4,),
    ]
    assert local_warehouse.query(
        "select status, rows_loaded from bronze._load_audit order by started_at, status"
    ) == [("superseded", 3), ("loaded", 3)]
    # the same content again is a no-op
    again = _cli(env, "load", "--date", "2026-01-01", "--quiet")
    assert "1 skipped" in again.stdout
    assert local_warehouse.scalar("select count(*) from bronze.orders") == 3


def test_a_file_still_being_written_waits_for_its_manifest(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    env = _env(local_warehouse, landing)
    full = _orders([1, 2, 3])
    cut = full[: full.rindex("2026-01-01 10:00:00")] + "2026-01-0"  # the last line is cut
    path = _write(landing, "orders", DAY, cut)
    # no manifest yet: waiting, exit 3, nothing loaded or audited
    first = _cli(env, "load", "--date", "2026-01-01", "--quiet")
    assert first.returncode == 3, first.stdout + first.stderr
    assert "WAITING" in first.stderr and "no readiness manifest" in first.stderr
    assert local_warehouse.scalar("select count(*) from bronze._load_audit") == 0
    # the producer's manifest describes the finished file; the cut one still waits
    seal_day(landing, DAY, [])
    import hashlib
    import json

    manifest_path(landing, DAY).write_text(
        json.dumps(
            {"day": str(DAY), "files": {"orders/2026-01-01.csv": {
                "bytes": len(full), "sha256": hashlib.sha256(full.encode()).hexdigest()}}}
        )
    )  # fmt: skip
    second = _cli(env, "load", "--date", "2026-01-01", "--quiet")
    assert second.returncode == 3 and "still being written" in second.stderr
    assert local_warehouse.scalar("select count(*) from bronze.orders") == 0
    path.write_text(full)  # the producer finished
    third = _cli(env, "load", "--date", "2026-01-01", "--quiet")
    assert third.returncode == 0, third.stderr
    assert local_warehouse.query("select order_id from bronze.orders order by 1") == [
        (1,),
        (2,),
        (3,),
    ]
    assert local_warehouse.scalar("select count(*) from bronze._rejects") == 0


# --------------------------------------------------------------------- 5. concurrent loads
def test_two_loaders_started_together_load_each_file_once(local_warehouse, clean_landing):
    env = {
        **_env(local_warehouse, clean_landing),
        "DUCKDB_LOCK_TIMEOUT": "300",
    }
    cmd = [sys.executable, "-m", "ingestion", "load", "--from", "2026-01-01", "--to",
           "2026-01-03", "--quiet"]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    files = discover(clean_landing, start=date(2026, 1, 1), end=date(2026, 1, 3))
    loaded = local_warehouse.query(
        "select file_path, count(*) from bronze._load_audit where status = 'loaded' group by 1"
    )
    assert sorted(loaded) == sorted((f.name, 1) for f in files)
    for table in ("orders", "order_lines", "customers"):
        total, distinct = local_warehouse.query(
            f"select count(*), count(distinct _source_file || ':' || _source_line) "
            f"from bronze.{table}"
        )[0]
        assert total == distinct > 0, table
    skipped = local_warehouse.scalar(
        "select count(*) from bronze._load_audit where status = 'skipped'"
    )
    assert skipped == len(files)  # the other loader's turn on each file


def test_load_files_api_treats_a_missing_manifest_as_waiting(local_warehouse, tmp_path):
    path = _write(tmp_path / "landing", "orders", DAY, _orders([1]))
    with local_warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("orders", DAY, path)])
    assert report.count("waiting") == 1 and report.exit_code == 3
    with local_warehouse.backend() as backend:
        report = load_files(backend, [LandingFile("orders", DAY, path)], require_manifest=False)
    assert report.count("loaded") == 1 and report.exit_code == 0


@pytest.mark.postgres
def test_a_failure_inside_the_warehouse_is_one_line_and_the_next_file_loads(tmp_path):
    """An error the checks did not foresee (here a constraint added to bronze by hand) fails
    its file with the engine's own words on one line; the next file loads."""
    from conftest import _warehouse

    landing = tmp_path / "landing"
    a = _write(landing, "orders", DAY, _orders([1]))
    b = _write(landing, "orders", date(2026, 1, 2), _orders([2]))
    with _warehouse("postgres", tmp_path) as wh:
        with wh.backend() as backend:
            backend.ensure_schema()
            with backend.conn.transaction(), backend.conn.cursor() as cur:
                cur.execute(
                    f"alter table {wh.schema}.orders add constraint no_one check (order_id <> 1)"
                )
            report = load_files(
                backend,
                [LandingFile("orders", DAY, a), LandingFile("orders", date(2026, 1, 2), b)],
                require_manifest=False,
            )
        assert [r.status for r in report.results] == ["failed", "loaded"]
        message = report.results[0].message
        assert "\n" not in message and "orders/2026-01-01.csv" in message
        assert "no_one" in message  # PostgreSQL's own reason
        assert wh.query("select status from bronze._load_audit order by started_at") == [
            ("failed",),
            ("loaded",),
        ]


def test_contract_names_are_plain_identifiers():
    """The only names the loader writes into SQL text are the contracts': keep them safe."""
    import re

    from ingestion.contracts import CONTRACTS

    plain = re.compile(r"[a-z_][a-z0-9_]{0,62}")
    for table, contract in CONTRACTS.items():
        assert plain.fullmatch(table), table
        for column in contract.column_names:
            assert plain.fullmatch(column), (table, column)


def test_settings_refuse_a_schema_name_that_is_not_an_identifier(tmp_path):
    from ingestion.config import Settings

    with pytest.raises(ValueError, match="BRONZE_SCHEMA"):
        Settings.from_env({"BRONZE_SCHEMA": "bronze; drop schema x"})
    env = {"WAREHOUSE_TARGET": "duckdb", "BRONZE_SCHEMA": "x y", "LANDING_DIR": str(tmp_path)}
    done = _cli({**os.environ, **env}, "load", "--all")
    assert done.returncode == 2 and "BRONZE_SCHEMA" in done.stderr


def test_name_checks_refuse_a_trailing_newline():
    """``^...$`` with ``match`` lets ``name\\n`` through; every name check matches the whole name."""
    from ingestion.warehouse import _ident
    from metrics_api.query import _PLAIN
    from ml.store import _NAME

    with pytest.raises(ValueError, match="plain SQL identifier"):
        _ident("orders\n")
    assert _ident("orders") == "orders"
    assert _NAME.fullmatch("scores") and not _NAME.fullmatch("scores\n")
    assert _PLAIN.fullmatch("web") and not _PLAIN.fullmatch("web\n")


def test_blank_lines_and_mixed_line_endings_are_rows_accounted_for(local_warehouse, tmp_path):
    landing = tmp_path / "landing"
    rows = [GOOD_ORDER.format(id=i) for i in range(1, 6)]
    text = (
        ORDERS_HEADER + "\n" + rows[0] + "\n\n" + rows[1] + "\r\n   \n" + rows[2] + "\r\n"
        + rows[3] + "\n" + rows[4]
    )  # fmt: skip
    _write(landing, "orders", DAY, text)
    _seal(landing, DAY)
    done = _cli(_env(local_warehouse, landing), "load", "--date", "2026-01-01", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert local_warehouse.query("select order_id, _source_line from bronze.orders order by 1") == [
        (1, 2),
        (2, 4),
        (3, 6),
        (4, 7),
        (5, 8),
    ]
    rejects = local_warehouse.query("select line_number, reason from bronze._rejects order by 1")
    assert [r[0] for r in rejects] == [3, 5]
    assert all("wrong field count" in r[1] for r in rejects)
    assert local_warehouse.query(
        "select rows_read, rows_loaded, rows_rejected from bronze._load_audit"
    ) == [(7, 5, 2)]
