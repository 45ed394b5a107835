"""One table of settings (platform_core/settings.py): the generated files match it, the code
reads no variable it does not list, a wrong value names its variable, and every package computes
the same defaults from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from platform_core import settings as S

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "platform_core",
    "data_generator",
    "ingestion",
    "quality",
    "ml",
    "orchestration",
    "bi",
    "metrics_api",
    "benchmarks",
    "dags",
    "docker",
)
_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
#: Upper-case strings in the code that are not this platform's settings: other tools' own
#: variables (dbt, Airflow, proxies), OS flags, error codes and SQL constants.
NOT_SETTINGS = {
    "DBT_PROFILES_DIR",
    "DBT_SEND_ANONYMOUS_USAGE_STATS",
    "CHECK_NAMES",
    "POSTGRES_USER",  # the postgres image's own, in docker-compose.yml
    "NO_PROXY",
    "PYSPARK_SUBMIT_ARGS",  # pyspark's own: the bench's Spark driver heap (benchmarks/scale_spark.py)
    "O_CLOEXEC",
    "O_NOFOLLOW",
    "DAY_OF_FILE",
    "ROW_TABLES",
    "TIMESTAMP_US",
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
}
_OTHERS = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_PIP_", "MLFLOW_TRACKING_")


def _code_files():
    for package in PACKAGES:
        yield from (REPO / package).rglob("*.py")


def _literals(path: Path):
    """Upper-case names in string literals, but for the names the file defines or imports at
    module level (an ``__all__`` lists them as strings)."""
    tree = ast.parse(path.read_text(), str(path))
    own = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    } | {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and _NAME.fullmatch(text) and text not in own:
            yield text


def _read_in_yaml_and_sql() -> set[str]:
    names = set()
    for path in [*(REPO / "dbt_project").rglob("*.yml"), *(REPO / "dbt_project").rglob("*.sql")]:
        if "target" in path.relative_to(REPO / "dbt_project").parts[:1]:
            continue
        names |= set(re.findall(r"env_var\(\s*['\"]([A-Z][A-Z0-9_]+)['\"]", path.read_text()))
    compose = (REPO / "docker-compose.yml").read_text()
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", compose))
    return names


def test_env_example_and_the_readme_table_are_generated_from_the_table():
    assert (REPO / ".env.example").read_text() == S.env_example(), (
        ".env.example is stale: run python -m platform_core.settings write"
    )
    readme = (REPO / "README.md").read_text()
    assert S.readme_with_table(readme) == readme, (
        "README's settings table is stale: run python -m platform_core.settings write"
    )
    for var in S.VARIABLES:
        assert f"`{var.name}`" in readme
        assert (f"\n{var.name}=" in S.env_example()) is not var.internal


def test_every_variable_the_code_reads_is_in_the_table():
    unknown = {}
    for path in _code_files():
        for name in _literals(path):
            if name in S.BY_NAME or name in NOT_SETTINGS or name.startswith(_OTHERS):
                continue
            unknown.setdefault(name, str(path.relative_to(REPO)))
    for name in _read_in_yaml_and_sql():
        if name not in S.BY_NAME and not name.startswith(_OTHERS) and name not in NOT_SETTINGS:
            unknown.setdefault(name, "dbt_project or docker-compose.yml")
    assert not unknown, f"read but not in platform_core/settings.py: {unknown}"


def test_every_listed_variable_is_read_somewhere():
    """A setting nothing reads is a stale sentence in .env.example and the README."""
    text = "\n".join(
        p.read_text()
        for p in [
            *_code_files(),
            REPO / "docker-compose.yml",
            REPO / "Makefile",
            *(REPO / "dbt_project").glob("*.yml"),
            *(REPO / "dbt_project" / "macros").glob("*.sql"),
            *(REPO / "dbt_project" / "models").rglob("*.yml"),
        ]
        if p.name != "settings.py" or p.parent.name != "platform_core"
    )
    unread = [
        v.name
        for v in S.VARIABLES
        if not re.search(rf"(?<![A-Z_]){re.escape(v.name)}(?![A-Z0-9_])", text)
        and not v.name.startswith(("SNOWFLAKE_", "DATABRICKS_", "ML_DRIFT_LIMIT_"))  # prefixes
    ]
    assert not unread, f"listed in platform_core/settings.py but read nowhere: {unread}"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PGPORT", "99999", "is not a TCP port"),
        ("PIPELINE_START", "2026-13-01", "is not a date"),
        ("INGEST_CATCHUP", "maybe", "use one of true, false"),
        ("WAREHOUSE_TARGET", "oracle", "use one of duckdb, postgres, spark"),
        ("GENERATOR_SEED", "forty-two", "is not a whole number"),
        ("GENERATOR_SCALE", "big", "is not a number"),
        ("DBT_DATA_TESTS_SCOPE", "some", "use one of recent, all"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable(name, value, says):
    with pytest.raises(S.SettingError) as error:
        S.current({name: value}).get(name)
    message = str(error.value)
    assert message.startswith(f"{name}={value!r}") and says in message and "\n" not in message


def test_set_values_are_typed_and_unset_ones_take_the_one_default():
    settings = S.current(
        {"WAREHOUSE_TARGET": " Postgres ", "GENERATOR_SEED": "7", "INGEST_CATCHUP": "yes"}
    )
    assert settings.target == "postgres"
    assert settings.get("GENERATOR_SEED") == 7 and settings.get("INGEST_CATCHUP") is True
    defaults = S.current({})
    assert defaults.target == "duckdb" and defaults.get("GENERATOR_SEED") == 42
    assert defaults.get("PIPELINE_START").isoformat() == "2026-01-01"
    assert S.current({}) is defaults  # read once per environment


def test_every_package_derives_the_same_paths_from_one_local_folder(tmp_path, monkeypatch):
    """``PLATFORM_LOCAL_DIR`` alone moves the warehouse for the loader, dbt, the local Airflow,
    the metrics API, the extracts and MLflow alike (each used to write its own default)."""
    for name in (
        "DUCKDB_PATH",
        "AIRFLOW_HOME",
        "BI_EXTRACTS_DIR",
        "MARTS_BUILD_FILE",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_ARTIFACT_LOCATION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLATFORM_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("PII_HASH_KEY", "ab" * 32)
    from bi.extract import default_out_dir
    from ingestion.config import Settings
    from metrics_api.settings import ApiSettings
    from ml.config import artifact_location, tracking_uri
    from orchestration.home import airflow_env
    from platform_core.dbt_runner import dbt_env

    warehouse = tmp_path / "warehouse.duckdb"
    assert Settings.from_env().duckdb_path == warehouse
    assert Path(dbt_env("duckdb")["DUCKDB_PATH"]) == warehouse
    assert Path(airflow_env()["DUCKDB_PATH"]) == warehouse
    assert Path(airflow_env()["AIRFLOW_HOME"]) == tmp_path / "airflow"
    assert ApiSettings.from_env().duckdb_path == warehouse
    assert ApiSettings.from_env().build_file == tmp_path / "marts_build.json"
    assert default_out_dir() == tmp_path / "bi" / "extracts"
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert artifact_location() == (tmp_path / "mlflow" / "artifacts").as_uri()


def _literal(node) -> bool:
    return isinstance(node, ast.Constant) and node.value not in ("", None, 0, False)


def _defaults_given(path: Path):
    """``(line, name)`` where ``path`` writes a literal default of its own for a listed
    variable: ``env.get("NAME", "8080")``, ``env.get("NAME") or "8080"``, ``f(env, "NAME", 8080)``
    (an empty default is none; a computed one is named in the table's ``shown``)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            first = node.values[0]
            if isinstance(first, ast.Call) and first.args and _literal(node.values[-1]):
                name = first.args[0]
                if isinstance(name, ast.Constant) and name.value in S.BY_NAME:
                    yield node.lineno, name.value
        if isinstance(node, ast.Call):
            args = [a for a in node.args if not isinstance(a, ast.Name)]  # skip env first
            named = len(args) >= 2 and isinstance(args[0], ast.Constant)
            if named and _literal(args[1]) and args[0].value in S.BY_NAME:
                yield node.lineno, args[0].value


def test_no_package_writes_a_default_of_its_own_for_a_listed_variable():
    found = [
        f"{path.relative_to(REPO)}:{line} {name}"
        for path in _code_files()
        if path != REPO / "platform_core" / "settings.py"
        for line, name in _defaults_given(path)
    ]
    assert not found, "defaults written outside platform_core/settings.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DUCKDB_MEMORY_LIMIT", "lots", "is not an amount of memory"),
        ("DUCKDB_MEMORY_LIMIT", "1GB'; drop table x; --", "is not an amount of memory"),
        ("DUCKDB_THREADS", "0", "at least 1 thread"),
        ("DUCKDB_THREADS", "two", "is not a whole number"),
    ],
)
def test_a_wrong_duckdb_resource_setting_is_one_line(name, value, says):
    with pytest.raises(S.SettingError) as error:
        S.current({name: value}).duckdb_config  # noqa: B018 (the property validates)
    message = str(error.value)
    assert message.startswith(f"{name}=") and says in message and "\n" not in message


RESOURCES = (
    "select current_setting('memory_limit') as m, current_setting('threads') as t, "
    "current_setting('temp_directory') as d"
)


DBT_RESOURCES = RESOURCES + ", current_setting('disabled_optimizers') as o"


def _duckdb_resources(con) -> tuple:
    return con.execute(RESOURCES).fetchone()


def test_duckdb_memory_threads_and_spill_folder_reach_the_loader_the_readers_and_dbt(
    tmp_path, monkeypatch
):
    """DUCKDB_MEMORY_LIMIT, DUCKDB_THREADS and DUCKDB_TEMP_DIRECTORY set the loader's, the
    quality/ML warehouse's and dbt's DuckDB alike (so a scale run spills instead of dying);
    unset, DuckDB keeps its own defaults but spills next to the warehouse file."""
    from dbt.cli.main import dbtRunner

    from ingestion.backends import engine
    from platform_core.dbt_runner import _environment, dbt_args, dbt_env, release_warehouse

    spill = tmp_path / "spill"
    env = {
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "DUCKDB_MEMORY_LIMIT": "1GB",
        "DUCKDB_THREADS": "1",
        "DUCKDB_TEMP_DIRECTORY": str(spill),
    }
    from ingestion.config import Settings

    settings = Settings.from_env(env)
    expected = ("953.6 MiB", "1", str(spill))
    with engine("duckdb").backend(settings) as loader:
        assert tuple(map(str, _duckdb_resources(loader.con))) == expected
    wh = engine("duckdb").warehouse(settings)
    try:
        assert tuple(map(str, _duckdb_resources(wh._con))) == expected
    finally:
        wh.close()

    # dbt, in this process, with the runner's environment and profiles.yml
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with _environment(dbt_env("duckdb")):
        try:
            done = dbtRunner().invoke(
                dbt_args("duckdb", ("show", "--inline", DBT_RESOURCES), tmp_path / "target")
            )
        finally:
            release_warehouse()
    assert done.success, done.exception
    table = done.result.results[0].agate_table
    # dbt's connection options (profiles.yml), plus the optimizer it runs without
    assert tuple(map(str, table.rows[0])) == (*expected, "statistics_propagation")

    # the defaults: DuckDB's memory limit (80% of RAM), its threads, a spill folder by the file
    default = S.current({"DUCKDB_PATH": str(tmp_path / "w.duckdb")}).duckdb_config
    assert default["memory_limit"] == "80%"
    assert default["temp_directory"] == str(tmp_path / "w.duckdb.tmp")
    assert int(default["threads"]) >= 1


def test_dbt_goes_on_after_a_query_that_spilled(tmp_path, monkeypatch):
    """Under a small DUCKDB_MEMORY_LIMIT a query spills to the temp folder; the next node's
    cursor must still open. dbt-duckdb SETs its profile `settings` on every cursor, and DuckDB
    refuses to switch temp_directory once used, so the spill folder (like every DuckDB option
    of the profile) is a connection option (profiles.yml): as a setting, the scale-100 full
    build failed on the node after its first spill."""
    from dbt.cli.main import dbtRunner

    from platform_core.dbt_runner import _environment, dbt_args, dbt_env, release_warehouse

    spill = tmp_path / "spill"
    env = {
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "DUCKDB_MEMORY_LIMIT": "64MB",
        "DUCKDB_THREADS": "1",
        "DUCKDB_TEMP_DIRECTORY": str(spill),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # a hash aggregate of 20M groups (hundreds of MB) does not fit in 64 MB: it spills
    spilling = (
        "select count(*) as n from (select i % 20000000 as g, count(*) as c "
        "from range(20000000) t(i) group by g)"
    )
    used = "select count(*) as n from duckdb_temporary_files()"  # freed after the query
    with _environment(dbt_env("duckdb")):
        try:
            results = []
            for sql in (spilling, used, "select 1 as one"):
                # one process, one database: each invocation's node opens a new cursor on it
                done = dbtRunner().invoke(
                    dbt_args("duckdb", ("show", "--inline", sql), tmp_path / "target")
                )
                assert done.success, done.exception
                results.append(done.result.results[0].agate_table.rows[0][0])
                # DuckDB makes the folder on its first spill (and removes it on close)
                assert spill.is_dir(), "the aggregate did not spill: the test proves nothing"
        finally:
            release_warehouse()
    assert results == [20000000, 0, 1]
