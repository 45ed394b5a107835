"""``make dbt`` (``python -m orchestration dbt ...``): dbt on the local warehouse with the
pipeline's environment, and one clear line instead of dbt's traceback when there is no
warehouse yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_TARGET", "DUCKDB_PATH")}
    # a private local dir: nothing here may make a key or a warehouse in the checkout
    environ.update(PLATFORM_LOCAL_DIR=str(tmp_path / "local"), **env)
    return subprocess.run(
        [sys.executable, "-m", "orchestration", "dbt", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_warehouse_dbt_says_run_make_run_first_and_exits_2(tmp_path):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    done = _run(tmp_path, "build", "--select", "fct_orders", DUCKDB_PATH=str(missing))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"no warehouse at {missing}: run make run first"]
    assert not missing.exists(), "no empty warehouse is made"
    assert not (tmp_path / "local").exists(), "no key is made for a command that did not run"


def test_dbt_gets_the_pipeline_environment_and_every_argument(tmp_path, monkeypatch):
    import orchestration.__main__ as cli
    from platform_core.paths import DBT_PROJECT

    (tmp_path / "warehouse.duckdb").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUCKDB_PATH", "warehouse.duckdb")  # relative: made absolute for dbt
    monkeypatch.setenv("PII_HASH_KEY", "ab" * 32)
    monkeypatch.delenv("WAREHOUSE_TARGET", raising=False)
    seen = {}

    def fake_run(cmd, cwd, env, check):
        seen.update(cmd=cmd, cwd=cwd, env=env)
        return subprocess.CompletedProcess(cmd, 7)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert cli.main(["dbt", "build", "--select", "fct_orders", "--vars", "{a: 1}"]) == 7
    assert Path(seen["cmd"][0]).name == "dbt"
    assert seen["cmd"][1:] == ["build", "--select", "fct_orders", "--vars", "{a: 1}"]
    assert Path(seen["cwd"]) == DBT_PROJECT
    assert seen["env"]["DUCKDB_PATH"] == str(tmp_path / "warehouse.duckdb")
    assert seen["env"]["PII_HASH_KEY"] == "ab" * 32
    assert Path(seen["env"]["DBT_PROFILES_DIR"]) == DBT_PROJECT
    assert seen["env"]["WAREHOUSE_TARGET"] == "duckdb"
