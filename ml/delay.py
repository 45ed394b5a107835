"""Delivery-delay risk: score each shipment, at ship time, for arriving late.

Features are only what is known when the parcel leaves, read from the marts: carrier, facility,
distance, weekday, promised lead time, order size, and the destination's weather **the day
before** shipping. ``fct_shipments`` records the weather observed over the ship day itself, while
parcels leave between 07:00 and 19:00: part of that day is still to come at ship time (a small
look-ahead), and no forecast is stored. So each shipment takes the weather its destination city
had the previous day, as recorded on that day's shipments to the city (``fct_shipments`` only: the
model reads marts). A city with no shipment the day before has no known weather (null, which the
model handles as missing): 6-7% of shipments at scale 0.1 (seeds 1-3), fewer at
larger scales.

Outcomes count only once they can be known (:mod:`ml.labels`). The split is by ship date: the last
``HOLDOUT_SHARE`` of the days with known outcomes is the holdout.

What reaches pandas is bounded in the warehouse, with bound values: training, evaluation and
promotion read at most ``ML_TRAIN_MAX_ROWS`` shipments (every ``k``-th shipment id beyond that,
:func:`training_frame`), the daily score the shipments not scored yet, the drift check its two
windows. Weekday and lead time are derived in pandas on those rows (the engines number weekdays
and subtract timestamps differently).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from . import config
from .gate import latest_gate
from .labels import grace_days, known_late
from .lineage import dbt_lineage
from .promotion import Metric, champion_ref, judge, load
from .watch import Watch

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

#: Shallow trees with large leaves: without them the boosted model overfits small histories
#: (holdout ROC AUC on the 14-day sample 0.57 with sklearn's defaults, below the 0.6 bar; 0.70 so;
#: on 90 to 180 days 0.74-0.78 against 0.74-0.77 with the defaults).
MAX_DEPTH = 3
MIN_SAMPLES_LEAF = 200

#: How each feature is watched for drift (:mod:`ml.drift`): ids and the weekday as categories
#: (never binned as numbers), weather flags as categories, measures in quantile bins. Weather has
#: its own, wider limit: it moves with the seasons (see ``config.DRIFT_LIMITS``).
DRIFT = (
    Watch("carrier_id", "category"),
    Watch("facility_id", "category"),
    Watch("weekday", "category"),
    Watch("distance_km", "numeric"),
    Watch("lead_hours", "numeric"),
    Watch("order_units", "numeric"),
    Watch("order_lines", "numeric"),
    Watch("is_snow", "category", "weather"),
    Watch("is_storm", "category", "weather"),
    Watch("is_rain", "category", "weather"),
    Watch("precipitation_mm", "numeric", "weather"),
)

#: The features of the shipments ``{where}`` picks (``s`` is ``marts.fct_shipments``), the weather
#: of the destination the day before (``{weather_where}`` bounds the ship days it reads). Both
#: filters are fixed SQL text with bound values only (:func:`_filters`).
SQL = """
with

city_weather as (
    -- every shipment to a city on a day carries the weather observed there that day
    select
        destination_city,
        destination_state,
        cast(shipped_date as date) as weather_date,
        max(destination_weather_condition) as condition,
        max(destination_precipitation_mm) as precipitation_mm
    from marts.fct_shipments
    {weather_where}
    group by destination_city, destination_state, cast(shipped_date as date)
)

select
    s.shipment_id,
    s.shipped_date,
    s.shipped_at,
    s.promised_at,
    s.delivered_at,
    cast(s.carrier_id as double precision) as carrier_id,
    cast(s.facility_id as double precision) as facility_id,
    cast(s.distance_km as double precision) as distance_km,
    cast(w.precipitation_mm as double precision) as precipitation_mm,
    cast(case when w.condition = 'snow' then 1 when w.condition is not null then 0 end
        as double precision) as is_snow,
    cast(case when w.condition = 'storm' then 1 when w.condition is not null then 0 end
        as double precision) as is_storm,
    cast(case when w.condition = 'rain' then 1 when w.condition is not null then 0 end
        as double precision) as is_rain,
    cast(coalesce(o.units, 0) as double precision) as order_units,
    cast(coalesce(o.lines_count, 0) as double precision) as order_lines
from marts.fct_shipments as s
left join city_weather as w
    on w.destination_city = s.destination_city
    and w.destination_state = s.destination_state
    and w.weather_date = cast(s.shipped_date as date) - 1
left join marts.fct_orders as o on o.order_id = s.order_id
{where}
order by s.shipped_at, s.shipment_id
"""

#: Shipments not scored yet (:func:`score`): the day's new rows, not the history.
UNSCORED = (
    "not exists (select 1 from ml.delivery_risk_scores as r where r.shipment_id = s.shipment_id)"
)


def _filters(
    wh, start: date | None, end: date | None, every: int, unscored: bool = False
) -> tuple[str, str, list]:
    """The ``where`` of the shipments and of the weather they need, and the bound values (in
    the order they appear in :data:`SQL`: the weather's first)."""
    mark = wh.mark
    weather, weather_params, where, params = [], [], [], []
    if start is not None:
        weather.append(f"cast(shipped_date as date) >= cast({mark} as date)")
        weather_params.append(start - timedelta(days=1))  # the day before the first ship day
        where.append(f"cast(s.shipped_date as date) >= cast({mark} as date)")
        params.append(start)
    if end is not None:
        weather.append(f"cast(shipped_date as date) <= cast({mark} as date)")
        weather_params.append(end)
        where.append(f"cast(s.shipped_date as date) <= cast({mark} as date)")
        params.append(end)
    if every > 1:
        where.append(f"mod(s.shipment_id, {mark}) = 0")
        params.append(int(every))
    if unscored:
        where.append(UNSCORED)

    # both sides cast to date: a driver may bind a date as text, a copied table hold it as text

    def clause(parts: list[str]) -> str:
        return ("where " + "\n    and ".join(parts)) if parts else ""

    return clause(weather), clause(where), [*weather_params, *params]


def newest_event_in(wh) -> pd.Timestamp | None:
    """The newest ship or delivery time in ``marts.fct_shipments`` (what the data knows up to),
    as :func:`ml.labels.newest_event` of all shipments, aggregated by the engine."""
    got = wh.frame(
        "select max(shipped_at) as shipped_at, max(delivered_at) as delivered_at "
        "from marts.fct_shipments"
    )
    moments = [pd.Timestamp(v) for v in got.iloc[0] if not pd.isna(v)]
    return max(moments) if moments else None


def features(
    wh,
    as_of: pd.Timestamp | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    every: int = 1,
    unscored: bool = False,
) -> pd.DataFrame:
    """The features of the shipments shipped from ``start`` to ``end`` (default: all), of every
    ``every``-th shipment id (a deterministic sample, :func:`training_stride`), or of those not
    scored yet (``unscored``); and ``late`` where the outcome is known at ``as_of`` (default: the
    newest event in ``marts.fct_shipments``). Filters run in the warehouse with bound values;
    only the chosen rows reach pandas."""
    weather_where, where, params = _filters(wh, start, end, every, unscored)
    df = wh.frame(SQL.format(weather_where=weather_where, where=where), params)
    if df.empty and start is None and end is None and not unscored:
        raise ValueError("marts.fct_shipments has no shipments: load bronze and build the marts")
    df["shipped_date"] = pd.to_datetime(df["shipped_date"]).dt.date
    for column in ("shipped_at", "promised_at", "delivered_at"):
        df[column] = pd.to_datetime(df[column])
    # computed here, not in SQL, where engines differ (day numbering, interval arithmetic), on
    # the rows already chosen: the weekday as PostgreSQL's extract(dow) numbers it
    # (0 = Sunday), the lead in hours
    df["weekday"] = ((df["shipped_at"].dt.dayofweek + 1) % 7).astype("float64")
    df["lead_hours"] = (df["promised_at"] - df["shipped_at"]).dt.total_seconds() / 3600.0
    if as_of is None:
        as_of = newest_event_in(wh) if len(df) else None
    df["late"] = known_late(df, as_of) if len(df) else pd.Series(dtype="float64")
    return df


def training_stride(wh, start: date | None = None, end: date | None = None) -> int:
    """``k`` such that every ``k``-th shipment id of ``start`` to ``end`` (default: all) is at
    most ``ML_TRAIN_MAX_ROWS`` shipments (1: all of them)."""
    mark = wh.mark
    where, params = [], []
    if start is not None:
        where.append(f"cast(shipped_date as date) >= cast({mark} as date)")
        params.append(start)
    if end is not None:
        where.append(f"cast(shipped_date as date) <= cast({mark} as date)")
        params.append(end)
    sql = "select count(*) as n from marts.fct_shipments"
    if where:
        sql += " where " + " and ".join(where)
    n = int(wh.frame(sql, params).iloc[0, 0])
    return max(1, -(-n // config.train_max_rows()))


def training_frame(wh) -> tuple[pd.DataFrame, int, pd.Timestamp]:
    """What train, evaluate and promote read: every shipment, or a deterministic sample of at
    most ``ML_TRAIN_MAX_ROWS`` (every ``k``-th shipment id, chosen in the warehouse), so their
    memory does not grow with the history; ``k``; and the time the labels are known at."""
    every = training_stride(wh)
    as_of = newest_event_in(wh)
    return features(wh, as_of, every=every), every, as_of


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-based split of shipments with known outcomes: earlier days train, the last hold out."""
    done = df[df["late"].notna()].copy()
    days = sorted(done["shipped_date"].unique())
    if len(days) < 4:
        raise ValueError(
            f"marts.fct_shipments has shipments with known outcomes (promise plus "
            f"{grace_days():g} day(s) passed) on {len(days)} ship day(s); at least 4 are needed "
            "for a time-based split: load more days and rebuild the marts"
        )
    cut = days[int(len(days) * (1 - config.HOLDOUT_SHARE))]
    train, hold = done[done["shipped_date"] < cut], done[done["shipped_date"] >= cut]
    if train["late"].nunique() < 2 or hold["late"].nunique() < 2:
        raise ValueError("training or holdout window has only one class of delivery outcome")
    return train, hold


def _auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _late_probability(model, df: pd.DataFrame):
    with config.one_thread():
        return model.predict_proba(df[FEATURES])[:, 1]


def train(
    wh, *, shuffle_labels: bool = False, seed: int = 0, max_iter: int = 150
) -> dict[str, Any]:
    """Train, log to MLflow, register a new version; returns run id, version and metrics.

    ``shuffle_labels`` permutes the training labels (a sanity test: such a model must not win);
    ``max_iter`` is the number of boosting rounds (fewer make a weaker model).
    """
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingClassifier

    df, every, as_of = training_frame(wh)
    tr, ho = split(df)
    y = tr["late"].astype(int).to_numpy()
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    with config.one_thread():
        model = HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=0.08,
            max_depth=MAX_DEPTH,
            min_samples_leaf=MIN_SAMPLES_LEAF,
            categorical_features=[0, 1],
            random_state=seed,
        ).fit(tr[FEATURES], y)
        y_ho = ho["late"].astype(int).to_numpy()
        auc = _auc(y_ho, model.predict_proba(ho[FEATURES])[:, 1])
    carrier_rate = tr.assign(late=y).groupby("carrier_id")["late"].mean()
    base_rate = float(y.mean())
    carrier_auc = _auc(y_ho, ho["carrier_id"].map(carrier_rate).fillna(base_rate))
    in_holdout = df["shipped_date"].between(ho["shipped_date"].min(), ho["shipped_date"].max())
    gate = latest_gate(wh)
    config.setup_mlflow(config.DELAY_MODEL)
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params(
            {
                "model": "HistGradientBoostingClassifier",
                "max_iter": max_iter,
                "max_depth": MAX_DEPTH,
                "min_samples_leaf": MIN_SAMPLES_LEAF,
                "features": ",".join(FEATURES),
                "weather": "destination city, the day before shipping",
                "shuffled_labels": shuffle_labels,
                "train_start": str(tr["shipped_date"].min()),
                "train_end": str(tr["shipped_date"].max()),
                "holdout_start": str(ho["shipped_date"].min()),
                "holdout_end": str(ho["shipped_date"].max()),
                "train_rows": len(tr),
                "holdout_rows": len(ho),
                "labels_as_of": str(as_of),
                "sample_every": every,
                "label_grace_days": grace_days(),
            }
        )
        mlflow.log_metrics(
            {
                "roc_auc": auc,
                "carrier_baseline_roc_auc": carrier_auc,
                "base_rate": base_rate,
                "holdout_late_rate": float(y_ho.mean()),
                "holdout_known_share": float(len(ho) / in_holdout.sum()),
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
        "model": config.DELAY_MODEL,
        "run_id": run.info.run_id,
        "version": str(info.registered_model_version),
        "roc_auc": round(auc, 4),
        "carrier_baseline_roc_auc": round(carrier_auc, 4),
        "base_rate": round(base_rate, 4),
        "holdout": [str(ho["shipped_date"].min()), str(ho["shipped_date"].max())],
        "holdout_late_rate": round(float(y_ho.mean()), 4),
    }


def evaluate(wh, version: str | None = None) -> dict[str, Any]:
    """Holdout ROC AUC of a registered version (default: the champion) and of the baselines on
    today's holdout; and, for the window the version was judged on when trained, its late rate
    then next to the late rate now that more outcomes have resolved."""
    from mlflow.tracking import MlflowClient

    df, _, _ = training_frame(wh)
    tr, ho = split(df)
    version = version or champion_ref(config.DELAY_MODEL).version
    _, model = load(config.DELAY_MODEL, version)
    y = ho["late"].astype(int).to_numpy()
    base_rate = float(tr["late"].mean())
    carrier = ho["carrier_id"].map(tr.groupby("carrier_id")["late"].mean()).fillna(base_rate)
    client = MlflowClient()
    run = client.get_run(client.get_model_version(config.DELAY_MODEL, version).run_id).data
    then = (date.fromisoformat(run.params["holdout_start"]), run.params["holdout_end"])
    window = df[df["shipped_date"].between(then[0], date.fromisoformat(then[1]))]
    resolved = window["late"].dropna()
    return {
        "model": config.DELAY_MODEL,
        "version": str(version),
        "holdout": [str(ho["shipped_date"].min()), str(ho["shipped_date"].max())],
        "roc_auc": round(_auc(y, _late_probability(model, ho)), 4),
        "carrier_baseline_roc_auc": round(_auc(y, carrier), 4),
        "base_rate": round(base_rate, 4),
        "holdout_late_rate": round(float(y.mean()), 4),
        "trained_holdout": [str(then[0]), then[1]],
        "trained_holdout_late_rate": round(run.metrics["holdout_late_rate"], 4),
        "trained_holdout_late_rate_resolved": (
            round(float(resolved.mean()), 4) if len(resolved) else None
        ),
        "trained_holdout_resolved_share": round(len(resolved) / max(len(window), 1), 4),
    }


def promote(wh, version: str) -> dict[str, Any]:
    """``champion`` if ``version`` beats the champion on today's holdout and the gate passed."""
    _, ho = split(training_frame(wh)[0])
    y = ho["late"].astype(int).to_numpy()
    metric = Metric("roc_auc", True, config.MIN_AUC, "the minimum ROC AUC, ML_MIN_AUC")
    return judge(
        wh,
        config.DELAY_MODEL,
        version,
        metric,
        lambda model: _auc(y, _late_probability(model, ho)),
    )


#: Ship days read at once when every shipment is scored again (a new champion).
SCORE_CHUNK_DAYS = 31


def _scored_by(wh, ref) -> bool:
    """Whether ``ml.delivery_risk_scores`` has rows, every one of them by the champion ``ref``."""
    if not wh.table_exists("ml", "delivery_risk_scores"):
        return False
    mark = wh.mark
    got = wh.frame(
        "select count(*) as n, coalesce(sum(case when model_name = "
        f"{mark} and model_version = {mark} and model_run_id = {mark} then 0 else 1 end), 0) "
        "as other from ml.delivery_risk_scores",
        [ref.name, int(ref.version), ref.run_id],
    )
    n, other = (int(v) for v in got.iloc[0])
    return n > 0 and other == 0


def ship_days(wh) -> tuple[date, date]:
    got = wh.frame(
        "select min(shipped_date) as first, max(shipped_date) as last from marts.fct_shipments"
    )
    first, last = got.iloc[0]
    if pd.isna(first):
        raise ValueError("marts.fct_shipments has no shipments: load bronze and build the marts")
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


def score(wh, day: date | None = None) -> dict[str, Any]:
    """Score with the champion into ml.delivery_risk_scores (one row per shipment); each row
    names the model, its version and the MLflow run that trained it, and ``scored_date`` the day
    of the run that scored it.

    When every row there is already the champion's, only the shipments not scored yet are read
    and appended (a daily run reads its day, not the history). Otherwise (a new champion, no
    table yet) every shipment is scored again, read ``SCORE_CHUNK_DAYS`` ship days at a time,
    and written a chunk at a time beside the table, which it then replaces
    (``Warehouse.replace_by_parts``: memory holds one chunk, not every shipment's score)."""
    ref = champion_ref(config.DELAY_MODEL)
    uri, model = load(ref.name, ref.version)
    day = day or date.today()
    as_of = newest_event_in(wh)

    def scores(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "shipment_id": df["shipment_id"].astype("int64"),
                "shipped_date": pd.to_datetime(df["shipped_date"]),
                "late_probability": _late_probability(model, df).astype("float64"),
                "model_name": ref.name,
                "model_version": int(ref.version),
                "model_run_id": ref.run_id,
                "model_uri": uri,
                "scored_date": pd.Timestamp(day),
            }
        )

    if _scored_by(wh, ref):
        new = features(wh, as_of, unscored=True)
        rows = wh.write(scores(new), "ml", "delivery_risk_scores") if len(new) else 0
        scope = "shipments not scored yet"
    else:
        first, last = ship_days(wh)

        def parts() -> Iterator[pd.DataFrame]:
            start = first
            while start <= last:
                end = min(start + timedelta(days=SCORE_CHUNK_DAYS - 1), last)
                chunk = features(wh, as_of, start=start, end=end)
                if len(chunk):
                    yield scores(chunk)
                start = end + timedelta(days=1)

        rows = wh.replace_by_parts(parts(), "ml", "delivery_risk_scores")
        scope = "every shipment (new champion or no scores yet)"
    return {
        "table": "ml.delivery_risk_scores",
        "rows": rows,
        "scored": scope,
        "model_uri": uri,
        "model_version": ref.version,
        "model_run_id": ref.run_id,
    }
