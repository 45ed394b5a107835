"""Personal data leaves staging only as keyed hashes that nobody without the key can reverse.

``hash_pii`` (dbt_project/macros/hash_pii.sql) is HMAC-SHA256 under ``PII_HASH_KEY`` of the
trimmed, A-Z lower-cased text. Checked here:

- the bytes: what dbt computes on DuckDB, PostgreSQL and Spark equals Python's
  ``hmac.new(key, text, sha256)``, for awkward values (case, spaces, tabs, accents, quotes, long
  text, empty, null) and keys of 32, 48 and 64 bytes, and for every customer row of the sample;
- the attack from the issue: a dictionary built from the generator's own name and street pools
  (data_generator.simulate.Pools, the seed of sample_data/) recovers nothing from staging and
  dim_customer, with sha256, md5, sha1, sha512 or guessed keys; the same attack holding the key
  recovers every name, street and email (so the attack itself works);
- the key: dbt refuses to hash without one or with a malformed one (the value never echoed),
  parsing needs none and keeps none, a new key needs a full refresh, and ``make run`` makes a
  local key once (``python -m orchestration pii-key``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestion.landing import discover
from ingestion.loader import load_files
from tests.dbt_support import TEST_PII_HASH_KEY, run_dbt

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SEED = 42  # the seed sample_data/ was generated with (Makefile SEED)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
CUSTOMER_MODELS = ("stg_bronze__customer_versions", "int_customer_versions", "dim_customer")
#: the relations below the marts that hold the customers' hashes, one row per version
HASHED_RELATIONS = ("staging.stg_bronze__customer_versions", "intermediate.int_customer_versions")
HASHED = ("first_name", "last_name", "email", "phone", "street_address")
AWKWARD = (
    "Ann.Lee1@Example.COM",
    "  ann.lee1@example.com  ",
    "\tTabbed ",
    "Émile ÜNAL",
    "ÉMILE",
    "O'Brien",
    "x" * 200,
    "山田 太郎",
    "",
    None,
)
KEYS = (TEST_PII_HASH_KEY, "ff" * 64)  # 32 bytes (zero-padded to the block) and a whole block


def normalise(value: str) -> str:
    """hash_pii's normalisation: spaces trimmed, A-Z lower-cased, nothing else."""
    return value.strip(" ").translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    )


def keyed(key_hex: str, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(bytes.fromhex(key_hex), normalise(value).encode(), hashlib.sha256).hexdigest()


def _literal(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def _show(work: Path, env: dict[str, str], values: tuple) -> dict[str, str | None]:
    """``dbt show`` of hash_pii over ``values``, as one row of columns h0, h1, ..."""
    columns = ", ".join(
        f'{{{{ hash_pii("{_literal(v)}") }}}} as h{i}' for i, v in enumerate(values)
    )
    shown = run_dbt(
        work, env, "show", "--quiet", "--output", "json", "--limit", "1", "--inline",
        f"select {columns}",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stdout[-4000:] + shown.stderr[-2000:]
    return json.loads(shown.stdout[shown.stdout.index("{") :])["show"][0]


# ------------------------------------------------------------------------- engines
def _duckdb_env(work: Path) -> dict[str, str]:
    return {"WAREHOUSE_TARGET": "duckdb", "DUCKDB_PATH": str(work / "w.duckdb")}


@contextmanager
def _postgres_env() -> Iterator[dict[str, str]]:
    import psycopg

    admin = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
    }
    name = f"pii_t{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f"create database {name}")
    try:
        yield {
            "WAREHOUSE_TARGET": "postgres",
            "PGHOST": admin["host"],
            "PGPORT": admin["port"],
            "PGUSER": admin["user"],
            "PGDATABASE": name,
        }
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


@contextmanager
def _engine_env(engine: str, work: Path) -> Iterator[dict[str, str]]:
    if engine == "duckdb":
        yield _duckdb_env(work)
    else:
        with _postgres_env() as env:
            yield env


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_hash_pii_is_hmac_sha256_of_the_normalised_text(engine, tmp_path):
    with _engine_env(engine, tmp_path) as env:
        for key in KEYS if engine == "duckdb" else KEYS[:1]:
            got = _show(tmp_path, {**env, "PII_HASH_KEY": key}, AWKWARD)
            assert got == {f"h{i}": keyed(key, v) for i, v in enumerate(AWKWARD)}, key
    # the normalisation: case and outer spaces do not matter; accents and tabs do
    assert got["h0"] == got["h1"] == keyed(key, "ann.lee1@example.com")
    assert got["h3"] != keyed(key, "émile ünal")
    assert got["h2"] != keyed(key, "tabbed")


@pytest.mark.spark
@pytest.mark.slow
def test_hash_pii_on_spark_is_the_same_hmac(tmp_path):
    pytest.importorskip("pyspark")
    env = {
        "WAREHOUSE_TARGET": "spark",
        "SPARK_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "SPARK_METASTORE_DIR": str(tmp_path / "metastore"),
        "SPARK_SHUFFLE_PARTITIONS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    got = _show(tmp_path, env, AWKWARD)
    assert got == {f"h{i}": keyed(TEST_PII_HASH_KEY, v) for i, v in enumerate(AWKWARD)}


# ---------------------------------------------------------------- the built customer models
@dataclass
class Built:
    engine: str
    work: Path
    env: dict[str, str]
    query: Callable[[str], list[tuple]]
    output: str


def _customers_only(landing: Path) -> list:
    return discover(landing, ["customers"])


def _build_customer_models(work: Path, env: dict[str, str]) -> str:
    built = run_dbt(work, env, "run", "--select", *CUSTOMER_MODELS)
    assert built.returncode == 0, built.stdout[-6000:]
    return built.stdout


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("pii_sample") / "landing"
    shutil.copytree(ROOT / "sample_data", landing)
    return landing


@pytest.fixture(scope="module")
def duckdb_built(sample_landing, tmp_path_factory) -> Built:
    """bronze.customers of the 14 sample days in DuckDB, and the customer models built on it."""
    import duckdb

    from ingestion.backends.duckdb import DuckDBBackend

    work = tmp_path_factory.mktemp("pii_duckdb")
    env = _duckdb_env(work)
    with DuckDBBackend(Path(env["DUCKDB_PATH"])) as backend:
        assert not load_files(backend, _customers_only(sample_landing)).failed
    output = _build_customer_models(work, env)

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as con:
            return con.execute(sql).fetchall()

    return Built("duckdb", work, env, query, output)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def built(request, sample_landing, tmp_path_factory) -> Iterator[Built]:
    """The same on each engine (DuckDB's is the fixture above)."""
    if request.param == "duckdb":
        yield request.getfixturevalue("duckdb_built")
        return
    import psycopg

    from ingestion.backends.postgres import PostgresBackend

    work = tmp_path_factory.mktemp("pii_postgres")
    with _postgres_env() as env:
        with PostgresBackend("bronze", PostgresBackend.conninfo(env)) as backend:
            assert not load_files(backend, _customers_only(sample_landing)).failed
        output = _build_customer_models(work, env)

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(PostgresBackend.conninfo(env), autocommit=True) as conn:
                return conn.execute(sql).fetchall()

        yield Built("postgres", work, env, query, output)


def _staged_with_clear_values(built: Built, relation: str) -> list[tuple]:
    """(hashes..., clear values...) of each staged row, joined back to its bronze line."""
    hashes = ", ".join(f"s.{c}_hash" for c in HASHED)
    clear = ", ".join(f"b.{c}" for c in HASHED)
    return built.query(
        f"select {hashes}, {clear} from {relation} as s "
        "inner join bronze.customers as b "
        "on b._source_file = s.source_file and b._source_line = s.source_line"
    )


@pytest.mark.parametrize("relation", HASHED_RELATIONS)
def test_every_staged_hash_is_the_hmac_of_its_bronze_value(built, relation):
    rows = _staged_with_clear_values(built, relation)
    assert len(rows) == built.query(f"select count(*) from {relation}")[0][0] > 100
    n = len(HASHED)
    wrong = [
        (HASHED[i], row[n + i])
        for row in rows
        for i in range(n)
        if row[i] != keyed(TEST_PII_HASH_KEY, row[n + i])
    ]
    assert wrong == []


def test_duckdb_keeps_comments_and_skips_grants_quietly(duckdb_built):
    manifest = json.loads((duckdb_built.work / "target" / "manifest.json").read_text())
    node = next(n for n in manifest["nodes"].values() if n.get("name") == "dim_customer")
    assert node["config"]["grants"] == {"select": ["analytics_reader"]}
    comment = duckdb_built.query(
        "select comment from duckdb_tables() where schema_name = 'marts' "
        "and table_name = 'dim_customer'"
    )
    assert comment == [(node["description"],)]
    column = duckdb_built.query(
        "select comment from duckdb_columns() where schema_name = 'marts' "
        "and table_name = 'dim_customer' and column_name = 'email_hash'"
    )
    assert column == [(node["columns"]["email_hash"]["description"],)]
    assert "Grants for relations are not supported" not in duckdb_built.output


# ------------------------------------------------------------------------ the attack
def _pools():
    from data_generator.simulate import Pools

    return Pools(SAMPLE_SEED)


UNKEYED = (hashlib.sha256, hashlib.md5, hashlib.sha1, hashlib.sha512)
GUESSED_KEYS = (b"", b"secret", bytes(32), bytes.fromhex("00" * 64))


def _unkeyed_dictionary(candidates: set[str]) -> dict[str, str]:
    """Every unkeyed digest (and HMAC under guessed keys) of every candidate, raw and normalised."""
    table: dict[str, str] = {}
    for value in candidates:
        for text in {value, normalise(value), value.lower()}:
            data = text.encode()
            for algorithm in UNKEYED:
                table[algorithm(data).hexdigest()] = value
            for guess in GUESSED_KEYS:
                table[hmac.new(guess, data, hashlib.sha256).hexdigest()] = value
    return table


def _keyed_dictionary(candidates: set[str], key_hex: str) -> dict[str, str]:
    return {keyed(key_hex, value): value for value in candidates}


def _staged(built: Built) -> list[dict]:
    """The hashes of each customer's current version (one row per customer)."""
    columns = ["customer_id", *(f"{c}_hash" for c in HASHED)]
    rows = built.query(
        f"select {', '.join(columns)} from intermediate.int_customer_versions where is_current"
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _recovered(rows: list[dict], column: str, dictionary: dict[str, str]) -> int:
    return sum(1 for row in rows if row[column] in dictionary)


def test_a_dictionary_of_the_generators_pools_recovers_nothing_without_the_key(duckdb_built):
    pools = _pools()
    rows = _staged(duckdb_built)
    names = set(pools.first_names) | set(pools.last_names)
    for column, candidates in (
        ("first_name_hash", names),
        ("last_name_hash", names),
        ("street_address_hash", set(pools.streets)),
    ):
        assert _recovered(rows, column, _unkeyed_dictionary(candidates)) == 0, column
        # the same dictionary holding the key recovers every row: the attack itself works
        assert _recovered(rows, column, _keyed_dictionary(candidates, TEST_PII_HASH_KEY)) == len(
            rows
        ), column
    # emails: first.last<customer_id>@domain, from the names the keyed attack recovered
    first = _keyed_dictionary(set(pools.first_names), TEST_PII_HASH_KEY)
    last = _keyed_dictionary(set(pools.last_names), TEST_PII_HASH_KEY)
    found = 0
    for row in rows:
        f, la = first[row["first_name_hash"]], last[row["last_name_hash"]]
        guesses = {f"{f}.{la}{row['customer_id']}@{d}".lower() for d in EMAIL_DOMAINS}
        found += row["email_hash"] in _keyed_dictionary(guesses, TEST_PII_HASH_KEY)
    assert found == len(rows)


def _email_space(customer_id: int) -> Iterator[bytes]:
    """Every email the generator can give ``customer_id``: first.last<id>@domain."""
    pools = _pools()
    for f in pools.first_names:
        for la in pools.last_names:
            stem = f"{f}.{la}{customer_id}@".lower()
            for domain in EMAIL_DOMAINS:
                yield (stem + domain).encode()


def _brute_force(target: str, customer_id: int, digest: Callable[[bytes], str]) -> bytes | None:
    return next((e for e in _email_space(customer_id) if digest(e) == target), None)


def _hmac_digest(key_hex: str) -> Callable[[bytes], str]:
    """HMAC-SHA256 under the key, with its padded states computed once (the attacker's fast path)."""
    key = bytes.fromhex(key_hex).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(message: bytes) -> str:
        i, o = inner.copy(), outer.copy()
        i.update(message)
        o.update(i.digest())
        return o.hexdigest()

    return digest


def test_brute_forcing_dim_customer_emails_needs_the_key(duckdb_built):
    """dim_customer shows customer_id next to email_hash: the attacker tries every
    first.last<id>@domain the pools allow (about 417,000 per customer)."""
    rows = duckdb_built.query(
        "select d.customer_id, d.email_hash, b.email from marts.dim_customer as d "
        "inner join bronze.customers as b on b.customer_id = d.customer_id "
        "where d.is_current order by d.customer_id limit 2"
    )
    assert len(rows) == 2
    for customer_id, email_hash, email in rows:
        assert len(email_hash) == 64
        # the unkeyed sha256 staging held before (the finding) falls to this search
        old = hashlib.sha256(email.encode()).hexdigest()
        assert _brute_force(old, customer_id, lambda m: hashlib.sha256(m).hexdigest())
        # the keyed hash does not, by any unkeyed digest
        for algorithm in (hashlib.sha256, hashlib.md5):
            assert (
                _brute_force(email_hash, customer_id, lambda m, a=algorithm: a(m).hexdigest())
                is None
            )
        # with the key, it does
        assert (
            _brute_force(email_hash, customer_id, _hmac_digest(TEST_PII_HASH_KEY)) == email.encode()
        )


# ---------------------------------------------------------------------------- the key
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "PII_HASH_KEY is not set: the staging models hash personal data"),
        ("ab" * 16, "PII_HASH_KEY must be 64 to 128 hexadecimal characters"),
    ],
)
def test_dbt_refuses_to_hash_without_a_valid_key_and_never_echoes_it(value, message, tmp_path):
    env = {**_duckdb_env(tmp_path), "PII_HASH_KEY": value}
    done = run_dbt(tmp_path, env, "show", "--inline", "select {{ hash_pii(\"'x'\") }} as h")
    assert done.returncode != 0
    assert message in done.stdout
    if value:
        assert value not in done.stdout + done.stderr
        assert value not in (tmp_path / "logs" / "dbt.log").read_text()


def test_parsing_needs_no_key_and_keeps_none(tmp_path):
    """Parsing (the manifest Cosmos renders from) never reads the key: a malformed one, which any
    reading would refuse, passes, and no file written holds it."""
    key = "zz-no-key-is-read-while-parsing-" * 2
    parsed = run_dbt(tmp_path, {**_duckdb_env(tmp_path), "PII_HASH_KEY": key}, "parse")
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in written)
    assert [p for p in written if key.encode() in p.read_bytes()] == []


def test_a_new_key_reaches_existing_rows_only_with_a_full_refresh(duckdb_built, tmp_path):
    import duckdb

    (tmp_path / "rotate").mkdir()
    shutil.copy(duckdb_built.work / "w.duckdb", tmp_path / "rotate" / "w.duckdb")
    env = {**_duckdb_env(tmp_path / "rotate"), "PII_HASH_KEY": KEYS[1]}

    def hashed_with() -> dict[str, int]:
        """How many staged and dim_customer emails are the hash of their email under each key."""
        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as con:
            rows = con.execute(
                "select s.email_hash, b.email from staging.stg_bronze__customer_versions as s "
                "inner join bronze.customers as b on b._source_file = s.source_file "
                "and b._source_line = s.source_line "
                "union all "
                "select d.email_hash, b.email from marts.dim_customer as d "
                "inner join intermediate.int_customer_versions as v "
                "on v.customer_id = d.customer_id and v.valid_from = d.valid_from "
                "inner join bronze.customers as b on b._source_file = v.source_file "
                "and b._source_line = v.source_line"
            ).fetchall()
        return {
            "old": sum(h == keyed(TEST_PII_HASH_KEY, e) for h, e in rows),
            "new": sum(h == keyed(KEYS[1], e) for h, e in rows),
            "rows": len(rows),
        }

    before = hashed_with()
    assert before["old"] == before["rows"] > 100
    done = run_dbt(tmp_path / "rotate", env, "run", "--select", *CUSTOMER_MODELS)
    assert done.returncode == 0, done.stdout[-3000:]
    assert hashed_with() == before  # incremental: the rows already there keep the old key's hash
    done = run_dbt(tmp_path / "rotate", env, "run", "--full-refresh", "--select", *CUSTOMER_MODELS)
    assert done.returncode == 0, done.stdout[-3000:]
    assert hashed_with() == {"old": 0, "new": before["rows"], "rows": before["rows"]}


def test_make_run_creates_a_local_key_once_and_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PII_HASH_KEY"}
    env.update({"PLATFORM_LOCAL_DIR": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "airflow")})

    def pii_key(environ: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "orchestration", "pii-key"],
            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip

    first, second = pii_key(env), pii_key(env)
    path = tmp_path / "pii_hash_key"
    key = path.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.stdout.strip() == second.stdout.strip() == key
    assert first.stderr.strip().splitlines() == [
        f"PII_HASH_KEY is not set: created a local key in {path} (keep it: a new key changes "
        "every personal-data hash; see README.md, Security)"
    ]
    assert second.stderr.strip() == ""
    # a key in the environment wins, and no file is made for it
    other = tmp_path / "other"
    given = pii_key({**env, "PLATFORM_LOCAL_DIR": str(other), "PII_HASH_KEY": KEYS[1]})
    assert given.stdout.strip() == KEYS[1]
    assert not (other / "pii_hash_key").exists()


REMOTE = {
    "snowflake": (
        {
            "SNOWFLAKE_ACCOUNT": "dummy",
            "SNOWFLAKE_USER": "dummy",
            "SNOWFLAKE_PASSWORD": "dummy",
            "SNOWFLAKE_ROLE": "dummy",
            "SNOWFLAKE_WAREHOUSE": "dummy",
            "SNOWFLAKE_DATABASE": "dummy",
        },
        ("sha2_binary(to_binary('{inner}', 'HEX')", "sha2(to_binary('{outer}', 'HEX')"),
    ),
    "databricks": (
        {
            "DATABRICKS_HOST": "dummy.cloud.databricks.com",
            "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/dummy",
            "DATABRICKS_TOKEN": "dummy-token",
        },
        ("sha2(concat(unhex('{inner}')", "sha2(concat(unhex('{outer}')"),
    ),
}


@pytest.mark.parametrize("target", sorted(REMOTE))
def test_remote_engines_compile_the_same_hmac_with_their_own_functions(target, tmp_path):
    """Snowflake and Databricks are out of reach: their hash_pii is compiled (nothing connects)
    and must use the pads of the key (the same construction as the engines tested above)."""
    pytest.importorskip(f"dbt.adapters.{target}")
    dummy, expected = REMOTE[target]
    env = {**dummy, "WAREHOUSE_TARGET": target}
    done = run_dbt(
        tmp_path, env, "compile", "--no-populate-cache", "--inline",
        "select {{ hash_pii('email') }} as email_hash from customers",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    key = bytes.fromhex(TEST_PII_HASH_KEY).ljust(64, b"\0")
    pads = {
        "inner": bytes(b ^ 0x36 for b in key).hex(),
        "outer": bytes(b ^ 0x5C for b in key).hex(),
    }
    for fragment in expected:
        assert fragment.format(**pads) in done.stdout, fragment
    assert "translate(cast(email as" in done.stdout
