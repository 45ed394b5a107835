"""The generator's command line: documented options, clear errors, and the committed sample."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from data_generator import generate
from data_generator.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data_generator", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_help_documents_every_option():
    result = _run("--help")
    assert result.returncode == 0
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in result.stdout
        if action.help and action.dest != "help":
            assert action.help.split()[0] in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "must be at least 1"),
        (["--days", "ten"], "not a whole number"),
        (["--start", "2026-13-01"], "not a date"),
        (["--scale", "-1"], "must be in (0, 1000]"),
        (["--faults", "null_key,bogus"], "unknown fault(s) bogus"),
        (["--fault-rate", "2"], "must be in (0, 0.2]"),
        (["--colour", "red"], "unrecognized arguments"),
    ],
)
def test_bad_options_fail_with_a_clear_message(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_writes_the_landing_zone_and_says_where(tmp_path):
    out = tmp_path / "landing"
    result = _run(
        "--start",
        "2026-03-01",
        "--days",
        "3",
        "--scale",
        "0.05",
        "--seed",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert (out / "orders" / "2026-03-03.csv").exists()
    assert "order lines" in result.stdout


def test_sample_data_matches_a_fresh_generation(tmp_path):
    """sample_data/ is generated, never edited: regenerating it gives the same bytes."""
    manifest = json.loads((SAMPLE / "_manifest.json").read_text())
    args = manifest["generator"]
    generate(
        date.fromisoformat(args["start"]),
        args["days"],
        args["scale"],
        args["seed"],
        tmp_path,
        faults=tuple(args["faults"]),
    )
    committed = {
        str(p.relative_to(SAMPLE)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(SAMPLE.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }
    fresh = {
        str(p.relative_to(tmp_path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file()
    }
    assert len(committed) > 100
    assert committed == fresh


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("faults", [(), ("all",)], ids=["clean", "faulty"])
def test_only_day_runs_write_the_same_landing_zone_as_one_full_run(tmp_path, faults):
    full, daily = tmp_path / "full", tmp_path / "daily"
    start, days = date(2026, 1, 1), 6
    generate(start=start, days=days, scale=0.1, seed=7, out=full, faults=faults)
    # Days out of order, as a backfill may run them: each run writes only its own day's files.
    for d in (3, 0, 5, 1, 4, 2):
        day = date(2026, 1, 1 + d)
        generate(start=start, days=days, scale=0.1, seed=7, out=daily, faults=faults, only_day=day)
        assert (daily / "orders" / f"{day.isoformat()}.csv").exists()
    assert _tree(daily) == _tree(full)


def test_only_day_writes_only_that_days_files(tmp_path):
    result = _run(
        "--start",
        "2026-01-01",
        "--only-day",
        "2026-01-05",
        "--scale",
        "0.1",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    days = {p.name for p in tmp_path.rglob("*.csv")}
    assert days == {"2026-01-05.csv"}
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    assert manifest["generator"]["days"] == 5
    assert all(name.endswith("2026-01-05.csv") for name in manifest["files"])


def test_only_day_before_start_is_a_clear_error(tmp_path):
    result = _run("--start", "2026-01-10", "--only-day", "2026-01-05", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "--only-day 2026-01-05 is before --start 2026-01-10" in result.stderr
