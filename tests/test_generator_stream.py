"""The streaming generator: same bytes as the generator that held the whole run, on both of its
writing paths (inline and writer processes); each day ready on disk with its manifest; errors of
a writer process reach the caller."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from data_generator import generate, writer
from data_generator.frames import stable_order
from ingestion.readiness import check_ready, manifest_path

GOLDEN = json.loads((Path(__file__).parent / "test_generator_golden.json").read_text())
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _generate(args: dict, out: Path, processes: bool):
    return generate(
        date.fromisoformat(args["start"]),
        args["days"],
        args["scale"],
        args["seed"],
        out,
        faults=args["faults"],
        fault_rate=args["fault_rate"],
        processes=processes,
    )


@pytest.mark.parametrize("processes", [False, True], ids=["inline", "writer-processes"])
@pytest.mark.parametrize("run", GOLDEN["runs"], ids=["all-faults-16-days", "fallback-faults"])
def test_fault_runs_write_the_bytes_of_the_generator_that_held_every_row(tmp_path, run, processes):
    """Late arrivals and fallback row faults are planned over the whole run (a dry-run census),
    so streaming writes exactly what the pre-streaming generator wrote."""
    _generate(run["arguments"], tmp_path, processes)
    fresh = _hashes(tmp_path)
    assert sorted(fresh) == sorted(run["files"])
    differ = [name for name in fresh if fresh[name] != run["files"][name]]
    assert differ == []


def test_a_changed_seed_is_caught_by_the_golden_hashes(tmp_path):
    """The other direction: the golden comparison does notice different bytes."""
    args = dict(GOLDEN["runs"][0]["arguments"], seed=8)
    _generate(args, tmp_path, False)
    fresh = _hashes(tmp_path)
    golden = GOLDEN["runs"][0]["files"]
    assert sum(fresh.get(name) != digest for name, digest in golden.items()) > 100


def test_files_written_in_batches_are_the_bytes_of_the_committed_sample(tmp_path, monkeypatch):
    """A file over BATCH_ROWS rows is formatted a batch at a time (the first day's customers at
    scale 100); forcing small batches must not change a byte."""
    monkeypatch.setattr(writer, "BATCH_ROWS", 700)
    args = json.loads((SAMPLE / "_manifest.json").read_text())["generator"]
    generate(date.fromisoformat(args["start"]), args["days"], args["scale"], args["seed"], tmp_path)
    assert max(json.loads((tmp_path / "_manifest.json").read_text())["files"].values()) > 2 * 700
    committed = {k: v for k, v in _hashes(SAMPLE).items() if k != "README.md"}
    assert _hashes(tmp_path) == committed


def test_every_day_is_ready_once_written_and_its_manifest_comes_after_its_files(tmp_path):
    generate(date(2026, 1, 1), 8, 0.2, 5, tmp_path, processes=True)
    for d in range(8):
        day = date(2026, 1, 1) + timedelta(days=d)
        manifest = manifest_path(tmp_path, day)
        files = sorted(tmp_path.glob(f"*/{day.isoformat()}.csv"))
        assert len(files) >= 10
        listed = json.loads(manifest.read_text())["files"]
        assert sorted(listed) == sorted(str(f.relative_to(tmp_path)) for f in files)
        for f in files:
            data = f.read_bytes()
            verdict = check_ready(
                tmp_path,
                day,
                str(f.relative_to(tmp_path)),
                len(data),
                hashlib.sha256(data).hexdigest(),
            )
            assert verdict.ready, verdict.reason
            assert manifest.stat().st_mtime_ns >= f.stat().st_mtime_ns


@pytest.mark.parametrize("processes", [False, True], ids=["inline", "writer-processes"])
def test_a_file_that_cannot_be_written_fails_the_run_with_its_own_error(tmp_path, processes):
    (tmp_path / "orders" / "2026-01-03.csv").mkdir(parents=True)  # a folder where a file goes
    with pytest.raises(IsADirectoryError, match=r"orders/2026-01-03\.csv") as failure:
        generate(date(2026, 1, 1), 5, 0.05, 1, tmp_path, processes=processes)
    if processes:  # where it happened: the writer's own traceback, as the cause
        assert "in writer process" in str(failure.value.__cause__)
        assert "_write_file" in str(failure.value.__cause__)
    # the day the file belongs to never became ready: no manifest says its files are complete
    assert not manifest_path(tmp_path, date(2026, 1, 3)).exists()


def test_only_day_with_more_days_after_it_writes_only_that_day(tmp_path):
    full, one = tmp_path / "full", tmp_path / "one"
    generate(date(2026, 1, 1), 9, 0.1, 3, full)
    result = generate(date(2026, 1, 1), 9, 0.1, 3, one, only_day=date(2026, 1, 4))
    assert {p.name for p in one.rglob("*.csv")} == {"2026-01-04.csv"}
    assert all(name.endswith("/2026-01-04.csv") for name in result.files)
    for f in one.rglob("*.csv"):
        assert f.read_bytes() == (full / f.relative_to(one)).read_bytes()


@pytest.mark.parametrize(
    "low, high, size",
    [(0, 40, 5_000), (-70_000, 70_000, 5_000), (0, 2**40, 3_000), (-(2**61), 2**61, 500)],
    ids=["radix", "composite", "wide", "fallback"],
)
def test_stable_order_is_numpys_stable_argsort(low, high, size):
    keys = np.random.default_rng(size).integers(low, high, size)
    keys[::7] = keys[0]  # plenty of ties: their order must be kept
    expected = np.argsort(keys, kind="stable")
    assert np.array_equal(stable_order(keys, int(keys.min()), int(keys.max())), expected)
