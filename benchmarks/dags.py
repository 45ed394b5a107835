"""DAG file parse times: how long Airflow's DAG processor spends on each file (median of 5).

Each file is parsed in a fresh ``DagBag`` inside one warm process (Airflow and the packages the
DAGs import already loaded, as in the DAG processor), with the pre-built dbt manifest present.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = r"""
import json, statistics, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
folder = Path(sys.argv[1])
sys.path.insert(0, str(folder))
out = {}
for path in sorted(folder.glob("*.py")):
    DagBag(dag_folder=str(path))  # warm: first import of the modules it uses
    times = []
    for _ in range(5):
        began = time.perf_counter()
        bag = DagBag(dag_folder=str(path))
        times.append(time.perf_counter() - began)
    out[path.name] = (statistics.median(times), len(bag.dags), sum(len(d.tasks) for d in bag.dags.values()))
print(json.dumps(out))
"""


def run(full: bool = True) -> list[tuple[str, str, str]]:
    from orchestration.home import airflow_env

    with tempfile.TemporaryDirectory(prefix="bench-dags-") as tmp:
        env = airflow_env({**__import__("os").environ, "AIRFLOW_HOME": f"{tmp}/airflow"})
        manifest = ROOT / "dbt_project" / "target" / "manifest.json"
        if not manifest.exists():
            subprocess.run(
                [sys.executable, "-m", "orchestration", "manifest"],
                env=env,
                check=True,
                capture_output=True,
            )
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(ROOT / "dags")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return [
        (f"parse dags/{name}", f"{seconds * 1000:.0f} ms", f"{dags} DAG(s), {tasks} tasks")
        for name, (seconds, dags, tasks) in times.items()
        if dags
    ]
