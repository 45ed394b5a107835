"""BigQuery, which cannot be reached from here: tested up to the wire.

- The loader (``ingestion/backends/bigquery.py``) runs with a real ``google.cloud.bigquery.Client``
  pointed at ``RecordingBigQuery``, a small HTTP server on 127.0.0.1 that answers the REST calls
  the client makes (job inserts, multipart uploads, job gets, query results) with finished jobs
  and canned results, and records every request. The tests read back what went over the wire:
  the load jobs' configuration, the uploaded Parquet bytes, the SQL texts and their parameters.
  What that does not check: BigQuery itself (whether it accepts the DDL and the transaction
  script, its ``@@row_count`` and rollback, concurrent loaders), and resumable uploads (files of
  5 MB and more; the test files are small, so the client sends them in one multipart request).
- dbt: ``dbt parse`` on the ``bigquery`` target, and ``dbt compile`` of real models, with the
  adapter's API calls sent to the same recording server (``BIGQUERY_API_ENDPOINT``) and a dummy
  access token (``oauth-secrets``): nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from datetime import date, datetime
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbt_support import TEST_PII_HASH_KEY, run_dbt

from ingestion.backends import get_backend
from ingestion.backends.base import AUDIT_COLUMNS, META_COLUMNS, REJECT_COLUMNS, AuditRow
from ingestion.config import Settings
from ingestion.contracts import CONTRACTS, decimal_parts
from ingestion.landing import LandingFile, check_file
from ingestion.loader import load_files

bigquery = pytest.importorskip("google.cloud.bigquery")
from google.auth.credentials import AnonymousCredentials  # noqa: E402

from ingestion.backends.bigquery import BigQueryBackend, numeric_type  # noqa: E402

PROJECT = "test-project"
BATCH = "20260102T030405Z-abc123"
AT = datetime(2026, 1, 2, 3, 4, 5, 600000)
PARSE_FAULTS = ("null_key", "unparseable_value", "wrong_field_count", "unclosed_quote")
CARRIERS_CSV = (
    "carrier_id,carrier_name,service_level,updated_at\n"
    '1,"Acme, Inc.","",2026-01-01 00:00:00\n'
    '2,"Say ""hi""",,2026-01-01 00:00:00\n'
    'x,"broken","ground",2026-01-01 00:00:00\n'
    '4,"back\\slash","\\N",2026-01-01 00:00:00\n'
)
HOSTILE = [
    "x'); drop table bronze.carriers; --",
    'x"); delete from bronze._load_audit where true; --',
    "a`b\\`; select @@row_count",
]


# --------------------------------------------------------------------------- the server
class RecordingBigQuery(ThreadingHTTPServer):
    """Answers BigQuery's REST API the way the client needs it, minimally; records requests.

    ``load_error`` is added to the row count a load job reports; ``outcome`` answers the load
    transaction's final ``select``; ``versions`` answers whether a file name has a ``loaded``
    audit row (``audit_exists``), ``loaded`` whether the content is (``already_loaded``)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log: list[dict] = []
        self.jobs: dict[str, dict] = {}
        self.results: dict[str, tuple[list, list]] = {}
        self.load_error = 0
        self.outcome = "loaded"
        self.versions = 0
        self.loaded = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    # what the tests read
    def queries(self) -> list[tuple[str, dict]]:
        """(SQL text, {parameter: value}) of every query job, in order."""
        return [(r["sql"], r["params"]) for r in self.log if r["kind"] == "query"]

    def loads(self) -> list[dict]:
        return [r for r in self.log if r["kind"] == "load"]

    def kinds(self) -> list[str]:
        out = []
        for r in self.log:
            if r["kind"] == "query":
                words = r["sql"].replace(";", " ").split()
                out.append(" ".join(words[:2]) if words[0] != "select" else "select")
            elif r["kind"] in ("load", "other"):
                out.append(r["kind"])
        return out

    # what the handler calls
    def query_job(self, job: dict) -> None:
        config = job["configuration"]["query"]
        sql = config["query"]
        params = {
            p["name"]: p["parameterValue"].get("value") for p in config.get("queryParameters", [])
        }
        self.log.append({"kind": "query", "sql": sql, "params": params, "job": job})
        if sql.startswith("select count(*)"):
            count = self.loaded if "@sha256" in sql else self.versions
            schema, rows = [{"name": "f0_", "type": "INTEGER"}], [[str(count)]]
        elif sql.startswith("begin transaction"):
            schema, rows = [{"name": "outcome", "type": "STRING"}], [[self.outcome]]
        else:
            schema, rows = [], []
        job_id = job["jobReference"]["jobId"]
        self.results[job_id] = (schema, rows)
        job["status"] = {"state": "DONE"}
        job["statistics"] = {"creationTime": "1", "query": {"statementType": "SCRIPT"}}
        self.jobs[job_id] = job

    def load_job(self, job: dict, data: bytes) -> None:
        rows = pq.read_table(io.BytesIO(data))
        self.log.append({"kind": "load", "job": job, "rows": rows})
        job["status"] = {"state": "DONE"}
        job["statistics"] = {
            "creationTime": "1",
            "load": {"outputRows": str(rows.num_rows + self.load_error)},
        }
        self.jobs[job["jobReference"]["jobId"]] = job


class _Handler(BaseHTTPRequestHandler):
    server: RecordingBigQuery

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self.server.log.append({"kind": "other", "method": self.command, "path": self.path})
        error = {"code": 404, "message": f"Not found: {self.path}", "status": "NOT_FOUND"}
        error["errors"] = [{"reason": "notFound", "message": error["message"]}]
        self._send(404, {"error": error})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            if re.fullmatch(r"/bigquery/v2/projects/[^/]+/jobs", url.path):
                job = json.loads(body)
                self.server.query_job(job)
                return self._send(200, job)
            if re.fullmatch(r"/upload/bigquery/v2/projects/[^/]+/jobs", url.path):
                assert parse_qs(url.query)["uploadType"] == ["multipart"]
                message = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                meta, data = [p.get_payload(decode=True) for p in message.iter_parts()]
                job = json.loads(meta)
                self.server.load_job(job, data)
                return self._send(200, job)
            return self._not_found()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        with self.server.lock:
            match = re.fullmatch(r"/bigquery/v2/projects/[^/]+/(jobs|queries)/([^/]+)", url.path)
            if match and match[2] in self.server.jobs:
                job = self.server.jobs[match[2]]
                if match[1] == "jobs":
                    return self._send(200, job)
                schema, rows = self.server.results.get(match[2], ([], []))
                answer = {
                    "kind": "bigquery#getQueryResultsResponse",
                    "jobReference": job["jobReference"],
                    "jobComplete": True,
                    "totalRows": str(len(rows)),
                    "rows": [{"f": [{"v": v} for v in row]} for row in rows],
                }
                if schema:
                    answer["schema"] = {"fields": schema}
                return self._send(200, answer)
            return self._not_found()

    def do_DELETE(self) -> None:
        with self.server.lock:
            self._not_found()


@pytest.fixture
def server():
    srv = RecordingBigQuery()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _backend(server: RecordingBigQuery) -> BigQueryBackend:
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": server.url},
    )
    return BigQueryBackend(client)


# --------------------------------------------------------------------------- helpers
def _carriers_file(folder: Path, text: str = CARRIERS_CSV, name: str = "2026-01-01.csv"):
    path = folder / "carriers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return LandingFile("carriers", date(2026, 1, 1), path)


def _audit(parsed) -> AuditRow:
    return AuditRow(
        batch_id=BATCH,
        table_name=parsed.file.table,
        file_path=parsed.file.name,
        sha256=parsed.check.sha256,
        file_bytes=parsed.check.size,
        rows_read=parsed.rows_read,
        rows_loaded=parsed.rows_loaded,
        rows_rejected=parsed.rows_rejected,
        status="loaded",
        schema_drift=None,
        message=None,
        started_at=AT,
        finished_at=AT,
    )


def _parse(backend, file: LandingFile):
    check, data = check_file(file.path, CONTRACTS[file.table])
    return backend.parse(file, check, data)


def _expected_fields(columns: list[tuple[str, str]]) -> list[dict]:
    """The load job schema the contract calls for, as the REST API spells it."""
    scalar = {
        "bigint": "INT64",
        "integer": "INT64",
        "varchar": "STRING",
        "boolean": "BOOL",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    }
    out = []
    for name, type_ in columns:
        parts = decimal_parts(type_)
        if parts:
            field = {"name": name, "type": "NUMERIC", "mode": "NULLABLE"}
            field |= {"precision": parts[0], "scale": parts[1]}  # as the client sends them
        else:
            field = {"name": name, "type": scalar[type_], "mode": "NULLABLE"}
        out.append(field)
    return out


def _fields(load: dict) -> list[dict]:
    return [
        {k: f[k] for k in ("name", "type", "mode", "precision", "scale") if k in f}
        for f in load["job"]["configuration"]["load"]["schema"]["fields"]
    ]


# =========================================================================== SQL, no client
def test_bigquery_ddl_creates_every_bronze_table_with_bigquery_types():
    backend = BigQueryBackend(None, project=PROJECT)
    statements = backend.ddl()
    assert statements[0] == f"create schema if not exists `{PROJECT}`.bronze"
    assert len(statements) == len(CONTRACTS) + 3
    carriers = next(s for s in statements if f"`{PROJECT}`.bronze.carriers " in s)
    assert carriers == (
        f"create table if not exists `{PROJECT}`.bronze.carriers (\n"
        "    carrier_id int64,\n"
        "    carrier_name string,\n"
        "    service_level string,\n"
        "    updated_at timestamp,\n"
        "    _batch_id string,\n"
        "    _source_file string,\n"
        "    _source_line int64,\n"
        "    _loaded_at timestamp\n"
        ")"
    )
    lines = next(s for s in statements if f"`{PROJECT}`.bronze.order_lines " in s)
    assert "    unit_price numeric(12,2),\n" in lines
    assert backend.sql_type("decimal(38,12)") == "bignumeric(38,12)"
    assert (numeric_type(38, 9), numeric_type(29, 0), numeric_type(30, 0)) == (
        "NUMERIC",
        "NUMERIC",
        "BIGNUMERIC",
    )


@pytest.mark.parametrize(
    "project", ["Test-Project", "p", "x`; drop schema bronze; --", "test-project\n"]
)
def test_bigquery_project_must_be_a_project_id(project):
    with pytest.raises(ValueError, match="BIGQUERY_PROJECT must be a project id"):
        BigQueryBackend(None, project=project)


def test_bigquery_settings_come_from_env_and_missing_ones_are_named():
    with pytest.raises(ValueError, match=r"WAREHOUSE_TARGET=bigquery needs BIGQUERY_PROJECT"):
        get_backend(Settings.from_env({"WAREHOUSE_TARGET": "bigquery"}))
    env = {"WAREHOUSE_TARGET": "bigquery", "BIGQUERY_PROJECT": PROJECT, "BIGQUERY_LOCATION": "EU"}
    # a client is built without connecting (credentials: a service-account key file)
    with pytest.raises(FileNotFoundError):
        get_backend(Settings.from_env({**env, "BIGQUERY_KEYFILE": "/nonexistent/key.json"}))


# =========================================================================== over the wire
def _faulty_orders(faulty_landing: Path) -> tuple[LandingFile, str, set[int]]:
    faults: dict[str, set[int]] = {}
    for fault in json.loads((faulty_landing / "_faults.json").read_text())["faults"]:
        if fault["fault"] in PARSE_FAULTS:
            faults.setdefault(fault["file"], set()).add(fault["line"])
    name = min(f for f in faults if f.startswith("orders/"))
    file = LandingFile("orders", date.fromisoformat(name[7:17]), faulty_landing / name)
    return file, name, faults[name]


def test_bigquery_load_stages_rows_and_rejects_by_load_jobs_then_one_transaction(
    server, faulty_landing
):
    file, name, faulty = _faulty_orders(faulty_landing)
    backend = _backend(server)
    report = load_files(backend, [file], batch_id=BATCH)
    assert not report.failed, report.results
    assert [r.status for r in report.results] == ["loaded"]
    kinds = server.kinds()
    assert kinds[:2] == ["create schema", "create table"]
    assert kinds.count("create table") == len(CONTRACTS) + 2 + 2  # bronze, then two staging
    assert kinds[len(CONTRACTS) + 3 :] == [
        "select",  # already loaded?
        "select",  # an earlier version of this file name?
        "create table",  # staging for the rows
        "load",
        "create table",  # staging for the rejects
        "load",
        "begin transaction",
        "drop table",
        "drop table",
    ]
    queries = server.queries()
    # the file is known by its sha256 and name: parameters, never SQL text
    check, _ = check_file(file.path, CONTRACTS["orders"])
    already, exists = queries[len(CONTRACTS) + 3], queries[len(CONTRACTS) + 4]
    assert already[1] == {"table_name": "orders", "sha256": check.sha256, "file_path": None}
    assert exists[1] == {"table_name": "orders", "file_path": name, "status": "loaded"}
    for sql, _ in queries:
        assert name not in sql and check.sha256 not in sql and BATCH not in sql

    # the good rows' load job: explicit schema with exact types, Parquet, into an empty table
    rows_load, rejects_load = server.loads()
    config = rows_load["job"]["configuration"]["load"]
    staging = config["destinationTable"]
    assert staging["projectId"] == PROJECT and staging["datasetId"] == "bronze"
    assert re.fullmatch(r"_ingest_orders_[0-9a-f]{12}", staging["tableId"])
    assert config["sourceFormat"] == "PARQUET"
    assert config["writeDisposition"] == "WRITE_EMPTY"
    assert config["createDisposition"] == "CREATE_NEVER"
    columns = [(c.name, c.type) for c in CONTRACTS["orders"].columns] + list(META_COLUMNS)
    assert _fields(rows_load) == _expected_fields(columns)
    # the uploaded bytes: exactly the accepted rows, with their load metadata
    manifest = json.loads((faulty_landing / "_manifest.json").read_text())["files"]
    wanted = [n for n in range(2, manifest[name] + 2) if n not in faulty]
    uploaded = rows_load["rows"]
    assert uploaded.column_names == [c for c, _ in columns]  # the staging table's order
    assert sorted(uploaded.column("_source_line").to_pylist()) == wanted
    assert set(uploaded.column("_source_file").to_pylist()) == {name}
    assert set(uploaded.column("_batch_id").to_pylist()) == {BATCH}
    assert uploaded.schema.field("order_id").type.bit_width == 64

    # the rejects' load job and bytes
    rejects_config = rejects_load["job"]["configuration"]["load"]
    assert re.fullmatch(
        r"_ingest_rejects_[0-9a-f]{12}", rejects_config["destinationTable"]["tableId"]
    )
    assert _fields(rejects_load) == _expected_fields(list(REJECT_COLUMNS))
    rejected = rejects_load["rows"].to_pylist()
    assert sorted(r["line_number"] for r in rejected) == sorted(faulty)
    assert {(r["batch_id"], r["table_name"], r["file_path"]) for r in rejected} == {
        (BATCH, "orders", name)
    }

    # the transaction: supersede, copy, rejects, audit, all with parameters
    script, params = next(q for q in queries if q[0].startswith("begin transaction"))
    audit = f"`{PROJECT}`.bronze._load_audit"
    assert f"update {audit} set status = 'superseded' where table_name = @table_name " in script
    assert f"delete from `{PROJECT}`.bronze.orders where _source_file = @file_path;" in script
    rows_table = f"`{PROJECT}`.bronze.{staging['tableId']}"
    assert "select order_id, " in script and f"from {rows_table};" in script
    assert "assert @@row_count = @rows_loaded" in script
    assert "assert @@row_count = @rows_rejected" in script
    assert script.index("update ") < script.index("insert into `test-project`.bronze.orders")
    assert script.rstrip().endswith("commit transaction;\n  select 'loaded' as outcome;\nend if;")
    values = {c: params[c] for c, _ in AUDIT_COLUMNS}
    assert values["file_path"] == name and values["sha256"] == check.sha256
    assert values["status"] == "loaded" and values["batch_id"] == BATCH
    assert (values["rows_loaded"], values["rows_rejected"]) == (str(len(wanted)), str(len(faulty)))
    assert values["rows_read"] == str(manifest[name])
    assert params["empty_name"] is None
    # the staging tables are dropped afterwards
    drops = [sql for sql, _ in queries if sql.startswith("drop table")]
    assert sorted(drops) == sorted(
        f"drop table if exists `{PROJECT}`.bronze.{t}"
        for t in (staging["tableId"], rejects_config["destinationTable"]["tableId"])
    )


@pytest.mark.parametrize("table", ["order_lines", "products", "weather_daily"])
def test_bigquery_load_job_keeps_decimal_precision_dates_and_booleans(
    server, faulty_landing, table
):
    """The schema sent with the load job is the contract's, exactly; the uploaded values are
    the file's (decimals compared digit for digit with the CSV text)."""
    path = sorted((faulty_landing / table).glob("*.csv"))[0]
    file = LandingFile(table, date.fromisoformat(path.stem), path)
    backend = _backend(server)
    parsed = _parse(backend, file)
    assert backend.load(parsed, _audit(parsed)) == "loaded"
    rows_load = server.loads()[0]
    columns = [(c.name, c.type) for c in CONTRACTS[table].columns] + list(META_COLUMNS)
    assert _fields(rows_load) == _expected_fields(columns)
    uploaded = rows_load["rows"]
    assert uploaded.num_rows == parsed.rows_loaded > 0
    with path.open(newline="") as fh:
        lines = {n: row for n, row in enumerate(csv.DictReader(fh), start=2)}
    decimals = [(n, decimal_parts(t)) for n, t in columns if decimal_parts(t)]
    assert decimals
    for name, (precision, scale) in decimals:
        assert uploaded.schema.field(name).type == pa.decimal128(precision, scale)
        for line, value in zip(
            uploaded.column("_source_line").to_pylist(),
            uploaded.column(name).to_pylist(),
            strict=True,
        ):
            text = lines[line][name]
            assert value == (Decimal(text).quantize(Decimal(1).scaleb(-scale)) if text else None)
    for name, type_ in columns:
        if type_ == "date":
            assert uploaded.schema.field(name).type == pa.date32()
        if type_ == "boolean":
            assert uploaded.schema.field(name).type == pa.bool_()


def test_bigquery_redelivered_file_supersedes_its_earlier_version_in_the_transaction(
    server, tmp_path
):
    backend = _backend(server)
    server.versions = 1  # an earlier version of this file name is loaded
    file = _carriers_file(tmp_path / "landing")
    report = load_files(backend, [file], batch_id=BATCH, require_manifest=False)
    assert [(r.status, r.replaced) for r in report.results] == [("loaded", True)]
    script, params = next(q for q in server.queries() if q[0].startswith("begin transaction"))
    audit = f"`{PROJECT}`.bronze._load_audit"
    supersede = script.splitlines()[6:10]
    assert supersede == [
        f"  update {audit} set status = 'superseded' where table_name = @table_name "
        "and file_path = @file_path and status = 'loaded';",
        "  if @@row_count > 0 then",
        f"    delete from `{PROJECT}`.bronze.carriers where _source_file = @file_path;",
        "  end if;",
    ]
    assert (params["table_name"], params["file_path"]) == ("carriers", "carriers/2026-01-01.csv")


def test_bigquery_content_already_loaded_is_skipped_and_audited_with_parameters(server, tmp_path):
    backend = _backend(server)
    server.loaded = 1
    file = _carriers_file(tmp_path / "landing")
    report = load_files(backend, [file], batch_id=BATCH, require_manifest=False)
    assert [r.status for r in report.results] == ["skipped"]
    assert server.loads() == []
    sql, params = server.queries()[-1]
    assert sql == (
        f"insert into `{PROJECT}`.bronze._load_audit ({', '.join(c for c, _ in AUDIT_COLUMNS)}) "
        "values (@batch_id, @table_name, @file_path, @sha256, @file_bytes, @rows_read, "
        "@rows_loaded, @rows_rejected, @status, @schema_drift, @message, @started_at, "
        "@finished_at)"
    )
    assert set(params) == {c for c, _ in AUDIT_COLUMNS}
    assert (params["status"], params["file_path"]) == ("skipped", "carriers/2026-01-01.csv")
    assert params["message"] == "same sha256 already loaded"


def test_bigquery_wrong_load_count_fails_before_the_transaction_and_drops_staging(server, tmp_path):
    backend = _backend(server)
    server.load_error = -1
    parsed = _parse(backend, _carriers_file(tmp_path))
    with pytest.raises(RuntimeError, match=r"loaded 2 rows, expected 3"):
        backend.load(parsed, _audit(parsed))
    assert server.kinds() == ["create table", "load", "drop table"]
    assert not any(sql.startswith("begin") for sql, _ in server.queries())


def test_bigquery_a_failed_staging_drop_is_a_warning_beside_the_loads_own_error(
    server, tmp_path, monkeypatch, caplog
):
    backend = _backend(server)
    server.load_error = -1
    run = backend._run

    def refuse_drops(sql, *args, **kwargs):
        if sql.startswith("drop table"):
            raise RuntimeError("403 Access Denied: drop refused\ndetails")
        return run(sql, *args, **kwargs)

    monkeypatch.setattr(backend, "_run", refuse_drops)
    parsed = _parse(backend, _carriers_file(tmp_path))
    with caplog.at_level("WARNING"), pytest.raises(RuntimeError, match=r"expected 3"):
        backend.load(parsed, _audit(parsed))
    warned = [r.getMessage() for r in caplog.records if "could not drop" in r.getMessage()]
    assert len(warned) == 1 and warned[0].endswith("403 Access Denied: drop refused")


def test_bigquery_content_loaded_meanwhile_is_an_audited_skip(server, tmp_path):
    backend = _backend(server)
    server.outcome = "skipped"
    parsed = _parse(backend, _carriers_file(tmp_path))
    assert backend.load(parsed, _audit(parsed)) == "skipped"
    script, params = next(q for q in server.queries() if q[0].startswith("begin transaction"))
    first = script.splitlines()[1:5]
    assert first[0].startswith(f"if exists (select 1 from `{PROJECT}`.bronze._load_audit ")
    assert "and sha256 = @sha256 and status = 'loaded'" in first[0]
    assert "'skipped', @schema_drift, 'same sha256 loaded meanwhile'" in first[1]
    assert first[2:] == ["  commit transaction;", "  select 'skipped' as outcome;"]
    assert params["sha256"] == parsed.check.sha256


def test_bigquery_file_without_good_rows_stages_only_its_rejects(server, tmp_path):
    backend = _backend(server)
    lines = CARRIERS_CSV.splitlines()
    parsed = _parse(backend, _carriers_file(tmp_path, f"{lines[0]}\n{lines[3]}\n"))
    assert (parsed.rows_loaded, parsed.rows_rejected) == (0, 1)
    assert backend.load(parsed, _audit(parsed)) == "loaded"
    assert server.kinds() == ["create table", "load", "begin transaction", "drop table"]
    [load] = server.loads()
    assert load["rows"].to_pylist()[0]["raw_line"] == lines[3]
    script = server.queries()[1][0]
    assert "bronze.carriers (" not in script and "@rows_loaded" in script


def test_bigquery_hostile_header_and_file_names_never_reach_sql_text(server, tmp_path):
    backend = _backend(server)
    header = (
        CARRIERS_CSV.splitlines()[0]
        + ","
        + ",".join('"' + n.replace('"', '""') + '"' for n in HOSTILE)
    )
    body = "\n".join(
        line + "," + ",".join("v" for _ in HOSTILE) for line in CARRIERS_CSV.splitlines()[1:]
    )
    hostile_name = "2026-01-01'; drop table bronze.carriers; --.csv"
    file = _carriers_file(tmp_path / "landing", f"{header}\n{body}\n", name=hostile_name)
    report = load_files(backend, [file], batch_id=BATCH, require_manifest=False)
    assert [r.status for r in report.results] == ["loaded"], report.results
    queries = server.queries()
    for sql, _ in queries:
        for fragment in (
            "drop table bronze",
            "delete from bronze._load_audit",
            "a`b",
            hostile_name,
        ):
            assert fragment not in sql, (fragment, sql)
    _, params = next(q for q in queries if q[0].startswith("begin transaction"))
    assert params["file_path"] == f"carriers/{hostile_name}"
    assert all(n in params["schema_drift"] for n in ("drop table bronze.carriers", "a`b"))
    rows, _ = server.loads()
    assert set(rows["rows"].column("_source_file").to_pylist()) == {f"carriers/{hostile_name}"}
    assert "drop table" not in json.dumps(rows["job"]["configuration"]["load"]["schema"])


# =========================================================================== dbt
DBT_ENV = {
    "WAREHOUSE_TARGET": "bigquery",
    "BIGQUERY_PROJECT": PROJECT,
    "BIGQUERY_METHOD": "oauth-secrets",
    "BIGQUERY_TOKEN": "dummy-token",
}


def test_dbt_parse_passes_for_bigquery(tmp_path):
    pytest.importorskip("dbt.adapters.bigquery")
    done = run_dbt(tmp_path, {"WAREHOUSE_TARGET": "bigquery"}, "parse")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "bigquery"
    nodes = manifest["nodes"].values()
    models = {n["name"]: n for n in nodes if n["resource_type"] == "model"}
    assert {"stg_bronze__orders", "stg_bronze__customer_versions"} <= set(models)
    # dispatched: staging stays a view (no delete+insert on BigQuery), facts merge on their key
    assert models["stg_bronze__customer_versions"]["config"]["materialized"] == "view"
    assert models["fct_orders"]["config"]["incremental_strategy"] == "merge"
    # several rows per key: no merge, so a table rebuilt whole (incremental elsewhere)
    assert models["dim_customer"]["config"]["materialized"] == "table"
    bronze = [s for s in manifest["sources"].values() if s["source_name"] == "bronze"]
    assert len(bronze) == 14 and {s["database"] for s in bronze} == {"unset-project"}


def test_dbt_compile_on_bigquery_uses_its_macros_and_talks_only_to_127_0_0_1(server, tmp_path):
    pytest.importorskip("dbt.adapters.bigquery")
    env = {**DBT_ENV, "BIGQUERY_API_ENDPOINT": server.url}
    done = run_dbt(
        tmp_path, env, "compile", "--select", "stg_bronze__customer_versions", "dim_date", threads=1
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    compiled = {p.stem: p.read_text() for p in (tmp_path / "target" / "compiled").rglob("*.sql")}
    customers = compiled["stg_bronze__customer_versions"]
    key = bytes.fromhex(TEST_PII_HASH_KEY).ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in key).hex()
    outer = bytes(b ^ 0x5C for b in key).hex()
    assert f"to_hex(sha256(from_hex('{outer}') || sha256(from_hex('{inner}') || cast(" in customers
    assert "byte_length(cast(" in customers and ", ' ')" in customers
    assert f"`{PROJECT}`.`bronze`.`customers`" in customers
    # the adapter looked for the relations on the recording server (and found none)
    assert any(r["kind"] == "other" for r in server.log)


def test_dbt_inline_compile_of_the_other_dispatched_macros_on_bigquery(server, tmp_path):
    pytest.importorskip("dbt.adapters.bigquery")
    env = {**DBT_ENV, "BIGQUERY_API_ENDPOINT": server.url}
    sql = (
        "select {{ iso_day_of_week('d') }} as w, {{ safe_ratio('n', 'm') }} as r "
        "from ({{ date_spine(\"date '2026-01-01'\", \"date '2026-01-31'\") }})"
    )
    done = run_dbt(tmp_path, env, "compile", "--no-populate-cache", "--inline", sql, threads=1)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = " ".join(done.stdout.split())
    assert "mod(extract(dayofweek from d) + 5, 7) + 1 as w" in out
    assert "round(cast(n as bignumeric) / (m), 4) end as numeric(18, 4) )" in out
    assert "unnest(generate_date_array( cast((date '2026-01-01') as date)," in out
