"""Feature drift: population stability index (PSI) between a training window and the latest window.

Numeric features are binned on the deciles of the training window; categorical ones compare
category shares. Results go to ``ml.feature_drift``, one row per model and feature.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from . import config

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
