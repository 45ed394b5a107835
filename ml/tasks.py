"""Task bodies of the ``ml_retrain`` DAG (the DAG file only wires them), also used by the CLI.

For each model: ``due`` decides whether to retrain (the weekly or a manual run always does; a run
triggered by a marts update only when there is no champion or a drift check flagged: see
:mod:`ml.drift`), ``retrain`` trains, registers and promotes, ``score`` writes the champion's scores.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import config


def module(model: str) -> ModuleType:
    """The module that trains, promotes and scores ``model``."""
    from . import delay, demand

    modules = {config.DELAY_MODEL: delay, config.DEMAND_MODEL: demand}
    if model not in modules:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(modules)}")
    return modules[model]


def due(model: str, run_type: str = "manual") -> dict[str, Any]:
    """Whether ``model`` should be retrained in this run, and why (drift rows are stored)."""
    from ingestion.warehouse import connect

    from .drift import check

    with connect() as wh:
        drift = check(wh, model)
    if run_type in ("scheduled", "manual", "backfill"):
        drift["retrain"] = True
        drift["why"] = f"{run_type} run retrains; drift: {drift['why']}"
    return drift


def retrain(model: str) -> dict[str, Any]:
    """Train and register a version of ``model``, then promote it or make it challenger."""
    from ingestion.warehouse import connect

    mod = module(model)
    with connect() as wh:
        out = mod.train(wh)
        out["promotion"] = mod.promote(wh, out["version"])
    return out


def score(model: str) -> dict[str, Any]:
    """Score with ``models:/<model>@champion``; skipped (not failed) while there is no champion."""
    from ingestion.warehouse import connect

    from .promotion import current_champion

    config.setup_mlflow(model)
    if current_champion(model) is None:
        return {"model": model, "scoring": "skipped: no champion yet (see the promotion alert)"}
    with connect() as wh:
        return {"model": model, **module(model).score(wh)}


def build_ml_marts(target: str) -> dict[str, Any]:
    """``dbt build --select tag:ml``: the marts over the score tables, with their tests."""
    from orchestration.tasks import dbt_in_process

    return dbt_in_process(target, "build", "--select", "tag:ml")
