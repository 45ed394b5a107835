"""The marts build id: what the cache keys on, so a new build of the marts retires every answer.

The transform DAG's last task (``publish_marts``) calls :func:`publish_build` once dbt has built
the marts; it writes ``MARTS_BUILD_FILE`` (default ``<PLATFORM_LOCAL_DIR or .local>/
marts_build.json``; JSON, replaced atomically):

    {"build_id": "2f0c...", "finished_at": "2026-01-14T06:12:03+00:00", "target": "duckdb"}

The API reads it with :class:`BuildWatcher`, which re-reads the file only when its modification
time or size changed (one ``stat`` per request). No file yet (a warehouse built by hand): the id
is ``unpublished`` and cached answers live until ``API_CACHE_TTL``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from platform_core.settings import current

UNPUBLISHED = "unpublished"
REPO = Path(__file__).resolve().parent.parent


def build_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the build id lives: ``MARTS_BUILD_FILE``, else under the platform's local state."""
    env = os.environ if environ is None else environ
    value = (env.get("MARTS_BUILD_FILE") or "").strip()
    if value:
        return Path(value).expanduser().resolve()
    return (current(env).local_dir / "marts_build.json").resolve()


@dataclass(frozen=True)
class Build:
    build_id: str
    finished_at: str | None
    target: str | None


def publish(path: Path, target: str, build_id: str | None = None) -> Build:
    """Record that a build of the marts on ``target`` has just finished; returns it."""
    build = Build(
        build_id=build_id or uuid.uuid4().hex,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        target=target,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(build)) + "\n")
    os.replace(tmp, path)
    return build


def publish_build(target: str, environ: Mapping[str, str] | None = None) -> Build:
    """What the transform DAG calls after a build of the marts: a new id in :func:`build_file`."""
    return publish(build_file(environ), target)


def read(path: Path) -> Build:
    """The build recorded in ``path`` (``unpublished`` when there is none)."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return Build(UNPUBLISHED, None, None)
    except (OSError, ValueError) as exc:
        raise RuntimeError(
            f"cannot read the marts build id from {path}: {exc}; the transform DAG writes it "
            "(metrics_api.build.publish): delete the file or rerun the DAG"
        ) from exc
    build_id = str(doc.get("build_id") or "")
    if not build_id.isalnum() or len(build_id) > 64:
        raise RuntimeError(f"{path}: build_id {build_id!r} is not 1-64 letters and digits")
    return Build(build_id, doc.get("finished_at"), doc.get("target"))


class BuildWatcher:
    """The current build, re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._build = Build(UNPUBLISHED, None, None)
        self._lock = threading.Lock()

    def current(self) -> Build:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                self._build = read(self.path) if stamp else Build(UNPUBLISHED, None, None)
                self._stamp = stamp
        return self._build
