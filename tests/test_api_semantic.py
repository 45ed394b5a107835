"""``mf validate-configs`` (dbt-metricflow, the command the README gives) is clean on the project:
no error, in the semantics or against the warehouse, and no warning but the four MetricFlow 0.213
raises about its own rewrite of every cumulative metric (it adds a metric input and keeps the
measure; dbt-core 1.11 has no other way to write one: see dbt_project/models/semantic/_metrics.yml).
Any other warning fails. ``mf`` reads ``target/semantic_manifest.json`` under the project, so it
runs on a copy of the project, against a copy of the sample warehouse (its checks open it as dbt
does, for writing).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.api_support import ROOT, sample_warehouse  # noqa: F401 - fixture

EXPECTED_WARNINGS = {
    f"Cumulative metric '{name}' should not have both a measure and a metric as inputs. The "
    "measure will be ignored; please remove it to avoid confusion."
    for name in (
        "cumulative_net_revenue",
        "net_revenue_mtd",
        "waste_kg_trailing_7d",
        "buying_customers_trailing_28d",
    )
}


def test_mf_validate_configs_is_clean(sample_warehouse, tmp_path):  # noqa: F811
    project = tmp_path / "dbt_project"
    shutil.copytree(
        ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    env = {
        **os.environ,
        "WAREHOUSE_TARGET": "duckdb",
        "DUCKDB_PATH": str(sample_warehouse.copy(tmp_path / "wh")),
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
    }
    bin_dir = Path(sys.executable).parent
    parse = subprocess.run(
        [str(bin_dir / "dbt"), "parse", "--quiet"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert parse.returncode == 0, parse.stdout[-3000:]
    done = subprocess.run(
        [str(bin_dir / "mf"), "validate-configs", "--show-all"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    summaries = re.findall(r"\(ERRORS: (\d+), FUTURE_ERRORS: (\d+), WARNINGS: (\d+)\)", out)
    # semantics, then semantic models, dimensions, entities, measures, metrics in the warehouse
    assert len(summaries) == 6, out[-4000:]
    assert all(errors == future == "0" for errors, future, _ in summaries), summaries
    warnings = {
        " ".join(w.split()) for w in re.findall(r"WARNING: with metric `\w+`\s+-\s+(.*)", out)
    }
    assert warnings == EXPECTED_WARNINGS
    assert sum(int(w) for *_, w in summaries) == len(EXPECTED_WARNINGS)
