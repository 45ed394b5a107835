"""``make airflow``: a real local Airflow (api-server, scheduler, dag-processor, triggerer).

Everything listens on 127.0.0.1; metadata lives in the SQLite database of the local Airflow home
(``.local/airflow``), the executor is LocalExecutor. Processes are started as children and
stopped by PID (``stop``), which the integration test relies on as well.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from platform_core.settings import current

from .home import AIRFLOW_BIN, api_port

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def server_env(env: dict[str, str]) -> dict[str, str]:
    """Settings the components must share: one signing secret, the execution API's URL."""
    home = Path(env["AIRFLOW_HOME"])
    secret_file = home / "local_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()
    port = api_port(env)
    out = dict(env)
    out.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secret)
    out.setdefault("AIRFLOW__API__SECRET_KEY", secret)
    out.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{port}/execution/")
    out.setdefault("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")
    out.setdefault("AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL", "10")
    out.setdefault("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "10")
    out.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    return out


def start(env: dict[str, str], components=COMPONENTS, logs: Path | None = None):
    """Start the components; returns ``{name: Popen}``. Output goes to ``logs/<name>.log``."""
    logs = logs or Path(env["AIRFLOW_HOME"]) / "logs" / "components"
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    for name in components:
        args = [AIRFLOW_BIN, name]
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", api_port(env)]
        out = (logs / f"{name}.log").open("ab")
        procs[name] = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return procs


def wait_healthy(env: dict[str, str], procs, timeout: float = 120) -> None:
    """Wait until the API server answers its health endpoint (or a component died)."""
    url = f"http://127.0.0.1:{env.get('AIRFLOW__API__PORT', '8080')}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the Airflow API server did not answer {url} within {timeout:.0f}s")


def stop(procs, grace: float = 20) -> None:
    """Stop every component by PID (its whole process group), politely then firmly."""
    for proc in procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def schedule_from_window(env: dict[str, str]) -> None:
    """Parse the DAGs into the metadata DB with the resume window before the scheduler starts.

    The DB holds the DAGs as ``make run`` last saw them (a schedule from ``PIPELINE_START``, no
    catch-up, so its next run is today): a scheduler started on that would create today's run
    before the DAG processor re-parsed the files. Re-serializing first makes Airflow recompute
    ``ingest_daily``'s next run from the window (the day after the last loaded day)."""
    from .home import airflow

    airflow(env, "dags", "reserialize")


def serve(env: dict[str, str]) -> int:
    from .home import setup
    from .resume import resume_env
    from .run import build_manifest

    # the daily schedule goes on from the day after the last loaded day, not from today
    env, window = resume_env(env)
    print(window.reason, flush=True)
    setup(env)
    schedule_from_window(env)
    build_manifest(current(env).target)
    env = server_env(env)
    procs = start(env)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        wait_healthy(env, procs)
        port = api_port(env)
        print(
            f"Airflow is up: http://127.0.0.1:{port} (logs in {env['AIRFLOW_HOME']}/logs). "
            "Ctrl-C stops it.",
            flush=True,
        )
        while all(p.poll() is None for p in procs.values()):
            time.sleep(2)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(procs)
