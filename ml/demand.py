"""Demand forecast: daily units per product category for the next ``HORIZON`` days.

The series is ordered units per day and category from ``marts.fct_order_lines`` (cancelled lines
excluded) joined to the product version sold (``marts.dim_product``). Every forecast is made at an
*origin* day from what was known that day:

* a **structural forecast**: the category's mean of the last 7 days (its level) times the weekday
  index of the target day, pooled over every category across the last (up to) four whole weeks;
* times one calibration factor learnt on the training origins (summed actuals over summed
  structural forecasts).

Measured on 16 rolling 14-day holdouts (120 days, scale 0.2, seed 42): mean WAPE 0.187 against
0.208 for the same-weekday-last-week baseline (better in 13 of 16); learnt corrections on top (a
gradient-boosted and a ridge model of ``actual / structural`` on horizon, weekday, category and the
level's 7-vs-28-day trend) did worse (mean 0.189 ridge, 0.194 a shallow boosted model, a deeper
one worse than the baseline on most windows: on this data the trend is mostly noise). The
calibration costs a little on long histories (0.179 without) and wins on short ones (14 days:
0.194 against 0.206), so it stays.
It is judged on a time holdout (the last ``HORIZON`` days, fewer when the history is short)
against the same-weekday-last-week baseline, which it must beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from . import config
from .gate import latest_gate
from .lineage import dbt_lineage
from .promotion import Metric, champion_ref, judge, load
from .watch import Watch

HORIZON = 14
#: Days of history an origin needs: one whole week for the level and the weekday index.
MIN_HISTORY = 7

#: What :class:`DemandModel` reads: the structural forecast of the row (the other columns of
#: :func:`design` describe the row, or were the inputs of the learnt corrections measured above).
FEATURES = ["structural"]

#: What is watched for drift (:mod:`ml.drift`): not the features, which are the series itself and
#: move with every trend, but how well the one-day-ahead structural forecast fits the latest two
#: weeks against the training window: its bias (log of actual over forecast units) and its WAPE.
#: The champion multiplies the structural forecast by a constant, which cancels in both changes.
DRIFT = (Watch("forecast_bias", "bias"), Watch("forecast_wape", "error"))

SQL = """
select
    l.ordered_date as day,
    p.category,
    cast(sum(l.quantity) as double precision) as units
from marts.fct_order_lines as l
inner join marts.dim_product as p on p.product_version_key = l.product_version_key
where l.order_status <> 'cancelled'
group by l.ordered_date, p.category
"""


def daily_units(wh) -> pd.DataFrame:
    """Units per day (rows, every calendar day) and category (columns); missing days count 0."""
    df = wh.frame(SQL)
    if df.empty:
        raise ValueError(
            "marts.fct_order_lines has no order lines: load bronze and build the marts first"
        )
    df["day"] = pd.to_datetime(df["day"])
    wide = df.pivot_table(index="day", columns="category", values="units", aggfunc="sum")
    days = pd.date_range(wide.index.min(), wide.index.max(), freq="D")
    return wide.reindex(days, fill_value=0.0).fillna(0.0).sort_index(axis=1)


def _weekday_index(total: np.ndarray, days: pd.DatetimeIndex, i: int) -> np.ndarray:
    """Weekday index (mean 1) from the whole weeks ending at origin ``i``, all categories pooled."""
    weeks = min(4, (i + 1) // 7)
    window = slice(i + 1 - 7 * weeks, i + 1)
    t, wd = total[window], days[window].weekday
    overall = t.mean()
    if overall <= 0:
        return np.ones(7)
    return np.array([t[wd == w].mean() / overall for w in range(7)])


def design(units: pd.DataFrame, origins: list[int], horizons: range) -> pd.DataFrame:
    """One row per (origin, horizon, category): features known at the origin, and the target."""
    y = units.to_numpy()
    days = units.index
    total = y.sum(axis=1)
    cats = list(units.columns)
    rows = []
    for i in origins:
        level_7 = y[i - 6 : i + 1].mean(axis=0)
        level_28 = y[max(0, i - 27) : i + 1].mean(axis=0)
        index = _weekday_index(total, days, i)
        for h in horizons:
            target = days[i] + timedelta(days=h)
            w = target.weekday()
            same_weekday = i - ((days[i].weekday() - w) % 7)  # the baseline's day
            last_week = y[same_weekday]
            structural = np.maximum(level_7 * index[w], 0.5)
            actual = y[i + h] if i + h < len(y) else np.full(len(cats), np.nan)
            for c, cat in enumerate(cats):
                rows.append(
                    {
                        "origin": days[i],
                        "day": target,
                        "category": cat,
                        "category_code": float(c),
                        "horizon": float(h),
                        "weekday": float(w),
                        "month": float(target.month),
                        "day_of_year": float(target.dayofyear),
                        "trend": level_7[c] / level_28[c] if level_28[c] > 0 else 1.0,
                        "last_week_ratio": last_week[c] / structural[c],
                        "level_7": level_7[c],
                        "structural": structural[c],
                        "baseline": last_week[c],
                        "units": actual[c],
                    }
                )
    return pd.DataFrame(rows)


def realised(units: pd.DataFrame) -> pd.DataFrame:
    """The one-day-ahead structural forecast of every day with a full week before it, next to
    what happened: one row per day and category (``day``, ``units``, ``forecast``)."""
    rows = design(units, list(range(MIN_HISTORY - 1, len(units) - 1)), range(1, 2))
    return rows.rename(columns={"structural": "forecast"})[["day", "category", "units", "forecast"]]


@dataclass
class Windows:
    """The holdout origin and horizon, and the training rows (targets all before the holdout)."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    horizon: int


def split(units: pd.DataFrame) -> Windows:
    """Time split: forecast the last ``h`` days from the day before them; train on earlier days."""
    n = len(units)
    h = min(HORIZON, (n - MIN_HISTORY) // 2)
    if h < 2:
        raise ValueError(
            f"marts.fct_order_lines covers {n} day(s); the demand forecast needs at least "
            f"{MIN_HISTORY + 4}: load more days and rebuild the marts"
        )
    cut = n - 1 - h  # the holdout origin: the last day the holdout forecast may see
    holdout = design(units, [cut], range(1, h + 1))
    train = design(units, list(range(MIN_HISTORY - 1, cut)), range(1, HORIZON + 1))
    train = train[train["day"] <= units.index[cut]].dropna(subset=["units"])
    return Windows(train, holdout, h)


class DemandModel(BaseEstimator, RegressorMixin):
    """The structural forecast times one calibration factor learnt on the training origins.

    ``predict`` returns units. The factor is the ratio of summed actuals to summed structural
    forecasts (what minimises the bias WAPE sees), bounded to [0.8, 1.25].
    ``calibrate=False`` keeps the factor at 1 (the structural forecast alone): a simpler model,
    used to show that promotion keeps whichever of the two is better on the holdout.
    """

    def __init__(self, calibrate: bool = True):
        self.calibrate = calibrate

    def fit(self, X: pd.DataFrame, y) -> DemandModel:
        total = float(X["structural"].sum())
        ratio = float(np.sum(np.asarray(y, dtype=float)) / total) if total > 0 else 1.0
        self.calibration_ = float(np.clip(ratio, 0.8, 1.25)) if self.calibrate else 1.0
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibration_ * X["structural"].to_numpy(dtype=float)


def errors(actual, forecast) -> dict[str, float]:
    """WAPE (sum of absolute errors over sum of actuals) and MAPE (mean over days with demand)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    some = a > 0
    return {
        "wape": float(np.abs(a - f).sum() / a.sum()) if a.sum() > 0 else float("nan"),
        "mape": float(np.mean(np.abs(a[some] - f[some]) / a[some])) if some.any() else float("nan"),
    }


def evaluate(wh, version: str | None = None) -> dict[str, Any]:
    """Holdout WAPE/MAPE of a registered version (default: the champion) and of the baseline."""
    w = split(daily_units(wh))
    version = version or champion_ref(config.DEMAND_MODEL).version
    _, model = load(config.DEMAND_MODEL, version)
    return {
        "model": config.DEMAND_MODEL,
        "version": str(version),
        "holdout": [str(w.holdout["day"].min().date()), str(w.holdout["day"].max().date())],
        "holdout_days": w.horizon,
        **{k: round(v, 4) for k, v in errors(w.holdout["units"], model.predict(w.holdout)).items()},
        **{
            f"baseline_{k}": round(v, 4)
            for k, v in errors(w.holdout["units"], w.holdout["baseline"]).items()
        },
    }


def train(wh, *, calibrate: bool = True) -> dict[str, Any]:
    """Fit on the training origins, log to MLflow and register a new version
    (``calibrate=False``: without the calibration factor, see :class:`DemandModel`)."""
    import mlflow
    from mlflow.models import infer_signature

    units = daily_units(wh)
    w = split(units)
    model = DemandModel(calibrate).fit(w.train[FEATURES], w.train["units"])
    ours = errors(w.holdout["units"], model.predict(w.holdout[FEATURES]))
    naive = errors(w.holdout["units"], w.holdout["baseline"])
    gate = latest_gate(wh)
    config.setup_mlflow(config.DEMAND_MODEL)
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params(
            {
                "model": "DemandModel: 7-day level x pooled weekday index x calibration",
                "calibration": round(model.calibration_, 4),
                "calibrated": calibrate,
                "features": ",".join(FEATURES),
                "horizon_days": HORIZON,
                "categories": ",".join(units.columns),
                "train_start": str(units.index[0].date()),
                "train_end": str(w.train["day"].max().date()),
                "holdout_start": str(w.holdout["day"].min().date()),
                "holdout_end": str(w.holdout["day"].max().date()),
                "train_rows": len(w.train),
                "holdout_rows": len(w.holdout),
            }
        )
        mlflow.log_metrics(
            {
                **ours,
                "baseline_wape": naive["wape"],
                "baseline_mape": naive["mape"],
                "wape_vs_baseline": ours["wape"] / naive["wape"],
            }
        )
        mlflow.set_tags(
            {
                **dbt_lineage(),
                "quality_gate_passed": str(gate.passed).lower(),
                "quality_gate": gate.reason,
                "baseline": "same weekday last week",
            }
        )
        example = w.train[FEATURES].head(5)
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=config.PIP_REQUIREMENTS,
            skops_trusted_types=[*config.SKOPS_TRUSTED_TYPES, *config.DEMAND_TRUSTED_TYPES],
            registered_model_name=config.DEMAND_MODEL,
        )
    return {
        "model": config.DEMAND_MODEL,
        "run_id": run.info.run_id,
        "version": str(info.registered_model_version),
        "wape": round(ours["wape"], 4),
        "mape": round(ours["mape"], 4),
        "baseline_wape": round(naive["wape"], 4),
        "baseline_mape": round(naive["mape"], 4),
        "holdout": [str(w.holdout["day"].min().date()), str(w.holdout["day"].max().date())],
    }


def promote(wh, version: str) -> dict[str, Any]:
    """``champion`` if ``version`` beats the baseline and the champion on today's holdout."""
    w = split(daily_units(wh))
    baseline = errors(w.holdout["units"], w.holdout["baseline"])["wape"]
    metric = Metric("wape", False, baseline, "same-weekday-last-week baseline WAPE")
    return judge(
        wh,
        config.DEMAND_MODEL,
        version,
        metric,
        lambda model: errors(w.holdout["units"], model.predict(w.holdout[FEATURES]))["wape"],
    )


def score(wh, day: date | None = None) -> dict[str, Any]:
    """Forecast the next ``HORIZON`` days after the newest day with the champion into
    ``ml.demand_forecast`` (the rows of an earlier forecast from the same origin are replaced);
    each row names the model, its version and the MLflow run that trained it."""
    from .store import append

    ref = champion_ref(config.DEMAND_MODEL)
    uri, model = load(ref.name, ref.version)
    units = daily_units(wh)
    rows = design(units, [len(units) - 1], range(1, HORIZON + 1))
    origin = units.index[-1]
    out = pd.DataFrame(
        {
            "forecast_date": rows["day"],
            "category": rows["category"].astype(str),
            "origin_date": origin,
            "horizon_days": rows["horizon"].astype("int64"),
            "forecast_units": model.predict(rows[FEATURES]).astype("float64"),
            "baseline_units": rows["baseline"].astype("float64"),
            "model_name": ref.name,
            "model_version": int(ref.version),
            "model_run_id": ref.run_id,
            "model_uri": uri,
            "scored_date": pd.Timestamp(day or date.today()),
        }
    )
    written = append(wh, out, "ml", "demand_forecast", replace_where=("origin_date", origin))
    return {
        "table": "ml.demand_forecast",
        "rows": written,
        "origin_date": str(origin.date()),
        "model_uri": uri,
        "model_version": ref.version,
        "model_run_id": ref.run_id,
    }
