"""The synthetic company: seeded, vectorized daily CSV batches for every source table.

>>> from data_generator import generate
>>> result = generate(start=date(2026, 1, 1), days=30, scale=1, seed=42, out=Path("data/landing"))

See ``simulate.py`` for what depends on what, ``faults.py`` for the injectable faults,
``writer.py`` for the file format, ``pipeline.py`` for how days are written while the next ones
are simulated (memory does not grow with ``days``) and ``census.py`` for the dry run that plans
faults chosen over the whole run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .faults import FAULTS, VOLUME_DROP_FACTOR, FaultPlan, parse_fault_names
from .simulate import SimulationParams

__all__ = ["FAULTS", "GenerationResult", "generate", "parse_fault_names"]

DEFAULT_FAULT_RATE = 0.002


@dataclass
class GenerationResult:
    out: Path
    files: dict[str, int]
    rows_per_table: dict[str, int]
    seconds: float
    faults: list[dict] = field(default_factory=list)
    # time spent formatting and writing each table's files, summed over the writers
    seconds_per_table: dict[str, float] = field(default_factory=dict)
    # time the main process spent simulating (the writers work meanwhile)
    simulate_seconds: float = 0.0
    # peak RSS (KiB) of the largest writer process; 0 when the files were written inline
    writer_rss_kib: int = 0

    @property
    def rows(self) -> int:
        return sum(self.rows_per_table.values())


def generate(
    start: date,
    days: int,
    scale: float = 1.0,
    seed: int = 42,
    out: Path | str = Path("data/landing"),
    faults: tuple[str, ...] | str | None = (),
    fault_rate: float = DEFAULT_FAULT_RATE,
    progress: bool = False,
    only_day: date | None = None,
    processes: bool | None = None,
) -> GenerationResult:
    """Simulate ``days`` days from ``start`` and write them under ``out``.

    With ``only_day``, the company is still simulated from ``start`` (so state such as price
    history and late arrivals is the same), but only that day's files are written, byte-identical
    to the ones a full run writes; ``_manifest.json`` keeps the files of earlier days. This is how
    the daily ingestion DAG produces the batch of its logical date.

    Memory is bounded whatever ``days``: each day is written once simulated (see
    ``pipeline.py``). ``processes`` forces writer processes on or off (default: on for runs of a
    million rows or more); the bytes written are the same either way.
    """
    from tqdm import tqdm

    from .census import Census
    from .pipeline import stream, use_processes
    from .simulate import Company
    from .writer import DayWriter, write_faults, write_manifest

    if isinstance(faults, str) or faults is None:
        faults = parse_fault_names(faults)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not 0 < fault_rate <= 0.2:
        raise ValueError(f"fault rate must be in (0, 0.2], got {fault_rate}")
    first_day = 0
    if only_day is not None:
        first_day = (only_day - start).days
        if not 0 <= first_day < days:
            raise ValueError(
                f"only_day {only_day} is outside the simulated range {start} + {days} days"
            )
    out = Path(out)
    began = time.perf_counter()
    plan = FaultPlan.create(faults, fault_rate, seed, start, days) if faults else None
    params = SimulationParams(
        start=start,
        days=days,
        scale=scale,
        seed=seed,
        volume_drop_day=plan.volume_drop_day if plan else None,
        volume_drop_factor=VOLUME_DROP_FACTOR,
    )
    if plan is not None and plan.needs_census():
        census = Census(days)
        company = Company(params, census.tables())
        with tqdm(total=days, desc="planning faults", unit="day", disable=not progress) as bar:
            for d in range(days):
                company.step(d)
                bar.update(1)
        plan.plan(census)
        del company, census
    out.mkdir(parents=True, exist_ok=True)
    last = days - 1 if only_day is None else first_day
    if processes is None:
        processes = use_processes(scale, last + 1 - first_day)
    with tqdm(total=last + 1, desc="generating", unit="day", disable=not progress) as bar:
        written, simulated = stream(
            Company(params).run(),
            DayWriter(out, start, plan),
            first_day,
            last,
            processes,
            tick=lambda: bar.update(1),
        )
    files, rows = written.files, written.rows
    args = {
        "start": start.isoformat(),
        "days": days,
        "scale": scale,
        "seed": seed,
        "faults": list(faults),
        "fault_rate": fault_rate if faults else None,
    }
    write_manifest(out, args, files, merge=only_day is not None)
    write_faults(out, args, plan, written=set(files) if only_day is not None else None)
    return GenerationResult(
        out,
        files,
        rows,
        time.perf_counter() - began,
        plan.records if plan else [],
        written.seconds,
        simulated,
        written.peak_rss_kib,
    )
