"""How learnable the generator's delivery-delay signal is, from ship-time features only.

``python -m benchmarks.delay_signal [--days 120] [--scale 1]`` generates data, trains a
gradient-boosting classifier on the first 75% of deliveries (by ship time) and reports ROC AUC on
the last 25% against a carrier-average baseline, plus the late rate by month.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

import duckdb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from data_generator import generate

FEATURES = """
with s as (select * from read_csv('{d}/shipments/*.csv', header = true, quote = '"',
                                  escape = '"') where status = 'delivered'),
     w as (select * from read_csv('{d}/weather_daily/*.csv', header = true, quote = '"',
                                  escape = '"'))
select s.carrier_id, s.facility_id, s.distance_km,
       date_diff('hour', s.shipped_at, s.promised_at) as lead_hours,
       dayofweek(s.shipped_at) as weekday, w.precipitation_mm, w.temperature_c,
       w.wind_speed_kmh, (w.condition = 'snow')::int as snow, (w.condition = 'storm')::int as storm,
       (s.delivered_at > s.promised_at)::int as late, month(s.shipped_at) as month
from s left join w on w.city = s.destination_city and w.weather_date = s.shipped_at::date
order by s.shipped_at
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.delay_signal")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(date(2026, 1, 1), args.days, args.scale, 42, Path(tmp))
        literal = tmp.replace("'", "''")  # the folder goes into a string literal
        df = duckdb.connect().execute(FEATURES.format(d=literal)).df()
    cut = int(len(df) * 0.75)
    x = df.drop(columns=["late", "month"]).to_numpy()
    y = df["late"].to_numpy()
    model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x[:cut], y[:cut])
    auc = roc_auc_score(y[cut:], model.predict_proba(x[cut:])[:, 1])
    carrier_rate = df.iloc[:cut].groupby("carrier_id")["late"].mean()
    baseline = roc_auc_score(y[cut:], df.iloc[cut:]["carrier_id"].map(carrier_rate))
    print(f"{len(df):,} delivered shipments, late rate {y.mean():.1%}")
    print(f"ROC AUC on the last 25%: model {auc:.3f}, carrier-average baseline {baseline:.3f}")
    print(
        "late rate by month: "
        + ", ".join(f"{m}: {r:.0%}" for m, r in df.groupby("month")["late"].mean().items())
    )


if __name__ == "__main__":
    main()
