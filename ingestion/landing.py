"""The landing zone: finding daily files and checking they can be read at all.

A file that cannot be read (missing, empty, not UTF-8, a header without a required column, a
column named twice) raises ``FileProblem`` naming the file and the problem; nothing of it loads.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .contracts import CONTRACTS, TableContract

_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv")


class FileProblem(Exception):
    """A landing file that cannot be loaded at all."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class LandingFile:
    table: str
    day: date
    path: Path

    @property
    def name(self) -> str:
        """``<table>/<YYYY-MM-DD>.csv``: how the audit names the file."""
        return f"{self.table}/{self.path.name}"


@dataclass
class FileCheck:
    """What reading the raw bytes told us: hash, size, lines and the header's columns."""

    sha256: str
    size: int
    data_lines: int
    header: list[str]
    extra_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    has_bom: bool = False


def discover(
    landing: Path,
    tables: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[LandingFile]:
    """Daily files under ``landing`` in load order: by day, then reference tables first."""
    if not landing.is_dir():
        raise FileProblem(
            landing,
            "landing folder does not exist (generate data first: "
            "python -m data_generator --out <folder>)",
        )
    unknown = sorted(set(tables or ()) - set(CONTRACTS))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(CONTRACTS)}")
    order = {name: i for i, name in enumerate(CONTRACTS)}
    found: list[LandingFile] = []
    for table in tables or list(CONTRACTS):
        folder = landing / table
        if not folder.is_dir():
            continue
        for path in folder.glob("*.csv"):
            match = _NAME.fullmatch(path.name)
            if not match:
                continue
            try:
                day = date.fromisoformat(match.group(1))
            except ValueError:
                continue
            if (start and day < start) or (end and day > end):
                continue
            found.append(LandingFile(table, day, path))
    return sorted(found, key=lambda f: (f.day, order[f.table]))


def check_file(path: Path, contract: TableContract) -> tuple[FileCheck, bytes]:
    """Read a file once: hash it, check it is UTF-8 and that its header can be loaded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileProblem(path, "file does not exist") from None
    except OSError as exc:
        raise FileProblem(path, f"cannot be read ({exc.strerror})") from None
    if not data or data.isspace():
        raise FileProblem(path, "file is empty: expected a header row")
    bom = data.startswith(b"\xef\xbb\xbf")
    end = data.find(b"\n")
    # the body's encoding is checked line by line by the CSV reader (see parse.py)
    try:
        head = data[3 if bom else 0 : end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            path,
            f"not UTF-8: byte 0x{exc.object[exc.start]:02x} in the header "
            "(line 1); re-export the file as UTF-8",
        ) from None
    head = head.rstrip("\r")
    header = next(csv.reader([head]))
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise FileProblem(path, f"header names column(s) more than once: {', '.join(dupes)}")
    missing = [c for c in contract.column_names if c not in header]
    missing_required = [c for c in missing if c in contract.required_columns]
    if missing_required:
        raise FileProblem(
            path,
            f"header lacks required column(s) {', '.join(missing_required)} of table "
            f"{contract.name} (expected: {', '.join(contract.column_names)})",
        )
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return FileCheck(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        data_lines=lines - 1,
        header=header,
        extra_columns=[c for c in header if c not in contract.column_names],
        missing_columns=missing,
        has_bom=bom,
    ), data
