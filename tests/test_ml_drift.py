"""PSI on real computed distributions, and the drift rows written to a real DuckDB."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml.drift import feature_drift, psi, store

WINDOWS = {
    "training_window": (date(2026, 1, 1), date(2026, 3, 31)),
    "latest_window": (date(2026, 4, 1), date(2026, 4, 7)),
}


def _frame(shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "distance_km": rng.normal(300 + shift, 50, 5000),
            "carrier_id": rng.choice(
                ["dhl", "ups", "gls"], 5000, p=[0.5, 0.3, 0.2] if shift == 0 else [0.1, 0.3, 0.6]
            ),
        }
    )


def test_psi_is_zero_for_identical_windows():
    df = _frame(0, 1)
    assert psi(df["distance_km"], df["distance_km"]) == pytest.approx(0, abs=1e-9)
    assert psi(df["carrier_id"], df["carrier_id"]) == pytest.approx(0, abs=1e-9)


def test_psi_is_large_for_a_shifted_distribution_and_small_for_a_resample():
    base, same, shifted = _frame(0, 1), _frame(0, 2), _frame(100, 3)
    assert psi(base["distance_km"], same["distance_km"]) < 0.05
    assert psi(base["distance_km"], shifted["distance_km"]) > 1.0
    assert psi(base["carrier_id"], shifted["carrier_id"]) > 0.5


def test_empty_window_names_the_problem():
    with pytest.raises(ValueError, match="empty"):
        psi(pd.Series([1.0, 2.0]), pd.Series([], dtype=float))


def test_drift_rows_are_written_to_the_warehouse(tmp_path, monkeypatch):
    from ingestion.warehouse import connect

    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "wh.duckdb"))
    drift = feature_drift(
        "delivery_delay", _frame(0, 1), _frame(100, 3), ["distance_km", "carrier_id"], **WINDOWS
    )
    with connect() as wh:
        assert store(wh, drift) == 2
        got = wh.frame("select feature, psi, drifted from ml.feature_drift order by feature")
    print(got)
    assert got["feature"].tolist() == ["carrier_id", "distance_km"]
    assert got["drifted"].all()
