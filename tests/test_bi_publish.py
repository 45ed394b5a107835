"""``python -m bi publish``: tableauserverclient against a local server that speaks the few Tableau
REST endpoints it calls (server info, sign-in with a personal access token, projects, data source
publish in one multipart request or through a chunked upload session, sign-out) and records every
call. The real client code runs unchanged, up to the wire.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest

from bi import areas
from tests.dbt_support import ROOT, run_dbt

pytestmark = pytest.mark.slow

NS = "http://tableau.com/api"
TOKEN_NAME = "bi-publisher"
TOKEN_SECRET = "pat-secret-6f1c"  # what the local server accepts; nothing real
SITE = "analytics-site"
SITE_ID = "9a8b7c6d-0000-4000-8000-000000000001"
PROJECTS = {"default": "p-default-0001", "Analytics": "p-analytics-0002"}


def _xml(body: str) -> bytes:
    return f"<?xml version='1.0' encoding='UTF-8'?><tsResponse xmlns='{NS}'>{body}</tsResponse>".encode()


def _error(code: str, summary: str, detail: str) -> bytes:
    return _xml(
        f"<error code='{code}'><summary>{summary}</summary><detail>{detail}</detail></error>"
    )


def multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart body, split by hand so no byte is reinterpreted."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    parts = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            line
            for line in head.decode().split("\r\n")
            if line.lower().startswith("content-disposition")
        )
        name = re.search(r'name="([^"]*)"', disposition).group(1)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts[name] = (filename.group(1) if filename else None, data.removesuffix(b"\r\n"))
    return parts


class Tableau:
    """The recording server: ``calls`` holds (method, path, query, auth header, parts)."""

    def __init__(self, accept_secret: str = TOKEN_SECRET, refuse_signout: bool = False):
        self.refuse_signout = refuse_signout
        self.calls: list[dict] = []
        self.uploads: dict[str, bytearray] = {}
        self.token = uuid.uuid4().hex
        self.accept_secret = accept_secret
        tableau = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type") or ""
                call = {
                    "method": self.command,
                    "path": url.path,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "auth": self.headers.get("X-Tableau-Auth"),
                    "body": body,
                    "parts": multipart(ctype, body) if ctype.startswith("multipart/") else {},
                }
                tableau.calls.append(call)
                status, reply = tableau.answer(call)
                self._reply(status, reply)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, call: dict) -> tuple[int, bytes]:
        match = re.fullmatch(r"/api/(\d+\.\d+)/(.*)", call["path"])
        if not match:
            return 404, _error("404000", "Not found", call["path"])
        route = match.group(2)
        if call["method"] == "GET" and route == "serverInfo":
            return 200, _xml(
                "<serverInfo><productVersion build='20241.24.0312'>2024.1.0</productVersion>"
                "<restApiVersion>3.22</restApiVersion></serverInfo>"
            )
        if call["method"] == "POST" and route == "auth/signin":
            credentials = ET.fromstring(call["body"]).find("credentials")
            site = credentials.find("site").get("contentUrl")
            if (
                credentials.get("personalAccessTokenName") != TOKEN_NAME
                or credentials.get("personalAccessTokenSecret") != self.accept_secret
                or site != SITE
            ):
                return 401, _error("401001", "Signin Error", "Error signing in to Tableau Server")
            return 200, _xml(
                f"<credentials token='{self.token}'><site id='{SITE_ID}' contentUrl='{SITE}'/>"
                "<user id='u-0001'/></credentials>"
            )
        if call["auth"] != self.token:
            return 401, _error(
                "401002", "Unauthorized Access", "Invalid authentication credentials"
            )
        if call["method"] == "POST" and route == "auth/signout":
            if self.refuse_signout:
                return 500, _error("500000", "Internal Server Error", "sign-out failed")
            return 204, b""
        site_route = re.fullmatch(rf"sites/{SITE_ID}/(.*)", route)
        if not site_route:
            return 404, _error("404000", "Not found", route)
        route = site_route.group(1)
        if call["method"] == "GET" and route == "projects":
            wanted = call["query"].get("filter", "")
            found = {
                name: pid
                for name, pid in PROJECTS.items()
                if not wanted.startswith("name:eq:") or wanted == f"name:eq:{name}"
            }
            items = "".join(f"<project id='{pid}' name='{n}'/>" for n, pid in found.items())
            return 200, _xml(
                f"<pagination pageNumber='1' pageSize='100' totalAvailable='{len(found)}'/>"
                f"<projects>{items}</projects>"
            )
        if call["method"] == "POST" and route == "fileUploads":
            upload = uuid.uuid4().hex
            self.uploads[upload] = bytearray()
            return 201, _xml(f"<fileUpload uploadSessionId='{upload}' fileSize='0'/>")
        upload = re.fullmatch(r"fileUploads/([0-9a-f]+)", route)
        if call["method"] == "PUT" and upload and upload.group(1) in self.uploads:
            data = self.uploads[upload.group(1)]
            data.extend(call["parts"]["tableau_file"][1])
            return 200, _xml(
                f"<fileUpload uploadSessionId='{upload.group(1)}' fileSize='{len(data) // 2**20}'/>"
            )
        if call["method"] == "POST" and route == "datasources":
            request = ET.fromstring(call["parts"]["request_payload"][1]).find("datasource")
            project = request.find("project").get("id")
            if project not in PROJECTS.values():
                return 404, _error("404005", "Resource Not Found", f"project {project}")
            return 201, _xml(
                f"<datasource id='ds-{uuid.uuid4().hex[:8]}' name='{request.get('name')}' "
                f"type='hyper'><project id='{project}'/><owner id='u-0001'/></datasource>"
            )
        return 404, _error("404000", "Not found", route)

    def __enter__(self) -> Tableau:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def tdsx_dir(tmp_path_factory) -> Path:
    """The real packaged data sources, generated from the project's manifest."""
    work = tmp_path_factory.mktemp("bi_publish")
    done = run_dbt(work, {}, "parse")
    assert done.returncode == 0, done.stdout[-3000:]
    out = work / "datasources"
    generated = subprocess.run(
        [sys.executable, "-m", "bi", "datasources", "--manifest", str(work / "target" / "manifest.json"),
         "--out", str(out), "--extracts", str(work / "no_extracts")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    return out


def publish(directory: Path, tableau_url: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TABLEAU_", "TSC_"))}
    settings = {
        "TABLEAU_SERVER_URL": tableau_url,
        "TABLEAU_SITE": SITE,
        "TABLEAU_TOKEN_NAME": TOKEN_NAME,
        "TABLEAU_TOKEN": TOKEN_SECRET,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    settings.update(env)
    settings = {k: v for k, v in settings.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "bi", "publish", "--dir", str(directory)],
        cwd=ROOT,
        env={**base, **settings},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _publishes(tableau: Tableau) -> list[dict]:
    return [
        c for c in tableau.calls if c["method"] == "POST" and c["path"].endswith("/datasources")
    ]


def test_publish_signs_in_overwrites_each_data_source_and_signs_out(tdsx_dir):
    files = sorted(tdsx_dir.glob("*.tdsx"))
    assert [f.stem for f in files] == sorted(areas.AREAS)
    with Tableau() as tableau:
        done = publish(tdsx_dir, tableau.url, TABLEAU_PROJECT="Analytics")
    assert done.returncode == 0, done.stderr
    calls = tableau.calls
    signin = calls[0]
    assert (signin["method"], signin["path"].rsplit("/", 2)[-2:]) == ("POST", ["auth", "signin"])
    assert calls[-1]["path"].endswith("/auth/signout") and calls[-1]["auth"] == tableau.token
    assert any(c["path"].endswith("/serverInfo") for c in calls)
    projects = [c for c in calls if c["path"].endswith("/projects")]
    assert projects and projects[0]["query"]["filter"] == "name:eq:Analytics"
    publishes = _publishes(tableau)
    assert len(publishes) == len(files)
    uploaded = {}
    for call in publishes:
        assert call["auth"] == tableau.token
        assert call["query"]["overwrite"] == "true"
        assert call["query"]["datasourceType"] == "tdsx"
        assert "uploadSessionId" not in call["query"]
        request = ET.fromstring(call["parts"]["request_payload"][1]).find("datasource")
        assert request.find("project").get("id") == PROJECTS["Analytics"]
        filename, data = call["parts"]["tableau_datasource"]
        assert request.get("name") == Path(filename).stem
        uploaded[filename] = data
    assert uploaded == {f.name: f.read_bytes() for f in files}
    # nothing happens outside the session: every call between sign-in and sign-out carries it
    assert all(
        c["auth"] == tableau.token for c in calls[1:] if not c["path"].endswith("serverInfo")
    )
    assert f"bi publish: {len(files)} data sources to {tableau.url}" in done.stdout
    assert TOKEN_SECRET not in done.stdout + done.stderr


def test_a_large_file_goes_through_a_chunked_upload_session(tdsx_dir, tmp_path):
    # TSC uploads in chunks from TSC_FILESIZE_LIMIT_MB on (64 at most); 0 makes every file large
    one = tmp_path / "one"
    one.mkdir()
    source = tdsx_dir / "quality.tdsx"
    (one / source.name).write_bytes(source.read_bytes())
    with Tableau() as tableau:
        done = publish(one, tableau.url, TSC_FILESIZE_LIMIT_MB="0")
    assert done.returncode == 0, done.stderr
    initiated = [
        c for c in tableau.calls if c["method"] == "POST" and c["path"].endswith("/fileUploads")
    ]
    appended = [c for c in tableau.calls if c["method"] == "PUT"]
    assert len(initiated) == 1 and len(appended) >= 1
    (publish_call,) = _publishes(tableau)
    session = publish_call["query"]["uploadSessionId"]
    assert publish_call["query"]["overwrite"] == "true"
    assert "tableau_datasource" not in publish_call["parts"]
    assert bytes(tableau.uploads[session]) == source.read_bytes()
    request = ET.fromstring(publish_call["parts"]["request_payload"][1]).find("datasource")
    assert request.get("name") == "quality"
    assert request.find("project").get("id") == PROJECTS["default"]  # TABLEAU_PROJECT unset


def test_a_refused_sign_in_is_one_line_naming_the_server(tdsx_dir):
    with Tableau(accept_secret="another-secret") as tableau:
        done = publish(tdsx_dir, tableau.url)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("bi publish: sign-in on ")
    assert tableau.url in line and "401001" in line and "Signin Error" in line
    assert TOKEN_SECRET not in done.stderr + done.stdout
    assert not _publishes(tableau)
    assert not any(c["path"].endswith("/auth/signout") for c in tableau.calls)


def test_an_unknown_project_fails_and_still_signs_out(tdsx_dir):
    with Tableau() as tableau:
        done = publish(tdsx_dir, tableau.url, TABLEAU_PROJECT="Finance")
    assert done.returncode == 1
    assert "no project named 'Finance' on " + tableau.url in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert not _publishes(tableau)
    assert tableau.calls[-1]["path"].endswith("/auth/signout")


def test_a_failed_sign_out_is_said_after_publishing_and_after_another_failure(tdsx_dir):
    # after the data sources are published: the sign-out's failure is the command's error
    with Tableau(refuse_signout=True) as tableau:
        done = publish(tdsx_dir, tableau.url)
    assert done.returncode == 1
    assert len(_publishes(tableau)) == len(list(tdsx_dir.glob("*.tdsx")))
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"bi publish: sign-out on {tableau.url}") and "500" in line
    assert sum(c["path"].endswith("/auth/signout") for c in tableau.calls) == 1
    # after another failure: that failure is the error, and the failed sign-out a warning beside it
    with Tableau(refuse_signout=True) as tableau:
        done = publish(tdsx_dir, tableau.url, TABLEAU_PROJECT="Finance")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(f"warning: sign-out from {tableau.url}") and "500" in lines[0]
    assert "no project named 'Finance'" in lines[1]
    assert "Traceback" not in done.stderr and TOKEN_SECRET not in done.stderr


def test_missing_settings_are_named_and_nothing_is_called(tdsx_dir):
    with Tableau() as tableau:
        done = publish(tdsx_dir, tableau.url, TABLEAU_TOKEN=None, TABLEAU_SITE=None)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line
    assert line.startswith("bi publish: set TABLEAU_SITE, TABLEAU_TOKEN to publish to Tableau")
    assert tableau.calls == []


def test_an_unreachable_server_is_one_line(tdsx_dir):
    with Tableau() as tableau:
        url = tableau.url  # the port is free again once the server is closed
    done = publish(tdsx_dir, url)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"cannot reach {url}" in line
