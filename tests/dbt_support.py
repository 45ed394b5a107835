"""Running dbt on the project from tests: one place for the command line every dbt test uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
#: The key of the keyed PII hashes in every test (tests/conftest.py puts it in the environment,
#: so each dbt run, in-process or not, has one). A test key only: nothing real is hashed with it.
TEST_PII_HASH_KEY = "7e57" * 16


def run_dbt(
    work: Path,
    env: dict[str, str],
    *args: str,
    threads: int = 4,
    timeout: int = 900,
    json_logs: bool = False,
) -> subprocess.CompletedProcess:
    """``dbt <args>`` on the project, with its target and logs under ``work`` (no clashes
    between tests running at the same time). Every test checks every row
    (``DBT_DATA_TESTS_SCOPE=all``, see dbt_project/macros/data_tests_scope.sql) unless ``env``
    says otherwise."""
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(PROJECT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_DATA_TESTS_SCOPE": "all",
        "PII_HASH_KEY": TEST_PII_HASH_KEY,
        **env,
    }
    cmd = [
        str(DBT),
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        *(["--log-format-file", "json"] if json_logs else []),
        "--threads",
        str(threads),
        "--no-version-check",
    ]
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
