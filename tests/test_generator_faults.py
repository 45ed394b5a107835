"""Injected faults: each appears exactly where _faults.json says, and nowhere else."""

from __future__ import annotations

import csv
import json
import re
import statistics
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from data_generator import FAULTS, generate
from ingestion.contracts import BIGINT, BOOLEAN, CONTRACTS, DATE, INTEGER, TIMESTAMP, decimal_parts

_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _parses(value: str, type_: str) -> bool:
    if value == "":
        return True
    if type_ in (BIGINT, INTEGER):
        return re.fullmatch(r"-?\d+", value) is not None
    if type_ == BOOLEAN:
        return value in ("true", "false")
    if type_ in (DATE, TIMESTAMP):
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return False
        return type_ == DATE or _TS.fullmatch(value) is not None
    if decimal_parts(type_):
        try:
            Decimal(value)
        except InvalidOperation:
            return False
        return "," not in value
    return True


def _problems(table: str, header: list[str], raw: str) -> set[str]:
    """What is wrong with one physical line, judged by the table contract alone."""
    contract = CONTRACTS[table]
    if raw.count('"') % 2:
        return {"unclosed_quote"}
    fields = next(csv.reader([raw]))
    if len(fields) != len(header):
        return {"wrong_field_count"}
    found = set()
    for col, value in zip(header, fields, strict=True):
        if col not in contract.column_names:
            continue
        c = contract.column(col)
        if value == "" and col in contract.primary_key:
            found.add("null_key")
        elif value == "" and col in contract.required_columns:
            found.add("null_required")
        elif not _parses(value, c.type):
            found.add("unparseable_value")
    return found


@pytest.fixture(scope="module")
def faults(faulty_landing) -> dict:
    return json.loads((faulty_landing / "_faults.json").read_text())


def test_every_fault_type_is_injected_and_recorded(faults):
    assert set(faults["summary"]) == set(FAULTS)
    assert sum(faults["summary"].values()) == len(faults["faults"])
    for f in faults["faults"]:
        assert f["stage"] in ("ingestion", "quality")
        assert f["table"] in CONTRACTS


def test_each_fault_is_exactly_where_recorded_and_no_line_is_broken_unrecorded(
    faulty_landing: Path, faults
):
    by_line: dict[tuple[str, int], set[str]] = {}
    for f in faults["faults"]:
        if f["line"] is not None and f["fault"] in (
            "null_key",
            "null_required",
            "unparseable_value",
            "wrong_field_count",
            "unclosed_quote",
        ):
            by_line.setdefault((f["file"], f["line"]), set()).add(f["fault"])
    checked = 0
    for table in CONTRACTS:
        for path in sorted((faulty_landing / table).glob("*.csv")):
            rel = f"{table}/{path.name}"
            lines = path.read_text(encoding="utf-8").split("\n")[:-1]
            header = lines[0].split(",")
            for n, raw in enumerate(lines[1:], start=2):
                assert _problems(table, header, raw) == by_line.get((rel, n), set()), (rel, n, raw)
                checked += 1
    assert checked > 10_000


def test_recorded_values_are_the_ones_written(faulty_landing, faults):
    for f in faults["faults"]:
        if f["fault"] not in ("unparseable_value", "null_key", "null_required"):
            continue
        path = faulty_landing / f["file"]
        raw = path.read_text(encoding="utf-8").split("\n")[f["line"] - 1]
        header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        fields = next(csv.reader([raw]))
        assert fields[header.index(f["column"])] == f["value"], f
    values = {f["value"] for f in faults["faults"] if f["fault"] == "unparseable_value"}
    assert {"12,5", "N/A", "2026-13-40"} <= values


def test_duplicates_copy_the_line_they_name(faulty_landing, faults):
    dupes = [f for f in faults["faults"] if f["fault"] == "duplicate_key"]
    assert dupes
    for f in dupes:
        lines = (faulty_landing / f["file"]).read_text(encoding="utf-8").split("\n")
        original = int(f["detail"].rsplit(" ", 1)[1])
        assert original < f["line"]
        assert lines[f["line"] - 1] == lines[original - 1]
        key_col = CONTRACTS[f["table"]].primary_key[0]
        header = lines[0].split(",")
        assert next(csv.reader([lines[original - 1]]))[header.index(key_col)] == str(
            f["key"][key_col]
        )


def test_schema_drift_adds_one_column_to_one_file(faulty_landing, faults):
    drift = [f for f in faults["faults"] if f["fault"] == "schema_drift"]
    assert len(drift) == 1
    drifted = []
    for table, contract in CONTRACTS.items():
        for path in (faulty_landing / table).glob("*.csv"):
            header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
            if header != contract.column_names:
                drifted.append((f"{table}/{path.name}", header[-1]))
    assert drifted == [(drift[0]["file"], drift[0]["column"])]


def test_late_rows_sit_in_a_later_batch_than_their_order_date(faulty_landing, faults):
    late = [f for f in faults["faults"] if f["fault"] == "late_arrival"]
    orders = [f for f in late if f["table"] == "orders"]
    assert orders
    for f in orders:
        lines = (faulty_landing / f["file"]).read_text(encoding="utf-8").split("\n")
        fields = next(csv.reader([lines[f["line"] - 1]]))
        assert fields[0] == str(f["key"]["order_id"])
        ordered = date.fromisoformat(fields[2][:10])
        batch = date.fromisoformat(Path(f["file"]).stem)
        assert (batch - ordered).days >= 2
    # every other placed order sits in its own day's batch
    marked = {(f["file"], f["line"]) for f in orders}
    for path in (faulty_landing / "orders").glob("*.csv"):
        lines = path.read_text(encoding="utf-8").split("\n")[1:-1]
        for n, raw in enumerate(lines, start=2):
            if (
                _problems("orders", CONTRACTS["orders"].column_names, raw)
                or (f"orders/{path.name}", n) in marked
            ):
                continue
            fields = next(csv.reader([raw]))
            if fields[4] == "placed" and len(fields) == 6:
                assert fields[2][:10] == path.stem, (path.name, n)


def test_volume_drop_day_has_a_fraction_of_normal_orders(faulty_landing, faults):
    drop = [f for f in faults["faults"] if f["fault"] == "volume_drop" and f["table"] == "orders"]
    assert len(drop) == 1
    manifest = json.loads((faulty_landing / "_manifest.json").read_text())
    placed = {}
    for path in (faulty_landing / "orders").glob("*.csv"):
        rows = path.read_text(encoding="utf-8").count(',"placed",')
        placed[f"orders/{path.name}"] = rows
    assert manifest["files"][drop[0]["file"]] > 0
    others = [v for k, v in placed.items() if k != drop[0]["file"]]
    assert placed[drop[0]["file"]] < 0.5 * statistics.median(others)


def test_a_single_fault_can_be_chosen(tmp_path):
    result = generate(date(2026, 1, 1), 5, 0.05, 1, tmp_path, faults="null_key", fault_rate=0.01)
    assert {f["fault"] for f in result.faults} == {"null_key"}
    recorded = json.loads((tmp_path / "_faults.json").read_text())
    assert recorded["summary"] == {"null_key": len(result.faults)}


def test_unknown_fault_names_are_rejected():
    with pytest.raises(ValueError, match=r"unknown fault.*bogus"):
        generate(date(2026, 1, 1), 2, 0.05, 1, "/nonexistent", faults="null_key,bogus")
