"""Defaults of the ml package, in one place (each overridable from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

from platform_core.settings import current

DELAY_MODEL = "delivery_delay"
DEMAND_MODEL = "demand"
MODELS = (DELAY_MODEL, DEMAND_MODEL)
#: A new model must reach this holdout ROC AUC to be considered at all (shuffled labels: ~0.5).
MIN_AUC: float = current().get("ML_MIN_AUC")
#: Share of the history (by ship date) held out for evaluation.
HOLDOUT_SHARE = 0.25
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]
#: Types a HistGradientBoosting model holds; we wrote these files ourselves (MLflow 3 saves with skops).
SKOPS_TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
#: The demand model is our own estimator (a structural forecast times one calibration factor).
DEMAND_TRUSTED_TYPES = ["ml.demand.DemandModel"]


def one_thread():
    """Fit and predict on one OpenMP thread: the models are small, and on a shared machine
    OpenMP's busy-waiting threads cost far more than they give (a boosted fit of the delay model
    took 64 s with the default threads and a few seconds on one, on 2 busy cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def mlflow_dir() -> Path:
    """MLflow's local folder: ``<PLATFORM_LOCAL_DIR>/mlflow``."""
    return current().local_dir / "mlflow"


def tracking_uri() -> str:
    return current().get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def artifact_location() -> str:
    return current().get("MLFLOW_ARTIFACT_LOCATION") or (mlflow_dir() / "artifacts").as_uri()


def setup_mlflow(experiment: str) -> None:
    """Point MLflow at the tracking store and create ``experiment`` with its artifact root."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location())
    mlflow.set_experiment(experiment)


#: Drift limits by kind of watched feature (see ml.drift): a PSI above its limit (plus the
#: sampling noise of the two windows' sizes) is drift; for the demand forecast, the change of
#: log(actual/forecast) (either way) and of WAPE (worse only) between training and the latest
#: 14 days. Set on months of clean daily checks (benchmarks/ml_drift.py: 3 seeds x 180 days at
#: scale 0.1, no false alarm in 867 checks); the figures are that run's largest clean value and
#: the lowest value each shift of issue 20 reached. Override: ML_DRIFT_LIMIT_<NAME>.
DRIFT_LIMITS = {
    "category": 0.2,  # clean: at most 0.089; carrier 4 -> 5: 1.68 or more
    "numeric": 0.1,  # clean: at most 0.041; distance x1.25: 0.181 or more
    "weather": 1.0,  # clean, with the seasons: at most 0.50; a week of snow: 8.2 or more
    "bias": 0.2,  # clean: at most 0.126; demand halved over two weeks: 0.230 or more
    "error": 0.15,  # clean: at most 0.113
}


def drift_limit(name: str) -> float:
    """The limit ``name`` (a key of ``DRIFT_LIMITS``), or ``ML_DRIFT_LIMIT_<NAME>``."""
    if name not in DRIFT_LIMITS:
        raise ValueError(f"no drift limit {name!r}; known: {', '.join(DRIFT_LIMITS)}")
    variable = f"ML_DRIFT_LIMIT_{name.upper()}"
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return DRIFT_LIMITS[name]
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"{variable}={raw!r} is not a number (default {DRIFT_LIMITS[name]})"
        ) from None


def drift_min_count() -> int:
    """Categories seen fewer times in the training window are pooled (``ML_DRIFT_MIN_COUNT``)."""
    return current().get("ML_DRIFT_MIN_COUNT")


def train_max_rows() -> int:
    """Most shipments the delay model reads for training and its drift check
    (``ML_TRAIN_MAX_ROWS``): memory bounded whatever the history's length."""
    value = current().get("ML_TRAIN_MAX_ROWS")
    if value < 1:
        raise ValueError(f"ML_TRAIN_MAX_ROWS={value!r} must be 1 or more")
    return value


def known_model(model: str) -> str:
    """``model`` if it is one of ``MODELS`` (safe to put in SQL); else a clear error."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    return model
