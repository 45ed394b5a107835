"""One verdict per value: the strict rules of ingestion/parse.py, on both parse paths and engines.

A corpus of tricky values per type goes through the fast path (Arrow) and the checked path
(DuckDB + SQL rules) and must give the same verdict and the same typed value; then through a real
load into DuckDB and PostgreSQL, which must hold exactly those rows (tests/test_ingestion_spark.py
does the same on Spark).
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.contracts import CONTRACTS, TableContract, _c, decimal
from ingestion.landing import LandingFile, check_file
from ingestion.loader import load_files
from ingestion.parse import _fast_possible, _layout, parse_file

T = dt.datetime
# (type, text as written in the CSV, expected value or REJECT)
REJECT = object()
CORPUS: list[tuple[str, str, object]] = [
    # integers
    ("integer", "5", 5),
    ("integer", "-5", -5),
    ("integer", "007", 7),
    ("integer", " 5", 5),
    ("integer", "5\t", 5),
    ("integer", "", None),
    ("integer", '""', None),
    ("integer", "1.5", REJECT),
    ("integer", "1_000", REJECT),
    ("integer", "0x10", REJECT),
    ("integer", "0X10", REJECT),
    ("integer", "0b101", REJECT),
    ("integer", "1e3", REJECT),
    ("integer", "+5", REJECT),
    ("integer", "2147483648", REJECT),
    ("integer", "--5", REJECT),
    ("integer", "  ", REJECT),
    ("integer", "NaN", REJECT),
    ("bigint", "9223372036854775807", 9223372036854775807),
    ("bigint", "9223372036854775808", REJECT),
    # decimals (12, 2)
    ("decimal", "385.99", Decimal("385.99")),
    ("decimal", "1.5", Decimal("1.50")),
    ("decimal", "1.500", Decimal("1.50")),
    ("decimal", "-0.00", Decimal("0.00")),
    ("decimal", "+1.00", Decimal("1.00")),
    ("decimal", ".5", Decimal("0.50")),
    ("decimal", "5.", Decimal("5.00")),
    ("decimal", "0001.00", Decimal("1.00")),
    ("decimal", " 2.25 ", Decimal("2.25")),
    ("decimal", "1234567890.00", Decimal("1234567890.00")),
    ("decimal", "", None),
    ("decimal", "1.005", REJECT),
    ("decimal", "12345678901.00", REJECT),
    ("decimal", "1_000", REJECT),
    ("decimal", "NaN", REJECT),
    ("decimal", "inf", REJECT),
    ("decimal", "-inf", REJECT),
    ("decimal", "1e3", REJECT),
    ("decimal", "1.0e0", REJECT),
    ("decimal", "1.2.3", REJECT),
    ("decimal", "12,5", REJECT),
    # dates
    ("date", "2026-01-01", date(2026, 1, 1)),
    ("date", " 2026-01-01", date(2026, 1, 1)),
    ("date", "9999-12-31", date(9999, 12, 31)),
    ("date", "", None),
    ("date", "infinity", REJECT),
    ("date", "epoch", REJECT),
    ("date", "2026-01-01T25:00", REJECT),
    ("date", "2026-01-01 10:00:00", REJECT),
    ("date", "2026-02-30", REJECT),
    ("date", "2026-13-40", REJECT),
    ("date", "0000-01-01", REJECT),
    ("date", "2026-1-1", REJECT),
    ("date", "20260101", REJECT),
    # timestamps
    ("timestamp", "2026-01-05 00:14:26", T(2026, 1, 5, 0, 14, 26)),
    ("timestamp", "2026-01-05T00:14:26", T(2026, 1, 5, 0, 14, 26)),
    ("timestamp", "2026-01-05 00:14", T(2026, 1, 5, 0, 14)),
    ("timestamp", "2026-01-05 10", T(2026, 1, 5, 10)),
    ("timestamp", "2026-01-05", T(2026, 1, 5)),
    ("timestamp", "2026-01-05 00:14:26.123456", T(2026, 1, 5, 0, 14, 26, 123456)),
    ("timestamp", "2026-01-05 00:14:26.5", T(2026, 1, 5, 0, 14, 26, 500000)),
    ("timestamp", "2026-01-05 10:00:00Z", T(2026, 1, 5, 10)),
    ("timestamp", "2026-01-05 10:00:00+05:00", T(2026, 1, 5, 5)),
    ("timestamp", "2026-01-05 01:00:00+0530", T(2026, 1, 4, 19, 30)),
    ("timestamp", "2026-01-05 22:00:00-03", T(2026, 1, 6, 1)),
    ("timestamp", "", None),
    ("timestamp", "2026-01-01 24:00:00", REJECT),
    ("timestamp", "2026-12-31 23:59:60", REJECT),
    ("timestamp", "2026-01-01T25:00", REJECT),
    ("timestamp", "2026-01-01 10:60:00", REJECT),
    ("timestamp", "2026-01-01 10:00:00.1234567", REJECT),
    ("timestamp", "2026-01-01 10:00:00.", REJECT),
    ("timestamp", "2026-01-01 10:00:00+24:00", REJECT),
    ("timestamp", "infinity", REJECT),
    ("timestamp", "epoch", REJECT),
    ("timestamp", " 2026-01-01 10:00:00", REJECT),
    ("timestamp", "2026-02-30 10:00:00", REJECT),
    ("timestamp", "0000-01-01 00:00:00", REJECT),
    # booleans
    ("boolean", "true", True),
    ("boolean", "false", False),
    ("boolean", "", None),
    ("boolean", "TRUE", REJECT),
    ("boolean", "t", REJECT),
    ("boolean", "1", REJECT),
    ("boolean", "yes", REJECT),
    # text
    ("varchar", "plain", "plain"),
    ("varchar", '"quoted, with comma"', "quoted, with comma"),
    ("varchar", '"say ""hi"""', 'say "hi"'),
    ("varchar", '""', None),
    ("varchar", "", None),
    ("varchar", "0x10 is text here", "0x10 is text here"),
    ("varchar", "émoji 🚚", "émoji 🚚"),
    ("varchar", '"a\x00b"', REJECT),
    # stray quotes: read the same way on both paths (the fast path declines such files)
    ("varchar", 'we"b', 'we"b'),
    ("varchar", '"web" ', "web"),
    ("varchar", ' "web"', "web"),
]
TYPES = {
    "integer": "integer",
    "bigint": "bigint",
    "decimal": decimal(12, 2),
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
    "varchar": "varchar",
}


def _contract(kind: str) -> TableContract:
    return TableContract(
        "orders",  # a real table name, so a load can use the orders bronze table's audit
        "value corpus",
        (_c("k", "bigint"), _c("v", TYPES[kind], required=False)),
        ("k",),
    )


def _file(tmp_path: Path, kind: str, texts: list[str]) -> Path:
    path = tmp_path / kind / "2026-01-01.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        ("k,v\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts, 1))).encode("utf-8")
    )
    return path


def _verdicts(path: Path, contract: TableContract, fast: bool) -> dict[int, object]:
    check, data = check_file(path, contract)
    con = duckdb.connect()
    parsed = parse_file(con, LandingFile("orders", date(2026, 1, 1), path), contract, check, data,
                        fast=fast)  # fmt: skip
    try:
        good = dict(con.execute(f"select k, v from ({parsed.select()})").fetchall())
        out = {r.line - 1: REJECT for r in parsed.rejects}
        out.update(good)
        return out, parsed.path
    finally:
        parsed.drop()
        con.close()


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_both_parse_paths_give_each_value_the_same_verdict(tmp_path, kind):
    cases = [(text, want) for k, text, want in CORPUS if k == kind]
    texts = [t for t, _ in cases]
    contract = _contract(kind)
    path = _file(tmp_path, kind, texts)
    checked, used = _verdicts(path, contract, fast=False)
    assert used == "checked"
    for i, (text, want) in enumerate(cases, 1):
        got = checked[i]
        assert (got is REJECT) == (want is REJECT), (kind, text, got)
        if want is not REJECT:
            assert got == want, (kind, text, got)
    # each accepted value alone through the fast path: same value, or the fast path declines
    on_fast = []
    for i, (text, want) in enumerate(cases, 1):
        if want is REJECT:
            continue
        one = _file(tmp_path / f"one{i}", kind, [text])
        fast, used = _verdicts(one, contract, fast=True)
        assert fast[1] == want, (kind, text, fast[1], used)
        if used == "fast":
            on_fast.append(text)
    # most accepted forms do take the fast path (so the comparison above means something)
    assert len(on_fast) >= min(3, sum(w is not REJECT for _, w in cases)), (kind, on_fast)
    accepted = [t for t in on_fast if t not in ("", '""')]
    clean = _file(tmp_path / "clean", kind, accepted)
    _, used = _verdicts(clean, contract, fast=True)
    cols = _layout(contract, check_file(clean, contract)[0])
    assert _fast_possible(clean.read_bytes(), cols) and used == "fast", (kind, accepted)
    if kind in ("integer", "bigint", "decimal", "timestamp", "boolean"):
        # whole-file rejects never happen on the fast path: a rejected value sends it to checked
        for text, want in cases:
            if want is REJECT:
                bad = _file(tmp_path / "bad", kind, [*accepted[:2], text])
                verdicts, used = _verdicts(bad, contract, fast=True)
                assert used == "checked" and verdicts[len(accepted[:2]) + 1] is REJECT, text


def test_the_fast_path_carries_the_clean_sample(tmp_path):
    """The committed sample converts on the fast path: strictness costs clean files nothing."""
    root = Path(__file__).resolve().parent.parent / "sample_data"
    for table in ("orders", "order_lines", "shipments", "customers", "products"):
        path = root / table / "2026-01-05.csv"
        contract = CONTRACTS[table]
        check, data = check_file(path, contract)
        con = duckdb.connect()
        parsed = parse_file(con, LandingFile(table, date(2026, 1, 5), path), contract, check, data)
        assert (parsed.path, parsed.rows_rejected) == ("fast", 0), table
        parsed.drop()


def _quotes_by_the_rule(data: bytes) -> bool:
    """The quote rule read position by position (the check's plain statement)."""
    last = len(data) - 1
    for q, byte in enumerate(data):
        if byte != 34:
            continue
        prev, nxt = data[max(q - 1, 0)], data[min(q + 1, last)]
        ok_prev = q == 0 or prev in b',\n"' or (q == 3 and prev == 0xBF)
        ok_next = q == last or nxt in b',\n\r"'
        if not (ok_prev or ok_next):
            return False
    return True


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 24])
def test_the_chunked_quote_check_gives_the_rule_s_verdict(monkeypatch, chunk):
    """The quote check compares bytes a chunk at a time; at every chunk size, on edge cases and
    on random files of the bytes that matter, it says what the rule says (stray quotes at the
    start, the end, after a byte-order mark and across chunk boundaries)."""
    import random

    from ingestion import parse

    monkeypatch.setattr(parse, "_SCAN_CHUNK", chunk)
    cases = [b"", b'"', b'""', b'a"', b'"a', b'a"b', b'\xef\xbb\xbf"id"\n', b'\xef\xbb"id"\n',
             b'x\xbb\xbf"id"\n', b'1,"web" ,2\n', b'1, "web"\n', b'1,"we"b"\n', b'1,"a""b"\r\n',
             b'id\n1,"x"']  # fmt: skip
    rng = random.Random(7)
    alphabet = b',\n\r"a\xbf'
    cases += [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    verdicts = {True: 0, False: 0}
    for data in cases:
        want = _quotes_by_the_rule(data)
        assert parse._quotes_well_placed(data) is want, data
        verdicts[want] += 1
    assert min(verdicts.values()) > 300, verdicts  # both verdicts are exercised


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 24])
def test_the_chunked_exponent_check_finds_what_the_pattern_finds(monkeypatch, chunk):
    """A digit then ``e``/``E`` after the header sends a file with decimals to the checked
    path; the chunked check finds exactly what ``[0-9][eE]`` finds from the same offset."""
    import random
    import re

    from ingestion import parse

    monkeypatch.setattr(parse, "_SCAN_CHUNK", chunk)
    rng = random.Random(11)
    alphabet = b"0912eEaZ,\n"
    found = {True: 0, False: 0}
    for _ in range(3000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        start = rng.randint(0, 4)
        want = re.compile(rb"[0-9][eE]").search(data, start) is not None
        assert parse._digit_then_e(data, start) is want, (data, start)
        found[want] += 1
    assert min(found.values()) > 300, found


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    from conftest import _warehouse

    with _warehouse(request.param, tmp_path) as w:
        yield w


def test_every_engine_stores_exactly_the_accepted_values(engine, tmp_path):
    """Through a real load: the bronze table holds the corpus' accepted values, typed, and
    ``_rejects`` the rejected ones with their column; the same on DuckDB and PostgreSQL."""
    table = "quality_inspections"  # has bigint, integer, timestamp and varchar columns
    header = "inspection_id,product_id,facility_id,inspected_at,lot_size,sample_size,defects_found,result"
    cases = [(t, w) for k, t, w in CORPUS if k == "timestamp"]
    ints = [(t, w) for k, t, w in CORPUS if k == "integer"]
    lines = [header]
    for i, (text, _) in enumerate(cases, 1):
        lines.append(f'{i},1,1,{text},100,10,0,"pass"')
    offset = len(cases)
    for i, (text, _) in enumerate(ints, 1):
        lines.append(f'{offset + i},1,1,2026-01-01 08:00:00,{text},10,0,"pass"')
    path = tmp_path / "landing" / table / "2026-01-01.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    with engine.backend() as backend:
        report = load_files(
            backend, [LandingFile(table, date(2026, 1, 1), path)], require_manifest=False
        )
    assert not report.failed, report.results
    stored = dict(engine.query(f"select inspection_id, inspected_at from bronze.{table}"))
    lots = dict(engine.query(f"select inspection_id, lot_size from bronze.{table}"))
    rejected = dict(engine.query("select line_number, column_name from bronze._rejects"))
    for i, (text, want) in enumerate(cases, 1):
        if want is REJECT:
            assert rejected.get(i + 1) == "inspected_at", text
        else:
            assert stored[i] == want, (text, stored.get(i))
    for i, (text, want) in enumerate(ints, 1):
        key = offset + i
        if want is REJECT:
            assert rejected.get(key + 1) == "lot_size", text
        else:
            assert lots[key] == want, (text, lots.get(key))
    assert report.rows_loaded + report.rows_rejected == len(lines) - 1
