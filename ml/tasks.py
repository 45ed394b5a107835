"""Task bodies of the ``ml_retrain`` DAG (the DAG file only wires them), also used by the CLI.

For each model: ``due`` decides whether to retrain (the weekly or a manual run always does; a run
triggered by a marts update only when there is no champion or a drift check flagged: see
:mod:`ml.drift`), ``retrain`` trains, registers and promotes, ``score`` writes the champion's scores.
"""

from __future__ import annotations

from pathlib import Path
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


#: Each model's score table and the dbt models over it.
SCORE_MODELS = {
    config.DELAY_MODEL: ("delivery_risk_scores", "stg_ml__delivery_risk_scores+"),
    config.DEMAND_MODEL: ("demand_forecast", "stg_ml__demand_forecast+"),
}


def build_ml_marts(target: str, target_path: Path | None = None) -> dict[str, Any]:
    """``dbt build`` of the marts over the score tables, with their tests: those of every model
    whose score table exists (a model without a champion yet has none; its marts are skipped and
    the result says so). On engines the ``ml`` package does not read (Spark, the cloud
    warehouses) every ``tag:ml`` model is built."""
    from ingestion.warehouse import connect
    from platform_core.dbt_runner import run

    try:
        with connect() as wh:
            have = {m for m, (table, _) in SCORE_MODELS.items() if wh.table_exists("ml", table)}
    except NotImplementedError:
        return run(target, "build", "--select", "tag:ml", target_path=target_path)
    skipped = sorted(set(SCORE_MODELS) - have)
    if not have:
        return {"skipped": f"no score table yet for {', '.join(skipped)}: nothing to build"}
    selection = [SCORE_MODELS[m][1] for m in sorted(have)]
    out = run(target, "build", "--select", *selection, target_path=target_path)
    if skipped:
        out["skipped"] = f"no score table yet for {', '.join(skipped)} (no champion)"
    return out
