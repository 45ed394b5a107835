"""Drift: has the data the champion now sees moved away from what it was trained on?

Each model declares what it watches, one :class:`~ml.watch.Watch` per feature, by kind:

* ``category`` (ids, codes, weekday, binary flags): the population stability index (PSI) over the
  categories, never over numeric bins (carriers 4 and 5 are different carriers, not neighbours).
  Minimum-count rule: a category seen fewer than ``ML_DRIFT_MIN_COUNT`` (30) times in the training
  window is pooled with the categories new in the latest window into one ``(rare or new)``
  bucket, so a rare category's noise cannot alarm while a new or growing one still does. A
  missing value is a category of its own.
* ``numeric``: PSI over the deciles of the training window (bins from training only; a missing
  value is a bin of its own).
* ``bias`` / ``error`` (the demand forecast): not a feature distribution at all. The demand
  model's inputs are the series itself (7- and 28-day levels, last week's ratio): consecutive rows
  share most of their inputs, so comparing their distribution with the training rows' fires on
  any trend (the PSI of ``trend`` crossed 0.2 on every window, even inside its own training
  data). What matters is whether the forecast still fits: the realised one-day-ahead forecast
  over the latest 14 days, against the same over the training window, as a window aggregate
  (log of actual over forecast units: ``bias``; WAPE: ``error``). One number per window, so the
  rows' autocorrelation does not inflate it, and the limits were set on months of clean daily
  checks (``benchmarks/ml_drift.py``).

A PSI flags drift when it exceeds its kind's limit (``config.DRIFT_LIMITS``) plus what sampling
alone gives: PSI over ``k`` bins of two independent samples of sizes ``n`` and ``m`` is about
``chi2(k - 1) * (1/n + 1/m)``, so its 99.9th percentile is added (small windows need more to
alarm). Weather features have a wider limit: they follow the seasons, so a spring week against
winter training months moves them (PSI up to 0.5 on clean data) while a week of snow gives 8 or
more. Every check is stored in ``ml.feature_drift`` (one row per watched feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from . import config
from .watch import Watch

#: Days in the latest window: a week of shipments is hundreds to thousands of rows; demand
#: aggregates over two weeks.
LATEST_DAYS = {config.DELAY_MODEL: 7, config.DEMAND_MODEL: 14}
RARE = "(rare or new)"
MISSING = "(missing)"
#: Quantile of the sampling noise added to a PSI limit.
NOISE_QUANTILE = 0.999


@dataclass(frozen=True)
class Measure:
    """What one watch measured: the statistic, its value, the limit it is judged against."""

    statistic: str
    value: float
    threshold: float
    drifted: bool
    bins: int
    note: str


# ------------------------------------------------------------------ statistics
def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two count vectors; half a count added to every bin keeps empty bins finite."""
    k = len(expected)
    e = (expected + 0.5) / (expected.sum() + 0.5 * k)
    a = (actual + 0.5) / (actual.sum() + 0.5 * k)
    return float(np.sum((a - e) * np.log(a / e)))


def noise(bins: int, n_expected: int, n_actual: int) -> float:
    """The PSI two samples from one distribution exceed only 0.1% of the time (chi-square)."""
    from scipy.stats import chi2

    if bins < 2:
        return 0.0
    return float(chi2.ppf(NOISE_QUANTILE, bins - 1) * (1 / n_expected + 1 / n_actual))


def category_counts(
    expected: pd.Series, actual: pd.Series, min_count: int | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts per category (rare and new ones pooled, missing its own), in both windows."""
    min_count = config.drift_min_count() if min_count is None else min_count

    def counts(s: pd.Series) -> pd.Series:
        out: dict[str, int] = {}
        for value, n in s.value_counts(dropna=False).items():
            key = MISSING if pd.isna(value) else str(value)
            out[key] = out.get(key, 0) + int(n)
        return pd.Series(out, dtype="int64")

    e, a = counts(expected), counts(actual)
    kept = sorted(e.index[e >= min_count])
    e_kept, a_kept = e.reindex(kept).to_numpy(), a.reindex(kept, fill_value=0).to_numpy()
    rare_e, rare_a = int(e.sum() - e_kept.sum()), int(a.sum() - a_kept.sum())
    if rare_e or rare_a:
        return np.append(e_kept, rare_e), np.append(a_kept, rare_a), [*kept, RARE]
    return e_kept, a_kept, kept


def numeric_counts(expected: pd.Series, actual: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts per training-decile bin (and a missing bin when either window has nulls)."""
    known = expected.dropna().astype(float)
    if known.empty:
        raise ValueError(f"{expected.name}: no values in the training window to bin")
    edges = np.unique(np.quantile(known, np.linspace(0, 1, 11)))
    cuts = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
    e = np.histogram(known, cuts)[0]
    a = np.histogram(actual.dropna().astype(float), cuts)[0]
    if expected.isna().any() or actual.isna().any():
        e = np.append(e, expected.isna().sum())
        a = np.append(a, actual.isna().sum())
    return e, a


def psi(expected: pd.Series, actual: pd.Series, kind: str = "numeric") -> float:
    """PSI of ``actual`` against ``expected`` (the training window); 0 means the same shares."""
    if expected.empty or actual.empty:
        raise ValueError(
            "PSI needs rows in both windows; one of them is empty (check the window dates)."
        )
    if kind == "category":
        e, a, _ = category_counts(expected, actual)
    else:
        e, a = numeric_counts(expected, actual)
    return _psi(e, a)


def _forecast_fit(frame: pd.DataFrame) -> tuple[float, float]:
    """log(actual / forecast) and WAPE of realised forecasts (``units``, ``forecast``)."""
    actual, forecast = float(frame["units"].sum()), float(frame["forecast"].sum())
    if actual <= 0 or forecast <= 0:
        raise ValueError("no units in the window: cannot judge the forecast's fit")
    error = float((frame["units"] - frame["forecast"]).abs().sum())
    return float(np.log(actual / forecast)), error / actual


def measure(watch: Watch, train: pd.DataFrame, latest: pd.DataFrame) -> Measure:
    """Compare one watched feature between the training and the latest window."""
    if train.empty or latest.empty:
        raise ValueError(
            f"{watch.feature}: the {'training' if train.empty else 'latest'} window has no rows"
        )
    limit = config.drift_limit(watch.limit_name)
    if watch.kind in ("bias", "error"):
        (b0, e0), (b1, e1) = _forecast_fit(train), _forecast_fit(latest)
        if watch.kind == "bias":
            value = b1 - b0
            note = f"log(actual/forecast) {b1:+.3f} now, {b0:+.3f} in training"
            return Measure("log_ratio_change", value, limit, abs(value) > limit, 1, note)
        value = e1 - e0
        note = f"WAPE {e1:.3f} now, {e0:.3f} in training"
        return Measure("wape_change", value, limit, value > limit, 1, note)
    if watch.kind == "category":
        e, a, cats = category_counts(train[watch.feature], latest[watch.feature])
        note = f"{len(cats)} categories"
    else:
        e, a = numeric_counts(train[watch.feature], latest[watch.feature])
        note = f"{len(e)} bins"
    value = _psi(e, a)
    threshold = limit + noise(len(e), int(e.sum()), int(a.sum()))
    return Measure("psi", value, threshold, value > threshold, len(e), note)


# ------------------------------------------------------------------ one check
def assess(
    model: str,
    watches: tuple[Watch, ...] | list[Watch],
    train: pd.DataFrame,
    latest: pd.DataFrame,
    *,
    training_window: tuple[date, date],
    latest_window: tuple[date, date],
    version: str | None = None,
) -> pd.DataFrame:
    """One row per watched feature: the statistic, its limit, whether it drifted."""
    now = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    rows = []
    for w in watches:
        m = measure(w, train, latest)
        rows.append(
            {
                "model": model,
                "model_version": None if version is None else int(version),
                "feature": w.feature,
                "kind": w.kind,
                "limit_name": w.limit_name,
                "statistic": m.statistic,
                "value": m.value,
                "threshold": m.threshold,
                "drifted": bool(m.drifted),
                "note": m.note,
                "training_rows": len(train),
                "latest_rows": len(latest),
                "computed_at": now,
                "training_start": pd.Timestamp(training_window[0]),
                "training_end": pd.Timestamp(training_window[1]),
                "latest_start": pd.Timestamp(latest_window[0]),
                "latest_end": pd.Timestamp(latest_window[1]),
            }
        )
    out = pd.DataFrame(rows)
    out["model_version"] = out["model_version"].astype("Int64")
    return out


def too_short(
    model: str,
    version: str | None,
    training_window: tuple[date, date],
    latest_window: tuple[date, date],
) -> pd.DataFrame:
    """The one row of a check that could not compare: the training window is shorter than the
    latest window (a short history), so shares such as the weekday's cannot match."""
    days = (training_window[1] - training_window[0]).days + 1
    latest_days = (latest_window[1] - latest_window[0]).days + 1
    return pd.DataFrame(
        [
            {
                "model": model,
                "model_version": None if version is None else int(version),
                "feature": "training_window",
                "kind": "window",
                "limit_name": None,
                "statistic": "days",
                "value": float(days),
                "threshold": float(latest_days),
                "drifted": False,
                "note": "training window shorter than the latest window: not compared",
                "training_rows": 0,
                "latest_rows": 0,
                "computed_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
                "training_start": pd.Timestamp(training_window[0]),
                "training_end": pd.Timestamp(training_window[1]),
                "latest_start": pd.Timestamp(latest_window[0]),
                "latest_end": pd.Timestamp(latest_window[1]),
            }
        ]
    ).astype({"model_version": "Int64"})


def verdict(rows: pd.DataFrame) -> dict[str, Any]:
    """Drifted or not, whether to retrain, and why in one sentence, from the rows of one check."""
    short = rows[rows["kind"] == "window"]
    if len(short):
        r = short.iloc[0]
        return {
            "drifted": [],
            "retrain": True,
            "why": (
                f"not compared: the champion's training window has {int(r['value'])} day(s), "
                f"fewer than the {int(r['threshold'])}-day latest window (retrain on the longer "
                "history)"
            ),
        }
    drifted = rows[rows["drifted"]]
    ratio = rows["value"].abs() / rows["threshold"]
    closest = rows.loc[ratio.idxmax()]

    def say(r: pd.Series) -> str:
        return f"{r['feature']} {r['statistic']} {r['value']:.3f} (limit {r['threshold']:.3f})"

    if len(drifted):
        why = "drift in " + "; ".join(say(r) for _, r in drifted.iterrows())
    else:
        why = f"no drift (closest to its limit: {say(closest)})"
    return {"drifted": drifted["feature"].tolist(), "retrain": bool(len(drifted)), "why": why}


def store(wh, drift: pd.DataFrame) -> int:
    """Append ``drift`` to ``ml.feature_drift``; returns rows written."""
    from .store import append

    return append(wh, drift, "ml", "feature_drift")


# ------------------------------------------------------------------ the champion's check
def model_frame(wh, model: str) -> tuple[pd.DataFrame, str, tuple[Watch, ...]]:
    """The model's rows over the whole history, their date column and what it watches (the daily
    check reads less: :func:`window_frames`)."""
    if model == config.DELAY_MODEL:
        from . import delay

        return delay.features(wh), "shipped_date", delay.DRIFT
    if model == config.DEMAND_MODEL:
        from . import demand

        return demand.realised(demand.daily_units(wh)), "day", demand.DRIFT
    raise ValueError(f"unknown model {model!r}; known: {', '.join(config.MODELS)}")


def windows(
    frame: pd.DataFrame, day: str, training: tuple[date, date], latest_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[date, date]]:
    """The rows of the training window and of the latest ``latest_days`` days of ``frame``."""
    days = pd.to_datetime(frame[day]).dt.date
    newest = days.max()
    latest_window = (newest - timedelta(days=latest_days - 1), newest)
    train = frame[(days >= training[0]) & (days <= training[1])]
    return train, frame[days >= latest_window[0]], latest_window


def window_frames(
    wh, model: str, training: tuple[date, date], latest_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[date, date], tuple[Watch, ...]]:
    """The rows of the training window and of the latest ``latest_days`` days, and what the
    model watches. The delivery-delay model reads only those two windows of shipments (the
    training window a sample of at most ``ML_TRAIN_MAX_ROWS``, as training reads); the demand model's
    series is a few rows a day, aggregated by the engine, and is cut here."""
    if model == config.DELAY_MODEL:
        from . import delay

        newest = delay.ship_days(wh)[1]
        latest_window = (newest - timedelta(days=latest_days - 1), newest)
        every = delay.training_stride(wh, *training)
        train = delay.features(wh, start=training[0], end=training[1], every=every)
        latest = delay.features(wh, start=latest_window[0], end=latest_window[1])
        return train, latest, latest_window, delay.DRIFT
    frame, day, watches = model_frame(wh, model)
    train, latest, latest_window = windows(frame, day, training, latest_days)
    return train, latest, latest_window, watches


def champion_window(model: str) -> tuple[str, tuple[date, date]] | None:
    """The champion's version and the training window it was fitted on (its MLflow run)."""
    from mlflow.tracking import MlflowClient

    from .promotion import current_champion

    config.setup_mlflow(model)
    version = current_champion(model)
    if version is None:
        return None
    client = MlflowClient()
    params = client.get_run(client.get_model_version(model, version).run_id).data.params
    return version, (
        date.fromisoformat(params["train_start"]),
        date.fromisoformat(params["train_end"]),
    )


def check(wh, model: str, latest_days: int | None = None) -> dict[str, Any]:
    """Compare the latest days with the champion's training window, store the rows in
    ``ml.feature_drift``; ``retrain`` is true when something drifted or there is no champion."""
    latest_days = latest_days or LATEST_DAYS[model]
    champion = champion_window(model)
    if champion is None:
        return {"model": model, "retrain": True, "why": "no champion yet", "drifted": []}
    version, window = champion
    train, latest, latest_window, watches = window_frames(wh, model, window, latest_days)
    if (window[1] - window[0]).days + 1 < latest_days:
        rows = too_short(model, version, window, latest_window)
    else:
        rows = assess(
            model,
            watches,
            train,
            latest,
            training_window=window,
            latest_window=latest_window,
            version=version,
        )
    store(wh, rows)
    said = verdict(rows)
    return {
        "model": model,
        "version": version,
        "retrain": said["retrain"],
        "why": said["why"],
        "drifted": said["drifted"],
        "training_window": [str(window[0]), str(window[1])],
        "latest_window": [str(latest_window[0]), str(latest_window[1])],
    }


def last_verdict(wh, model: str) -> dict[str, Any] | None:
    """The newest stored check of ``model`` (None when none was stored yet)."""
    if not wh.table_exists("ml", "feature_drift"):
        return None
    m = config.known_model(model)
    rows = wh.frame(
        f"select * from ml.feature_drift where model = '{m}' and computed_at = "
        f"(select max(computed_at) from ml.feature_drift where model = '{m}')"
    )
    if rows.empty or "statistic" not in rows.columns or rows["statistic"].isna().all():
        return None
    rows = rows[rows["statistic"].notna()]
    rows["drifted"] = rows["drifted"].astype(bool)
    first = rows.iloc[0]
    return {
        **verdict(rows),
        "computed_at": str(first["computed_at"])[:19],
        "training_window": [str(first["training_start"])[:10], str(first["training_end"])[:10]],
        "latest_window": [str(first["latest_start"])[:10], str(first["latest_end"])[:10]],
    }
