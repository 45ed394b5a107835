"""Defaults of the ml package, in one place (each overridable from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local" / "mlflow"

DELAY_MODEL = "delivery_delay"
DEMAND_MODEL = "demand"
MODELS = (DELAY_MODEL, DEMAND_MODEL)
#: A new model must reach this holdout ROC AUC to be considered at all (shuffled labels: ~0.5).
MIN_AUC = float(os.environ.get("ML_MIN_AUC", "0.6"))
#: Share of the history (by ship date) held out for evaluation.
HOLDOUT_SHARE = 0.25
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]
#: Types a HistGradientBoosting model holds; we wrote these files ourselves (MLflow 3 saves with skops).
SKOPS_TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
#: The demand model is our own estimator (a structural forecast times a boosted correction).
DEMAND_TRUSTED_TYPES = ["ml.demand.DemandModel"]


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{LOCAL / 'mlflow.db'}"


def artifact_location() -> str:
    return os.environ.get("MLFLOW_ARTIFACT_LOCATION") or (LOCAL / "artifacts").as_uri()


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


#: Population stability index above which a feature counts as drifted (and retraining is due).
PSI_THRESHOLD = float(os.environ.get("ML_PSI_THRESHOLD", "0.2"))
