"""Delivery-delay risk: score each shipment, at ship time, for arriving late.

Features are only what is known when the parcel leaves (carrier, facility, distance, destination
weather on the ship day, weekday, promised lead time, order size), read from the marts. The split
is by ship date: the last ``HOLDOUT_SHARE`` of days is the holdout.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from . import config
from .gate import latest_gate
from .lineage import dbt_lineage
from .promotion import Metric, current_champion, judge, load

FEATURES = [
    "carrier_id",
    "facility_id",
    "distance_km",
    "precipitation_mm",
    "is_snow",
    "is_storm",
    "is_rain",
    "weekday",
    "lead_hours",
    "order_units",
    "order_lines",
]

SQL = """
select
    s.shipment_id,
    s.shipped_date,
    cast(s.carrier_id as double precision) as carrier_id,
    cast(s.facility_id as double precision) as facility_id,
    cast(s.distance_km as double precision) as distance_km,
    cast(coalesce(s.destination_precipitation_mm, 0) as double precision) as precipitation_mm,
    cast(case when s.destination_weather_condition = 'snow' then 1 else 0 end as double precision) as is_snow,
    cast(case when s.destination_weather_condition = 'storm' then 1 else 0 end as double precision)
        as is_storm,
    cast(case when s.destination_weather_condition = 'rain' then 1 else 0 end as double precision) as is_rain,
    cast(extract(dow from s.shipped_at) as double precision) as weekday,
    cast(extract(epoch from (s.promised_at - s.shipped_at)) / 3600.0 as double precision) as lead_hours,
    cast(coalesce(o.units, 0) as double precision) as order_units,
    cast(coalesce(o.lines_count, 0) as double precision) as order_lines,
    case when s.is_on_time is null then null when s.is_on_time then 0 else 1 end as late
from marts.fct_shipments as s
left join marts.fct_orders as o on o.order_id = s.order_id
{where}
order by s.shipped_at, s.shipment_id
"""


def features(wh, where: str = "") -> pd.DataFrame:
    df = wh.frame(SQL.format(where=where))
    df["shipped_date"] = pd.to_datetime(df["shipped_date"]).dt.date
    return df


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-based split of delivered shipments: earlier days train, the last days hold out."""
    done = df[df["late"].notna()].copy()
    days = sorted(done["shipped_date"].unique())
    if len(days) < 4:
        raise ValueError(
            f"marts.fct_shipments has delivered shipments on {len(days)} day(s); at least 4 are "
            "needed for a time-based split: load more days and rebuild the marts"
        )
    cut = days[int(len(days) * (1 - config.HOLDOUT_SHARE))]
    train, hold = done[done["shipped_date"] < cut], done[done["shipped_date"] >= cut]
    if train["late"].nunique() < 2 or hold["late"].nunique() < 2:
        raise ValueError("training or holdout window has only one class of delivery outcome")
    return train, hold


def _auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def train(wh, *, shuffle_labels: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train, log to MLflow, register a new version; returns run id, version and metrics.

    ``shuffle_labels`` permutes the training labels (a sanity test: such a model must not win).
    """
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingClassifier

    df = features(wh)
    tr, ho = split(df)
    y = tr["late"].astype(int).to_numpy()
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    model = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, categorical_features=[0, 1], random_state=seed
    ).fit(tr[FEATURES], y)
    y_ho = ho["late"].astype(int).to_numpy()
    auc = _auc(y_ho, model.predict_proba(ho[FEATURES])[:, 1])
    carrier_rate = tr.assign(late=y).groupby("carrier_id")["late"].mean()
    base_rate = float(y.mean())
    carrier_auc = _auc(y_ho, ho["carrier_id"].map(carrier_rate).fillna(base_rate))
    gate = latest_gate(wh)
    config.setup_mlflow(config.DELAY_MODEL)
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params(
            {
                "model": "HistGradientBoostingClassifier",
                "features": ",".join(FEATURES),
                "shuffled_labels": shuffle_labels,
                "train_start": str(tr["shipped_date"].min()),
                "train_end": str(tr["shipped_date"].max()),
                "holdout_start": str(ho["shipped_date"].min()),
                "holdout_end": str(ho["shipped_date"].max()),
                "train_rows": len(tr),
                "holdout_rows": len(ho),
            }
        )
        mlflow.log_metrics(
            {
                "roc_auc": auc,
                "carrier_baseline_roc_auc": carrier_auc,
                "base_rate": base_rate,
                "holdout_late_rate": float(y_ho.mean()),
            }
        )
        mlflow.set_tags(
            {
                **dbt_lineage(),
                "quality_gate_passed": str(gate.passed).lower(),
                "quality_gate": gate.reason,
            }
        )
        example = tr[FEATURES].head(5)
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            signature=infer_signature(example, model.predict_proba(example)[:, 1]),
            input_example=example,
            pip_requirements=config.PIP_REQUIREMENTS,
            skops_trusted_types=config.SKOPS_TRUSTED_TYPES,
            registered_model_name=config.DELAY_MODEL,
        )
    return {
        "run_id": run.info.run_id,
        "version": str(info.registered_model_version),
        "roc_auc": round(auc, 4),
        "carrier_baseline_roc_auc": round(carrier_auc, 4),
        "base_rate": round(base_rate, 4),
        "holdout": [str(ho["shipped_date"].min()), str(ho["shipped_date"].max())],
    }


def evaluate(wh, version: str | None = None) -> dict[str, Any]:
    """Holdout ROC AUC of a registered version (default: the champion) and of the baselines."""
    config.setup_mlflow(config.DELAY_MODEL)
    tr, ho = split(features(wh))
    version = version or current_champion(config.DELAY_MODEL)
    if version is None:
        raise RuntimeError(f"{config.DELAY_MODEL} has no champion yet: train and promote first")
    _, model = load(config.DELAY_MODEL, version)
    y = ho["late"].astype(int).to_numpy()
    base_rate = float(tr["late"].mean())
    carrier = ho["carrier_id"].map(tr.groupby("carrier_id")["late"].mean()).fillna(base_rate)
    return {
        "model": config.DELAY_MODEL,
        "version": str(version),
        "holdout": [str(ho["shipped_date"].min()), str(ho["shipped_date"].max())],
        "roc_auc": round(_auc(y, model.predict_proba(ho[FEATURES])[:, 1]), 4),
        "carrier_baseline_roc_auc": round(_auc(y, carrier), 4),
        "base_rate": round(base_rate, 4),
        "holdout_late_rate": round(float(y.mean()), 4),
    }


def promote(wh, version: str) -> dict[str, Any]:
    """``champion`` if ``version`` beats the champion on today's holdout and the gate passed."""
    _, ho = split(features(wh))
    y = ho["late"].astype(int).to_numpy()
    metric = Metric("roc_auc", True, config.MIN_AUC, "the minimum ROC AUC, ML_MIN_AUC")
    return judge(
        wh,
        config.DELAY_MODEL,
        version,
        metric,
        lambda model: _auc(y, model.predict_proba(ho[FEATURES])[:, 1]),
    )


def score(wh, day: date | None = None) -> dict[str, Any]:
    """Score every shipment with ``models:/delivery_delay@champion`` into ml.delivery_risk_scores."""
    uri, model = load(config.DELAY_MODEL)
    df = features(wh)
    day = day or date.today()
    out = pd.DataFrame(
        {
            "shipment_id": df["shipment_id"].astype("int64"),
            "shipped_date": pd.to_datetime(df["shipped_date"]),
            "late_probability": model.predict_proba(df[FEATURES])[:, 1].astype("float64"),
            "model_uri": uri,
            "scored_date": pd.Timestamp(day),
        }
    )
    rows = wh.write(out, "ml", "delivery_risk_scores", replace=True)
    return {"table": "ml.delivery_risk_scores", "rows": rows, "model_uri": uri}
