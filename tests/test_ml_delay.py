"""The delivery-delay model on a real warehouse: generated data, loaded, built by dbt, then trained
and promoted in a real MLflow (SQLite in a temporary folder) and scored back into DuckDB; labels
only once they can be known, weather only from before the ship day."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_generator import generate
from tests.dbt_support import run_dbt
from tests.ml_support import MARTS, ml_warehouse, postgres_warehouse
from tests.ml_support import gate as _gate

ROOT = Path(__file__).resolve().parent.parent
DAYS = 120
LAST_DAY = date(2026, 1, 1) + pd.Timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from ml_warehouse(tmp_path_factory.mktemp("ml"), days=DAYS)


def test_no_gate_table_means_gate_not_passed(env):
    from ingestion.warehouse import connect
    from ml.gate import latest_gate

    with connect() as wh:
        assert latest_gate(wh).reason.startswith("no quality gate result")


def test_outcomes_count_only_once_the_promise_plus_grace_has_passed():
    from ml.labels import known_late

    as_of = pd.Timestamp("2026-03-10 12:00")
    df = pd.DataFrame(
        {
            "promised_at": pd.to_datetime(
                [
                    "2026-03-05 21:00",
                    "2026-03-05 21:00",
                    "2026-03-05 21:00",
                    "2026-03-09 21:00",
                    "2026-03-12 21:00",
                ]
            ),
            "delivered_at": pd.to_datetime(
                [
                    "2026-03-04 10:00",
                    "2026-03-07 10:00",
                    None,
                    "2026-03-08 10:00",
                    "2026-03-09 10:00",
                ]
            ),
        }
    )
    got = known_late(df, as_of=as_of, grace=1).tolist()
    # on time; late; still in transit past its promise: late; promise + 1 day not yet passed
    # (even though delivered): unknown; promised in the future: unknown
    assert got[:3] == [0.0, 1.0, 1.0] and np.isnan(got[3]) and np.isnan(got[4])
    assert known_late(df, as_of=as_of, grace=0).tolist()[3] == 0.0


def test_labels_known_at_the_cut_are_the_final_outcomes(env, tmp_path):
    """Every outcome the model sees on day 120 equals the one 30 days later (read from the same
    seed's later files); dropping only the undelivered, as before, understated the late rate."""
    from ingestion.warehouse import connect
    from ml import delay

    with connect() as wh:
        df = delay.features(wh)
    generate(start=date(2026, 1, 1), days=DAYS + 30, scale=0.1, seed=42, out=tmp_path)
    later = pd.concat(pd.read_csv(f) for f in sorted((tmp_path / "shipments").glob("*.csv")))
    final = later.drop_duplicates("shipment_id", keep="last").set_index("shipment_id")
    truth = (
        pd.to_datetime(final["delivered_at"]).isna()
        | (pd.to_datetime(final["delivered_at"]) > pd.to_datetime(final["promised_at"]))
    ).astype(float)
    known = df[df["late"].notna()]
    assert len(known) > 0.8 * len(df)
    assert (known["late"].to_numpy() == truth.loc[known["shipment_id"]].to_numpy()).all()
    _, hold = delay.split(df)
    window = df[df["shipped_date"].between(hold["shipped_date"].min(), LAST_DAY)]
    resolved = truth.loc[window["shipment_id"]].mean()
    delivered = window[window["delivered_at"].notna()]
    old_rule = (delivered["delivered_at"] > delivered["promised_at"]).mean()
    print(
        f"holdout window {hold['shipped_date'].min()}..{LAST_DAY}: late rate {hold['late'].mean():.3f} "
        f"(outcomes known), {old_rule:.3f} (delivered only), {resolved:.3f} (all, once resolved)"
    )
    assert abs(hold["late"].mean() - resolved) < abs(old_rule - resolved)


def test_weather_is_the_destination_s_weather_of_the_day_before(env):
    """Snow on day D at a city changes the features of shipments to it on D + 1, not on D."""
    from ingestion.warehouse import connect
    from ml import delay

    with connect() as wh:
        city, day = wh.rows(
            "select destination_city, shipped_date from marts.fct_shipments "
            "where destination_weather_condition = 'clear' order by shipment_id limit 1"
        )[0]
        before = delay.features(wh).set_index("shipment_id")
        where = f"destination_city = '{city}' and shipped_date = date '{day}'"
        wh.execute(
            f"update marts.fct_shipments set destination_weather_condition = 'snow' where {where}"
        )
        try:
            after = delay.features(wh).set_index("shipment_id")
        finally:
            wh.execute(
                f"update marts.fct_shipments set destination_weather_condition = 'clear' where {where}"
            )
        ids = wh.frame(
            "select shipment_id, shipped_date from marts.fct_shipments "
            f"where destination_city = '{city}' and shipped_date in (date '{day}', date '{day}' + 1)"
        )
    same_day = ids.loc[pd.to_datetime(ids["shipped_date"]).dt.date == day, "shipment_id"]
    next_day = ids.loc[pd.to_datetime(ids["shipped_date"]).dt.date != day, "shipment_id"]
    assert len(same_day) and len(next_day)
    assert (
        after.loc[same_day, "is_snow"].fillna(-1) == before.loc[same_day, "is_snow"].fillna(-1)
    ).all()
    assert (after.loc[next_day, "is_snow"] == 1).all() and (
        before.loc[next_day, "is_snow"] == 0
    ).all()


def test_model_beats_base_rate_and_carrier_baseline_and_is_promoted(env):
    from mlflow.tracking import MlflowClient

    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as wh:
        trained = delay.train(wh)
        print("delay metrics:", trained)
        assert trained["roc_auc"] >= 0.72
        assert trained["roc_auc"] > trained["carrier_baseline_roc_auc"] + 0.02
        promoted = delay.promote(wh, trained["version"])
        assert promoted["alias"] == "champion", promoted
        scored = delay.score(wh)
        n, lo, hi = wh.rows(
            "select count(*), min(late_probability), max(late_probability) "
            "from ml.delivery_risk_scores"
        )[0]
        lineage = wh.rows(
            "select distinct model_name, model_version, model_run_id, model_uri "
            "from ml.delivery_risk_scores"
        )
    assert scored["rows"] == n > 1000 and 0 <= lo < hi <= 1
    assert lineage == [
        (
            "delivery_delay",
            int(trained["version"]),
            trained["run_id"],
            f"models:/delivery_delay/{trained['version']}",
        )
    ]
    run = MlflowClient().get_run(trained["run_id"]).data
    params = run.params
    assert params["train_start"] < params["train_end"] < params["holdout_start"]
    assert params["weather"] == "destination city, the day before shipping"
    # the dbt build that made the features: its manifest's hash and invocation
    import hashlib
    import json

    target = Path(env["ML_DBT_TARGET"])
    manifest = (target / "manifest.json").read_bytes()
    assert run.tags["dbt_manifest_sha256"] == hashlib.sha256(manifest).hexdigest()[:16]
    invocation = json.loads((target / "run_results.json").read_text())["metadata"]["invocation_id"]
    assert run.tags["dbt_invocation_id"] == invocation


def test_shuffled_labels_model_is_not_promoted(env):
    from mlflow.tracking import MlflowClient

    from ingestion.warehouse import connect
    from ml import config, delay

    with connect() as wh:
        trained = delay.train(wh, shuffle_labels=True)
        assert trained["roc_auc"] < 0.6
        promoted = delay.promote(wh, trained["version"])
    assert promoted["alias"] == "challenger"
    assert f"holdout roc_auc {trained['roc_auc']:.4f} does not beat 0.6000" in promoted["why"]
    champion = MlflowClient().get_model_version_by_alias(config.DELAY_MODEL, "champion")
    assert str(champion.version) != trained["version"]


def test_good_model_is_not_promoted_when_the_quality_gate_failed(env):
    from ingestion.warehouse import connect
    from ml import delay

    _gate(False)
    with connect() as wh:
        trained = delay.train(wh, seed=1)
        promoted = delay.promote(wh, trained["version"])
    assert promoted["alias"] == "challenger"
    assert "quality gate r-fail failed 1 error expectation" in promoted["why"]


@pytest.mark.postgres
def test_champion_scores_into_postgres(env):
    """The same champion scores marts held in PostgreSQL (a fresh database, dropped after)."""
    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as duck:
        delay.promote(duck, delay.train(duck)["version"])  # a champion, whatever ran before
        shipments = duck.frame("select * from marts.fct_shipments")
        orders = duck.frame("select order_id, units, lines_count from marts.fct_orders")
    with postgres_warehouse() as pg, connect(pg) as wh:
        wh.write(shipments, "marts", "fct_shipments")
        wh.write(orders, "marts", "fct_orders")
        scored = delay.score(wh)
        n, lo, hi, versions = wh.rows(
            "select count(*), min(late_probability), max(late_probability), "
            "count(distinct model_version) from ml.delivery_risk_scores"
        )[0]
        again = delay.score(wh)  # nothing new: the unscored shipments' query, on PostgreSQL
        sampled = delay.features(wh, start=date(2026, 2, 1), end=date(2026, 2, 28), every=3)
    with connect() as duck:
        want = delay.features(duck, start=date(2026, 2, 1), end=date(2026, 2, 28), every=3)
    assert scored["rows"] == n == len(shipments) and 0 <= lo < hi <= 1 and versions == 1
    assert again["rows"] == 0 and again["scored"] == "shipments not scored yet"
    assert len(sampled) > 100
    for frame in (sampled, want):  # the drivers differ in the unit of a timestamp only
        for column in ("shipped_at", "promised_at", "delivered_at"):
            frame[column] = frame[column].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(sampled, want, check_dtype=False)


class _Counting:
    """The warehouse, counting the rows each query brings into pandas."""

    def __init__(self, wh):
        self.wh, self.fetched = wh, []

    def frame(self, sql, params=None):
        df = self.wh.frame(sql, params)
        self.fetched.append((len(df), sql, params))
        return df

    def __getattr__(self, name):
        return getattr(self.wh, name)


def test_features_of_a_ship_window_equal_those_read_from_the_whole_history(env):
    """The window's rows, weather of the day before included (read from the day before the
    window), are those of the full read: the filter picks rows, it changes no value."""
    from ingestion.warehouse import connect
    from ml import delay

    with connect() as wh:
        every = delay.features(wh)
        start, end = date(2026, 2, 2), date(2026, 2, 8)
        window = delay.features(wh, start=start, end=end)
    expected = every[every["shipped_date"].between(start, end)].reset_index(drop=True)
    assert len(window) == len(expected) > 100
    assert window["is_snow"].notna().mean() > 0.8  # the day before's weather was read
    pd.testing.assert_frame_equal(window, expected)


def test_training_reads_a_deterministic_sample_of_at_most_ml_train_max_rows(env, monkeypatch):
    from ingestion.warehouse import connect
    from ml import delay

    with connect() as wh:
        total = wh.rows("select count(*) from marts.fct_shipments")[0][0]
        whole, every, _ = delay.training_frame(wh)
        assert every == 1 and len(whole) == total  # the default cap is far above 120 days
        monkeypatch.setenv("ML_TRAIN_MAX_ROWS", "1000")
        counting = _Counting(wh)
        sample, every, _ = delay.training_frame(counting)
        again, _, _ = delay.training_frame(wh)
    assert every == -(-total // 1000) > 1 and 0.8 * total / every <= len(sample) <= 1000
    assert max(n for n, _, _ in counting.fetched) == len(sample)  # nothing more reached pandas
    assert (sample["shipment_id"] % every == 0).all()
    pd.testing.assert_frame_equal(sample, again)  # the same rows each time
    # the sample's labels are the whole history's (known as of the newest event of all rows)
    full = whole.set_index("shipment_id").loc[sample["shipment_id"], "late"].to_numpy()
    np.testing.assert_array_equal(sample["late"].to_numpy(), full)


def test_the_daily_score_reads_only_the_shipments_not_scored_yet(env):
    """With every row scored by the champion, a run reads the new shipments only (here the last
    two days, taken out of the table) and gives them the scores a full run gives."""
    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as wh:
        delay.promote(wh, delay.train(wh)["version"])
        wh.execute("drop table if exists ml.delivery_risk_scores")
        first = delay.score(wh)
        full = wh.frame("select * from ml.delivery_risk_scores order by shipment_id")
        cut = full["shipped_date"].max() - pd.Timedelta(days=1)
        kept = full[full["shipped_date"] < cut]
        wh.write(kept, "ml", "delivery_risk_scores", replace=True)
        counting = _Counting(wh)
        daily = delay.score(counting)
        again = delay.score(wh)
        after = wh.frame("select * from ml.delivery_risk_scores order by shipment_id")
    new = len(full) - len(kept)
    assert first["scored"].startswith("every shipment") and first["rows"] == len(full)
    assert daily["scored"] == "shipments not scored yet" and daily["rows"] == new > 50
    assert max(n for n, _, _ in counting.fetched) == new  # not the history
    assert again["rows"] == 0
    pd.testing.assert_frame_equal(after, full)


def test_drift_reads_its_two_windows_and_measures_what_the_whole_history_gave(env):
    """The daily drift check reads only the training and the latest window; its rows are those
    computed from every shipment cut in pandas, as before."""
    from ingestion.warehouse import connect
    from ml import config, delay, drift

    training = (date(2026, 1, 5), date(2026, 3, 20))
    with connect() as wh:
        counting = _Counting(wh)
        train, latest, window, watches = drift.window_frames(
            counting, config.DELAY_MODEL, training, 7
        )
        frame, day, _ = drift.model_frame(wh, config.DELAY_MODEL)
    old_train, old_latest, old_window = drift.windows(frame, day, training, 7)
    assert window == old_window and watches == delay.DRIFT
    assert max(n for n, _, _ in counting.fetched) == len(train) < 0.7 * len(frame)
    kw = {"training_window": training, "latest_window": window, "version": "1"}
    new = drift.assess(config.DELAY_MODEL, watches, train, latest, **kw)
    old = drift.assess(config.DELAY_MODEL, watches, old_train, old_latest, **kw)
    pd.testing.assert_frame_equal(new.drop(columns="computed_at"), old.drop(columns="computed_at"))


def test_the_holdout_late_rate_when_trained_holds_once_outcomes_resolve(env, tmp_path):
    """Train on day 120, then load 20 more days and rebuild: evaluate reports the late rate of
    the version's own holdout window when trained next to the rate once resolved; they agree,
    because only outcomes that could be known were used."""
    from ingestion.warehouse import connect
    from ml import delay

    _gate(True)
    with connect() as wh:
        delay.promote(wh, delay.train(wh)["version"])
    generate(
        start=date(2026, 1, 1),
        days=DAYS + 20,
        scale=0.1,
        seed=42,
        out=Path(os.environ["LANDING_DIR"]),
    )
    loaded = subprocess.run(
        [sys.executable, "-m", "ingestion", "load", "--all"],
        cwd=ROOT, env={**os.environ}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    built = run_dbt(tmp_path, env, "run", "--select", *MARTS)
    assert built.returncode == 0, built.stdout[-4000:]
    with connect() as wh:
        report = delay.evaluate(wh)
    print(report)
    assert report["trained_holdout_resolved_share"] == 1.0
    then, now = report["trained_holdout_late_rate"], report["trained_holdout_late_rate_resolved"]
    assert abs(then - now) < 0.02, report
