"""The landing zone: finding daily files and checking they can be read at all.

A file that cannot be read (missing, empty, not UTF-8, a header without a required column, a
column named twice, too many columns, gzip bytes, carriage returns without line feeds) raises
``FileProblem`` naming the file and the problem; nothing of it loads.

Landing files are untrusted. Only regular files are opened: a FIFO, device, socket or directory
with a landing name is refused without being opened (a FIFO would block a reader forever), and a
symbolic link is followed only when it stays inside the landing root. Entries whose names are not
``<table>/<YYYY-MM-DD>.csv`` of a known table are reported as ``ignored`` (``strays``); names
starting with ``_`` or ``.`` are the landing zone's own (manifests, fault lists) and are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .contracts import CONTRACTS, TableContract


def shown(text: str, limit: int = 60) -> str:
    """Text from a file, safe to print on one line: control characters escaped, long text cut."""
    out = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return out if len(out) <= limit else out[: limit - 3] + "..."


_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv")
# More header fields than this fails the file before any parsing (INGEST_MAX_COLUMNS).
MAX_COLUMNS = 200


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
    root: Path | None = None  # the landing folder; default: the table folder's parent

    @property
    def landing(self) -> Path:
        return self.root if self.root is not None else self.path.parent.parent

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
        if folder.is_symlink() or not folder.is_dir():
            continue  # a link could lead out of the landing root; reported by strays()
        for path in folder.iterdir():
            day = _day_of(path.name)
            if day is None:
                continue  # reported by strays()
            if (start and day < start) or (end and day > end):
                continue
            found.append(LandingFile(table, day, path, landing))
    return sorted(found, key=lambda f: (f.day, order[f.table]))


def _day_of(name: str) -> date | None:
    match = _NAME.fullmatch(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True)
class Stray:
    """An entry of the landing zone that is not a loadable ``<table>/<YYYY-MM-DD>.csv``."""

    name: str  # relative to the landing folder
    table: str | None
    reason: str


def strays(landing: Path, tables: list[str] | None = None) -> list[Stray]:
    """Entries the loader will not load, with why (``_``/``.`` names are skipped silently)."""
    out: list[Stray] = []
    if not landing.is_dir():
        return out
    wanted = set(tables or CONTRACTS)
    for entry in sorted(landing.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.name not in CONTRACTS:
            if tables is None:
                kind = "folder" if entry.is_dir() else "file"
                out.append(Stray(entry.name, None, f"not a known table {kind}"))
            continue
        if entry.name not in wanted:
            continue
        if not entry.is_dir() or entry.is_symlink():
            out.append(Stray(entry.name, entry.name, "a table's entry must be a plain folder"))
            continue
        for path in sorted(entry.iterdir()):
            if path.name.startswith((".", "_")) or _day_of(path.name) is not None:
                continue
            out.append(
                Stray(
                    f"{entry.name}/{path.name}",
                    entry.name,
                    "name is not YYYY-MM-DD.csv with a real date",
                )
            )
    return out


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_landing_file(path: Path, root: Path | None = None) -> bytes:
    """The bytes of a regular file, opened without following links out of ``root``.

    Never opens a FIFO, device or socket (reading one could block forever or read a device);
    a symbolic link is followed only to a regular file inside ``root``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise FileProblem(path, "file does not exist") from None
    except OSError as exc:
        raise FileProblem(path, f"cannot be read ({exc.strerror})") from None
    target = path
    if stat.S_ISLNK(st.st_mode):
        base = (root or path.parent.parent).resolve()
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FileProblem(path, "symbolic link to nothing: refused") from None
        if not target.is_relative_to(base):
            raise FileProblem(
                path, "symbolic link leading out of the landing root: refused, not opened"
            )
        st = os.stat(target)
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(path, f"{kind or 'not a regular file'}, not a file: refused, not opened")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise FileProblem(path, f"cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since the check
            raise FileProblem(path, "not a regular file when opened: refused")
        try:
            return fh.read()
        except OSError as exc:
            raise FileProblem(path, f"cannot be read ({exc.strerror})") from None


def check_file(
    path: Path,
    contract: TableContract,
    root: Path | None = None,
    max_columns: int = MAX_COLUMNS,
) -> tuple[FileCheck, bytes]:
    """Read a file once: hash it, check it is UTF-8 text and that its header can be loaded."""
    data = read_landing_file(path, root)
    if not data or data.isspace():
        raise FileProblem(path, "file is empty: expected a header row")
    if data.startswith(b"\x1f\x8b"):
        raise FileProblem(path, "gzip-compressed bytes in a .csv file: deliver it uncompressed")
    if data.startswith((b"PK\x03\x04", b"\xfd7zXZ", b"BZh")):
        raise FileProblem(path, "an archive, not CSV text: deliver the CSV itself")
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):  # `in`: memchr speed
        at = next(m.start() for m in re.finditer(b"\r(?!\n)", data))
        line = data.count(b"\n", 0, at) + 1
        raise FileProblem(
            path,
            f"line {line}: carriage return without a line feed "
            "(old Mac line endings?): save the file with LF or CRLF line endings",
        )
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
    if head.count(",") + 1 > max_columns * 4:
        raise FileProblem(path, f"header has over {max_columns} columns (INGEST_MAX_COLUMNS)")
    try:
        header = next(csv.reader([head], strict=True))
    except csv.Error as exc:
        raise FileProblem(
            path, f"header (line 1) cannot be parsed as CSV: {exc} (a quoted name spanning lines?)"
        ) from None
    if len(header) > max_columns:
        raise FileProblem(
            path, f"header has {len(header)} columns, more than {max_columns} (INGEST_MAX_COLUMNS)"
        )
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise FileProblem(
            path, f"header names column(s) more than once: {', '.join(map(shown, dupes))}"
        )
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
