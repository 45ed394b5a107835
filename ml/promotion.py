"""Champion/challenger promotion, shared by every model: one decision, one alert.

A new version takes ``champion`` only if its holdout metric passes the model's absolute bar (a
naive baseline or a minimum), is no worse than the current champion's on the same holdout
(``mlflow.validate_evaluation_results``), and the latest data-quality gate passed; otherwise it
becomes ``challenger``. Either way an alert says which and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import config
from .gate import latest_gate


@dataclass(frozen=True)
class Metric:
    """The holdout metric a model is judged on, and the bar a candidate must clear."""

    name: str
    greater_is_better: bool
    bar: float
    bar_reason: str


def current_champion(name: str) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient().get_model_version_by_alias(name, "champion").version
    except MlflowException:
        return None


def load(name: str, version: str | None = None) -> tuple[str, Any]:
    """``models:/<name>/<version>``, or ``models:/<name>@champion``: its URI and the model."""
    import mlflow

    config.setup_mlflow(name)
    uri = f"models:/{name}/{version}" if version else f"models:/{name}@champion"
    try:
        return uri, mlflow.sklearn.load_model(uri)
    except Exception as exc:
        raise RuntimeError(
            f"cannot load {uri}: {exc}. Train and promote first "
            f"(python -m ml retrain --model {name})"
        ) from exc


def judge(
    wh, name: str, version: str, metric: Metric, value_of: Callable[[Any], float]
) -> dict[str, Any]:
    """Measure ``version`` and the current champion with ``value_of(model)`` on the same holdout,
    then :func:`decide`."""
    config.setup_mlflow(name)
    champion = current_champion(name)
    candidate = value_of(load(name, version)[1])
    before = value_of(load(name, champion)[1]) if champion else None
    return decide(wh, name, version, metric, candidate, champion, before)


def decide(
    wh,
    name: str,
    version: str,
    metric: Metric,
    candidate: float,
    champion: str | None,
    champion_value: float | None,
) -> dict[str, Any]:
    """Set ``champion`` or ``challenger`` on ``version``; returns the decision and its reasons."""
    import mlflow
    from mlflow.models import EvaluationResult, MetricThreshold
    from mlflow.tracking import MlflowClient

    def result(value: float) -> EvaluationResult:
        return EvaluationResult(metrics={metric.name: value}, artifacts={})

    reasons = []
    try:
        mlflow.validate_evaluation_results(
            validation_thresholds={
                metric.name: MetricThreshold(
                    threshold=metric.bar,
                    min_absolute_change=0.0 if champion else None,
                    greater_is_better=metric.greater_is_better,
                )
            },
            candidate_result=result(candidate),
            baseline_result=result(champion_value) if champion else None,
        )
    except Exception as exc:  # ModelValidationFailedException
        reasons.append(f"validation failed: {str(exc).strip().splitlines()[-1]}")
    gate = latest_gate(wh)
    if not gate.passed:
        reasons.append(gate.reason)
    alias = "challenger" if reasons else "champion"
    MlflowClient().set_registered_model_alias(name, alias, version)
    better = ">=" if metric.greater_is_better else "<="
    why = "; ".join(reasons) or (
        f"holdout {metric.name} {candidate:.3f} {better} {metric.bar:.3f} ({metric.bar_reason})"
        + (f" and no worse than champion v{champion}" if champion else " (no champion before)")
        + f"; {gate.reason}"
    )
    out = {
        "model": name,
        "version": version,
        "alias": alias,
        metric.name: round(candidate, 4),
        "champion_before": champion,
        "why": why,
    }
    _alert(out, metric.name)
    return out


def _alert(result: dict[str, Any], metric: str) -> None:
    """Tell the team which alias the version took and why (Slack/email when configured)."""
    from quality.alerts import Alert
    from quality.notify import send_alert

    name = result["model"]
    alert = Alert(
        severity="info" if result["alias"] == "champion" else "warning",
        source="ml",
        title=f"{name} v{result['version']} is {result['alias']}",
        where=f"models:/{name}@{result['alias']}",
        deviation=f"holdout {metric} {result[metric]}",
        since=datetime.now(UTC),
        details=(("why", result["why"]), ("MLflow", config.tracking_uri())),
    )
    # an unreachable channel must not undo a promotion: delivery errors are logged, not raised
    result["alert_channels"] = send_alert(alert, raise_errors=False)
    result["alert"] = alert.title
