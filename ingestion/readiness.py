"""When a landing file is complete: the day's readiness manifest.

A producer writes a day's CSV files, then, LAST, ``<landing>/_manifests/<YYYY-MM-DD>.json``::

    {"day": "2026-01-05",
     "files": {"orders/2026-01-05.csv": {"bytes": 81234, "sha256": "9f2c..."}, ...}}

The manifest is written to a temporary name and renamed into place, so it is either absent or
whole. The loader loads a file only when the day's manifest lists it with the same size and
sha256 as the bytes it just read; otherwise the file is ``waiting`` (not loaded, not audited, the
command says why and exits 3), and a later run picks it up. A file still being written, or
changed after its manifest was written, therefore never loads a cut last line.

Producers that cannot write a manifest run ``python -m ingestion seal --date YYYY-MM-DD`` once
their files for that day are complete; it writes the manifest from the files as they are.
``INGEST_REQUIRE_MANIFEST=false`` turns the rule off for landing zones whose files only ever
appear complete (moved in with an atomic rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .landing import FileProblem, read_landing_file

FOLDER = "_manifests"


def manifest_path(landing: Path, day: date) -> Path:
    return landing / FOLDER / f"{day.isoformat()}.json"


def write_day_manifest(landing: Path, day: date, files: dict[str, tuple[int, str]]) -> Path:
    """Write ``day``'s manifest atomically; ``files`` maps ``<table>/<day>.csv`` to
    ``(bytes, sha256)``. Call it after every file of the day is complete."""
    path = manifest_path(landing, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "day": day.isoformat(),
        "files": {
            name: {"bytes": size, "sha256": digest}
            for name, (size, digest) in sorted(files.items())
        },
    }
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def seal_day(landing: Path, day: date, names: list[str]) -> Path:
    """Write ``day``'s manifest from the files as they are now (``names``: ``<table>/<file>``)."""
    files = {}
    for name in names:
        # the same guards as loading: a FIFO, device or link out of the root is refused, unopened
        data = read_landing_file(landing / name, landing)
        files[name] = (len(data), hashlib.sha256(data).hexdigest())
    return write_day_manifest(landing, day, files)


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str = ""


def check_ready(landing: Path, day: date, name: str, size: int, sha256: str) -> Verdict:
    """Whether the file ``name`` (``<table>/<day>.csv``) with these bytes is ready to load."""
    path = manifest_path(landing, day)
    if not path.exists() and not path.is_symlink():
        return Verdict(False, f"no readiness manifest {FOLDER}/{day.isoformat()}.json yet")
    try:
        if path.parent.is_symlink():
            raise FileProblem(path.parent, "a symbolic link: the manifests must be a plain folder")
        # a manifest is landing input too: never a FIFO, device or link out of the landing root
        raw = read_landing_file(path, landing)
        doc = json.loads(raw.decode("utf-8"))
        entry = doc["files"].get(name) if isinstance(doc.get("files"), dict) else None
    except FileProblem as exc:
        return Verdict(
            False, f"readiness manifest {FOLDER}/{day.isoformat()}.json refused ({exc.problem})"
        )
    except (OSError, ValueError, AttributeError, KeyError) as exc:
        return Verdict(
            False, f"readiness manifest {FOLDER}/{day.isoformat()}.json unreadable ({exc})"
        )
    if not isinstance(entry, dict):
        return Verdict(False, f"not listed in {FOLDER}/{day.isoformat()}.json")
    if entry.get("bytes") != size or entry.get("sha256") != sha256:
        return Verdict(
            False,
            f"differs from {FOLDER}/{day.isoformat()}.json ({size:,} bytes, manifest says "
            f"{entry.get('bytes')}): still being written, or changed after the manifest",
        )
    return Verdict(True)
