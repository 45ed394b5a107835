"""Feature drift: population stability index (PSI) between a training window and the latest window.

Numeric features are binned on the deciles of the training window; categorical ones compare
category shares. Results go to ``ml.feature_drift``, one row per model and feature.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from . import config

#: Days in the latest window: a week of shipments is thousands of rows; demand has one row per
#: category and day, so it compares two weeks.
LATEST_DAYS = {config.DELAY_MODEL: 7, config.DEMAND_MODEL: 14}
#: Share given to an empty bin so the logarithm stays finite.
EPS = 1e-4


def psi(expected: pd.Series, actual: pd.Series) -> float:
    """PSI of ``actual`` against ``expected`` (the training window); 0 means the same distribution."""
    if expected.empty or actual.empty:
        raise ValueError(
            "PSI needs rows in both windows; one of them is empty (check the window dates)."
        )
    if pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected):
        edges = np.unique(np.quantile(expected.dropna().astype(float), np.linspace(0, 1, 11)))
        if len(edges) < 2:
            e_share = np.array([1.0])
            a_share = np.array([float((actual == edges[0]).mean())])
        else:
            cuts = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
            e_share = (
                np.histogram(expected.dropna().astype(float), cuts)[0] / expected.notna().sum()
            )
            a_share = np.histogram(actual.dropna().astype(float), cuts)[0] / actual.notna().sum()
    else:
        cats = sorted(set(expected.astype(str)) | set(actual.astype(str)))
        e_share = (
            expected.astype(str).value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy()
        )
        a_share = (
            actual.astype(str).value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy()
        )
    e = np.clip(e_share, EPS, None)
    a = np.clip(a_share, EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(
    model: str,
    train: pd.DataFrame,
    latest: pd.DataFrame,
    features: list[str],
    *,
    training_window: tuple[date, date],
    latest_window: tuple[date, date],
    threshold: float | None = None,
) -> pd.DataFrame:
    """One row per feature: its PSI, the threshold and whether it drifted."""
    limit = config.PSI_THRESHOLD if threshold is None else threshold
    now = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    rows = [
        {
            "model": model,
            "feature": f,
            "psi": psi(train[f], latest[f]),
            "threshold": limit,
            "computed_at": now,
            "training_start": pd.Timestamp(training_window[0]),
            "training_end": pd.Timestamp(training_window[1]),
            "latest_start": pd.Timestamp(latest_window[0]),
            "latest_end": pd.Timestamp(latest_window[1]),
        }
        for f in features
    ]
    out = pd.DataFrame(rows)
    out.insert(4, "drifted", out["psi"] > limit)
    return out


def store(wh, drift: pd.DataFrame) -> int:
    """Append ``drift`` to ``ml.feature_drift``; returns rows written."""
    return wh.write(drift, "ml", "feature_drift")


def _model_frame(wh, model: str) -> tuple[pd.DataFrame, str, list[str]]:
    """The model's feature rows over the whole history, their date column and the drift features."""
    if model == config.DELAY_MODEL:
        from . import delay

        return delay.features(wh), "shipped_date", delay.FEATURES
    if model == config.DEMAND_MODEL:
        from . import demand

        units = demand.daily_units(wh)
        rows = demand.design(units, list(range(demand.MIN_HISTORY - 1, len(units))), range(1, 2))
        rows["origin"] = rows["origin"].dt.date
        return rows, "origin", demand.DRIFT_FEATURES
    raise ValueError(f"unknown model {model!r}; known: {', '.join(config.MODELS)}")


def champion_window(model: str) -> tuple[date, date] | None:
    """The training window the champion was fitted on (from its MLflow run), or None."""
    from mlflow.tracking import MlflowClient

    from .promotion import current_champion

    config.setup_mlflow(model)
    version = current_champion(model)
    if version is None:
        return None
    client = MlflowClient()
    params = client.get_run(client.get_model_version(model, version).run_id).data.params
    return date.fromisoformat(params["train_start"]), date.fromisoformat(params["train_end"])


def check(wh, model: str, latest_days: int | None = None) -> dict:
    """PSI of each feature, champion's training window against the latest days (``LATEST_DAYS``);
    stored in ``ml.feature_drift``. ``retrain`` is true when a feature drifted or there is no
    champion to compare with."""
    latest_days = latest_days or LATEST_DAYS.get(model, 7)
    window = champion_window(model)
    if window is None:
        return {"model": model, "retrain": True, "why": "no champion yet", "drifted": []}
    df, day, features = _model_frame(wh, model)
    newest = df[day].max()
    latest_window = (newest - timedelta(days=latest_days - 1), newest)
    train = df[(df[day] >= window[0]) & (df[day] <= window[1])]
    latest = df[df[day] >= latest_window[0]]
    rows = feature_drift(
        model, train, latest, features, training_window=window, latest_window=latest_window
    )
    store(wh, rows)
    drifted = rows.loc[rows["drifted"], "feature"].tolist()
    worst = rows.sort_values("psi").iloc[-1]
    return {
        "model": model,
        "retrain": bool(drifted),
        "why": (
            f"PSI above {config.PSI_THRESHOLD} for {', '.join(drifted)}"
            if drifted
            else f"no drift (largest PSI {worst['psi']:.3f} on {worst['feature']})"
        ),
        "drifted": drifted,
        "max_psi": round(float(worst["psi"]), 4),
        "training_window": [str(window[0]), str(window[1])],
        "latest_window": [str(latest_window[0]), str(latest_window[1])],
    }
