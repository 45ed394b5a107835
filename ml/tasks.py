"""Task bodies of the ``ml_retrain`` DAG (the DAG file only wires them)."""

from __future__ import annotations

from typing import Any


def retrain_delivery_delay() -> dict[str, Any]:
    """Train, register and promote the delivery-delay model, then score with the champion."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ingestion.warehouse import connect

    from . import config, delay

    with connect() as wh:
        out = delay.train(wh)
        out["promotion"] = delay.promote(wh, out["version"])
        try:
            MlflowClient().get_model_version_by_alias(config.DELAY_MODEL, "champion")
        except MlflowException:
            out["scoring"] = "skipped: no champion yet (see promotion.why)"
        else:
            out["scoring"] = delay.score(wh)
    return out
