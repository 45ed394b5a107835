"""``python -m bi datasources``: a Tableau data source per subject area, from the dbt manifest.

For each area of bi/areas.py it writes ``<area>.tds`` and ``<area>.tdsx`` (the ``.tds`` with the
area's ``.hyper`` extracts under ``Data/``, those that exist). The default connection is the
extracts of ``python -m bi extract``; ``--live postgres|snowflake|databricks`` writes the same
definitions over a live connection as the reader role (into ``<out>/<engine>/`` unless ``--out``
says otherwise). No password is ever written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bi import semantics, tds

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"
DEFAULT_EXTRACTS = ROOT / ".local" / "bi" / "extracts"
DEFAULT_OUT = ROOT / ".local" / "bi" / "datasources"
#: the schema and table a .hyper file is assumed to hold when it does not exist yet
DEFAULT_HYPER_SCHEMA = "Extract"


@dataclass
class Written:
    area: str
    tds: Path
    tdsx: Path
    source: semantics.DataSource
    packaged: list[str] = field(default_factory=list)  # tables whose extract is in the .tdsx
    missing: list[str] = field(default_factory=list)  # tables without an extract file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        help=f"output folder (default {DEFAULT_OUT.relative_to(ROOT)}, "
        "or <that>/<engine> with --live)",
    )
    parser.add_argument(
        "--live",
        choices=sorted(tds.CONNECTIONS),
        help="a live connection to this warehouse as the reader role instead of the extracts",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path(os.environ.get("DBT_MANIFEST", DEFAULT_MANIFEST)),
        help="dbt manifest.json (default dbt_project/target/manifest.json, or DBT_MANIFEST)",
    )
    parser.add_argument(
        "--extracts",
        type=Path,
        default=Path(os.environ.get("BI_EXTRACTS_DIR", DEFAULT_EXTRACTS)),
        help="folder of the .hyper extracts (default .local/bi/extracts, or BI_EXTRACTS_DIR)",
    )
    parser.add_argument(
        "--area",
        action="append",
        help="only this subject area (repeatable; default all)",
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        connection = tds.live_connection(args.live) if args.live else None
    except ValueError as exc:
        print(f"bi datasources: {exc}", file=sys.stderr)
        return 2
    out = args.out or (DEFAULT_OUT / args.live if args.live else DEFAULT_OUT)
    written = generate(
        args.manifest,
        out,
        connection=connection,
        extracts_dir=args.extracts,
        only=args.area,
    )
    for w in written:
        s = w.source
        packaged = "" if args.live else f", extracts packaged {len(w.packaged)}/{len(s.tables)}"
        print(
            f"{w.area}: {w.tdsx.name} ({len(s.tables)} tables, "
            f"{sum(1 for f in s.fields if not f.hidden)} fields, "
            f"{len(s.relationships)} relationships{packaged})"
        )
    rates = sorted({f"{t}.{c}" for w in written for t, c, _ in w.source.rates_without_parts})
    if rates:
        print("rates without numerator/denominator (not aggregated): " + ", ".join(rates))
    missing = sorted({t for w in written for t in w.missing})
    engine = args.live or "hyper"
    note = ""
    if engine == "hyper" and missing:
        note = f"; no extract yet for {len(missing)} tables (python -m bi extract)"
    print(
        f"bi datasources: {len(written)} data sources ({engine}) in {out} "
        f"in {time.monotonic() - started:.1f} s{note}"
    )
    return 0


def generate(
    manifest: Path,
    out: Path,
    connection: tds.Connection | None = None,
    extracts_dir: Path = DEFAULT_EXTRACTS,
    only: list[str] | None = None,
) -> list[Written]:
    """Write ``<area>.tds`` and ``<area>.tdsx`` for each area into ``out``."""
    project = semantics.load_project(manifest)
    areas = list(only or project.areas)
    sources = [semantics.build(project, area) for area in areas]
    out.mkdir(parents=True, exist_ok=True)
    extracts_dir = extracts_dir.resolve()
    found: dict[str, tds.HyperTable] = {}
    if connection is None:
        names = sorted({t.name for s in sources for t in s.tables})
        found = _hyper_tables({n: extracts_dir / f"{n}.hyper" for n in names})
    written = []
    for source in sources:
        names = [t.name for t in source.tables]
        w = Written(source.area, out / f"{source.area}.tds", out / f"{source.area}.tdsx", source)
        if connection is None:
            standalone = {}
            packaged = {}
            for name in names:
                path = extracts_dir / f"{name}.hyper"
                inside = found.get(name)
                schema, table = (
                    (inside.schema, inside.table) if inside else (DEFAULT_HYPER_SCHEMA, name)
                )
                standalone[name] = tds.HyperTable(str(path), schema, table)
                if inside:
                    packaged[name] = tds.HyperTable(f"Data/{name}.hyper", schema, table)
                    w.packaged.append(name)
                else:
                    packaged[name] = standalone[name]
                    w.missing.append(name)
            tds_bytes = tds.to_bytes(tds.render(source, tds.HyperConnection(standalone)))
            tdsx_bytes = tds.to_bytes(tds.render(source, tds.HyperConnection(packaged)))
            data = {f"Data/{name}.hyper": extracts_dir / f"{name}.hyper" for name in w.packaged}
        else:
            tds_bytes = tdsx_bytes = tds.to_bytes(tds.render(source, connection))
            data = {}
        _write(w.tds, tds_bytes)
        tds.package(w.tds.name, tdsx_bytes, data, w.tdsx)
        written.append(w)
    return written


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _hyper_tables(paths: dict[str, Path]) -> dict[str, tds.HyperTable]:
    """The table inside each existing extract file (read with the Hyper API)."""
    present = {name: path for name, path in paths.items() if path.is_file()}
    if not present:
        return {}
    from tableauhyperapi import Connection, CreateMode, HyperProcess, Telemetry

    found: dict[str, tds.HyperTable] = {}
    parameters = {"log_config": ""}
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters=parameters) as hyper:
        for name, path in present.items():
            with Connection(hyper.endpoint, str(path), CreateMode.NONE) as conn:
                tables = [
                    (schema.name.unescaped, table.name.unescaped)
                    for schema in conn.catalog.get_schema_names()
                    for table in conn.catalog.get_table_names(schema)
                ]
            chosen = [t for t in tables if t[1] == name] or tables
            if len(chosen) != 1:
                raise ValueError(
                    f"{path}: expected one table (or one named {name}) in the extract, found "
                    f"{len(tables)}: {', '.join('.'.join(t) for t in tables) or 'none'}"
                )
            found[name] = tds.HyperTable(str(path), *chosen[0])
    return found
