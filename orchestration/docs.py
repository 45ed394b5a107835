"""``make docs`` (``python -m orchestration.docs``): the dbt docs, the Great Expectations Data Docs
and the MLflow UI on 127.0.0.1, in one command; Ctrl-C (or SIGTERM) stops all of it.

- ``http://DOCS_HOST:DOCS_PORT/dbt/``: the dbt docs, generated first (``dbt docs generate`` on
  the warehouse ``WAREHOUSE_TARGET`` names, into ``<PLATFORM_LOCAL_DIR or .local>/docs/dbt``;
  ``--no-generate`` serves the last ones);
- ``http://DOCS_HOST:DOCS_PORT/data-docs/``: the Data Docs the quality checks build
  (``QUALITY_DATA_DOCS_DIR``);
- ``http://DOCS_HOST:MLFLOW_UI_PORT/``: the MLflow UI over the tracking store the ML package uses
  (``MLFLOW_TRACKING_URI``), one worker.

Defaults: ``127.0.0.1``, ports ``8090`` and ``8091`` (:mod:`quality.settings`, where the alert
links are made from the same values: ``DOCS_BASE_URL`` and ``MLFLOW_UI_URL`` when people reach
these pages at another address). A page that is not there yet says why (e.g. dbt's own error
when the docs could not be generated) instead of a bare 404.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from platform_core.paths import local_dir
from platform_core.settings import current

REPO = Path(__file__).resolve().parent.parent
ROUTES = {"dbt": "dbt docs", "data-docs": "Data Docs"}
MLFLOW_START_SECONDS = 120


def dbt_docs_dir() -> Path:
    return (current().get("DOCS_DBT_DIR") or local_dir() / "docs" / "dbt").resolve()


@dataclass
class Site:
    """What is served where, and why a part is missing (shown on its page)."""

    host: str
    port: int
    roots: dict[str, Path]
    problems: dict[str, str] = field(default_factory=dict)
    mlflow_url: str | None = None

    def url(self, route: str = "") -> str:
        return f"http://{self.host}:{self.port}/{route}"


# --------------------------------------------------------------------------- the static site
class _Handler(SimpleHTTPRequestHandler):
    """Serves ``/dbt/`` and ``/data-docs/`` from their directories and an index at ``/``."""

    site: Site

    def __init__(self, *args, site: Site, **kwargs) -> None:
        self.site = site
        super().__init__(*args, directory=str(REPO), **kwargs)

    def _route(self) -> tuple[str, str]:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        head, _, rest = path.lstrip("/").partition("/")
        return head, rest

    def translate_path(self, path: str) -> str:
        route, rest = self._route()
        self.directory = str(self.site.roots.get(route, "/nonexistent"))
        return super().translate_path("/" + rest)

    def do_GET(self) -> None:
        route, _ = self._route()
        if route == "" or route == "index.html":
            return self._page(200, self._index())
        if route == "mlflow" and self.site.mlflow_url:
            self.send_response(302)
            self.send_header("Location", self.site.mlflow_url)
            self.end_headers()
            return None
        if route in ROUTES and not (self.site.roots[route] / "index.html").is_file():
            return self._page(404, self._missing(route))
        if route not in ROUTES:
            return self._page(404, f"<p>Nothing at {html.escape(self.path)}.</p>" + self._index())
        return super().do_GET()

    def do_HEAD(self) -> None:
        route, _ = self._route()
        if route in ROUTES and (self.site.roots[route] / "index.html").is_file():
            return super().do_HEAD()
        self.send_response(200 if route == "" else 404)
        self.end_headers()
        return None

    def _missing(self, route: str) -> str:
        reason = self.site.problems.get(route) or (
            f"{self.site.roots[route]} has no index.html yet"
        )
        return f"<h1>{ROUTES[route]} not available</h1><pre>{html.escape(reason)}</pre>"

    def _index(self) -> str:
        items = [
            f'<li><a href="/{route}/">{label}</a> ({html.escape(str(self.site.roots[route]))})</li>'
            for route, label in ROUTES.items()
        ]
        if self.site.mlflow_url:
            items.append(f'<li><a href="{self.site.mlflow_url}">MLflow UI</a></li>')
        return "<h1>make docs</h1><ul>" + "".join(items) + "</ul>"

    def _page(self, status: int, body: str) -> None:
        data = f"<!doctype html><meta charset='utf-8'><title>docs</title>{body}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # one line per request is noise here
        pass


def serve_site(site: Site) -> ThreadingHTTPServer:
    """Start the static site in a thread; return the server (``shutdown()`` stops it)."""
    server = ThreadingHTTPServer((site.host, site.port), partial(_Handler, site=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --------------------------------------------------------------------------- the parts
def generate_dbt_docs(target_path: Path) -> str | None:
    """``dbt docs generate`` into ``target_path``; None when it worked, else dbt's error."""
    from .tasks import dbt_command

    target_path.mkdir(parents=True, exist_ok=True)
    try:
        dbt_command(
            current().target,
            "docs",
            "generate",
            target_path=target_path,
        )
    except RuntimeError as err:
        return str(err)
    return None


def start_mlflow(host: str, port: int) -> subprocess.Popen:
    """The MLflow UI (``mlflow server``, one worker) in its own process group."""
    from ml.config import artifact_location, tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", uri,
        "--default-artifact-root", artifact_location(),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_for_port(host: str, port: int, proc: subprocess.Popen, seconds: float) -> str | None:
    """None once ``host:port`` accepts connections; the process's error if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join((proc.stderr.read() if proc.stderr else "").strip().splitlines()[-8:])
            return f"exited with {proc.returncode}:\n{tail}"
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return None
        time.sleep(0.5)
    return f"did not answer on {host}:{port} within {seconds:.0f}s"


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a process we started, and its group (MLflow's workers), by its id."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --------------------------------------------------------------------------- the command
def parser() -> argparse.ArgumentParser:
    from quality.settings import docs_host, docs_port, mlflow_ui_port

    p = argparse.ArgumentParser(
        prog="python -m orchestration.docs", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--host", default=docs_host(), help="interface (default: $DOCS_HOST or 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=docs_port(), help="dbt docs + Data Docs port")
    p.add_argument("--mlflow-port", type=int, default=mlflow_ui_port(), help="MLflow UI port")
    p.add_argument("--no-generate", action="store_true", help="serve the last dbt docs as they are")
    p.add_argument("--no-mlflow", action="store_true", help="do not start the MLflow UI")
    return p


def main(argv: list[str] | None = None) -> int:
    from quality.settings import data_docs_dir, docs_base_url

    args = parser().parse_args(argv)
    began = time.perf_counter()
    site = Site(args.host, args.port, {"dbt": dbt_docs_dir(), "data-docs": data_docs_dir()})
    if not args.no_generate:
        print(f"make docs: dbt docs generate -> {site.roots['dbt']} ...", flush=True)
        problem = generate_dbt_docs(site.roots["dbt"])
        if problem:
            site.problems["dbt"] = problem
            print(f"make docs: dbt docs could not be generated: {problem}", file=sys.stderr)
    if not (site.roots["data-docs"] / "index.html").is_file():
        site.problems["data-docs"] = (
            f"no Data Docs in {site.roots['data-docs']} yet: run `make run` or "
            "`python -m quality check --layer bronze`"
        )
    try:
        server = serve_site(site)
    except OSError as err:
        print(f"make docs: cannot listen on {args.host}:{args.port}: {err} (set DOCS_PORT)",
              file=sys.stderr)  # fmt: skip
        return 1
    mlflow = None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        if not args.no_mlflow:
            mlflow = start_mlflow(args.host, args.mlflow_port)
            problem = wait_for_port(args.host, args.mlflow_port, mlflow, MLFLOW_START_SECONDS)
            if problem:
                print(f"make docs: the MLflow UI {problem}", file=sys.stderr)
                stop(mlflow)
                mlflow = None
            else:
                site.mlflow_url = f"http://{args.host}:{args.mlflow_port}/"
        lines = [
            f"  dbt docs   {site.url('dbt/')}" + ("  (not generated, see the page)" if "dbt" in site.problems else ""),
            f"  Data Docs  {site.url('data-docs/')}" + ("  (none yet, see the page)" if "data-docs" in site.problems else ""),
            f"  MLflow UI  {site.mlflow_url or 'not running'}",
        ]  # fmt: skip
        print(f"make docs: ready in {time.perf_counter() - began:.0f}s (Ctrl-C stops)")
        print("\n".join(lines))
        if docs_base_url() != site.url().rstrip("/"):
            print(f"  alert links use DOCS_BASE_URL={docs_base_url()}")
        sys.stdout.flush()
        while not stopping.wait(1):
            if mlflow is not None and mlflow.poll() is not None:
                print(
                    f"make docs: the MLflow UI stopped (exit {mlflow.returncode})", file=sys.stderr
                )
                mlflow = None
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        stop(mlflow)
    print("make docs: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
