"""Champion/challenger promotion, shared by every model: one decision, recorded, one alert.

A new version is measured next to the current champion on the same holdout (today's data). It
takes ``champion`` only if

1. its holdout metric beats the model's absolute bar (a naive baseline, or a minimum),
2. it is strictly better than the champion's on that holdout (by more than
   ``ML_MIN_IMPROVEMENT``, default 0: an equal version does not replace the champion), and
3. the latest bronze data-quality gate passed;

otherwise it becomes ``challenger``. On promotion the champion it replaces takes the alias
``previous_champion`` (still loadable as ``models:/<name>@previous_champion``). Either way the
version carries the decision as tags (``promotion_decision``, ``promotion_reason``,
``promotion_compared_with``, ``promotion_decided_at``) and an alert says which and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from platform_core.settings import current

from . import config
from .gate import latest_gate

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"
#: Tags every judged version carries (read back by :mod:`ml.report`).
TAG_DECISION, TAG_REASON = "promotion_decision", "promotion_reason"
TAG_COMPARED, TAG_AT = "promotion_compared_with", "promotion_decided_at"


def min_improvement() -> float:
    """How much better than the champion a challenger must be (``ML_MIN_IMPROVEMENT``)."""
    value = current().get("ML_MIN_IMPROVEMENT")
    if value < 0:
        raise ValueError(f"ML_MIN_IMPROVEMENT={value!r} must be 0 or more")
    return value


@dataclass(frozen=True)
class Metric:
    """The holdout metric a model is judged on, and the bar a candidate must beat."""

    name: str
    greater_is_better: bool
    bar: float
    bar_reason: str

    def beats(self, value: float, other: float, margin: float = 0.0) -> bool:
        """``value`` strictly better than ``other`` by more than ``margin``."""
        if self.greater_is_better:
            return value > other + margin
        return value < other - margin


@dataclass(frozen=True)
class ModelRef:
    """One registered version: what a score row records about the model that wrote it."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def current_champion(name: str) -> str | None:
    """The version holding ``champion``, or None (no model or no alias yet)."""
    return alias_version(name, CHAMPION)


def alias_version(name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def champion_ref(name: str) -> ModelRef:
    """The champion's version and run id; a clear error when there is none."""
    from mlflow.tracking import MlflowClient

    config.setup_mlflow(name)
    version = current_champion(name)
    if version is None:
        raise RuntimeError(
            f"{name} has no champion yet: train and promote first (python -m ml retrain "
            f"--model {name})"
        )
    mv = MlflowClient().get_model_version(name, version)
    return ModelRef(name, str(mv.version), mv.run_id)


def load(name: str, version: str | None = None) -> tuple[str, Any]:
    """``models:/<name>/<version>`` (default: the champion's version): its URI and the model."""
    import mlflow

    config.setup_mlflow(name)
    version = version or champion_ref(name).version
    uri = f"models:/{name}/{version}"
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


def reasons_against(
    metric: Metric,
    candidate: float,
    champion: str | None,
    champion_value: float | None,
    margin: float = 0.0,
) -> list[str]:
    """Why ``candidate`` may not take ``champion`` on the metric alone (empty: it may)."""
    reasons = []
    if not metric.beats(candidate, metric.bar):
        reasons.append(
            f"holdout {metric.name} {candidate:.4f} does not beat {metric.bar:.4f} "
            f"({metric.bar_reason})"
        )
    has_champion = champion is not None and champion_value is not None
    if has_champion and not metric.beats(candidate, champion_value, margin):
        how = "equal to" if candidate == champion_value else "not better than"
        extra = f" by more than ML_MIN_IMPROVEMENT={margin:g}" if margin else ""
        reasons.append(
            f"holdout {metric.name} {candidate:.4f} is {how} champion v{champion}'s "
            f"{champion_value:.4f} on the same holdout{extra}"
        )
    return reasons


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
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = str(version)
    if champion == version:
        return {"model": name, "version": version, "alias": CHAMPION,
                metric.name: round(candidate, 4), "champion_before": champion,
                "why": f"v{version} is already champion"}  # fmt: skip
    reasons = reasons_against(metric, candidate, champion, champion_value, min_improvement())
    gate = latest_gate(wh)
    if not gate.passed:
        reasons.append(gate.reason)
    alias = CHALLENGER if reasons else CHAMPION
    better = ">" if metric.greater_is_better else "<"
    if alias == CHAMPION:
        why = (
            f"holdout {metric.name} {candidate:.4f} {better} {metric.bar:.4f} ({metric.bar_reason})"
            + (
                f" and {better} champion v{champion}'s {champion_value:.4f}"
                if champion
                else " (no champion before)"
            )
            + f"; {gate.reason}"
        )
        if champion:
            client.set_registered_model_alias(name, PREVIOUS, champion)
            client.set_model_version_tag(name, champion, "promotion_replaced_by", version)
        client.set_registered_model_alias(name, CHAMPION, version)
        if alias_version(name, CHALLENGER) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
    else:
        why = "; ".join(reasons)
        client.set_registered_model_alias(name, CHALLENGER, version)
    compared = (
        f"v{champion} ({metric.name} {champion_value:.4f})"
        if champion is not None and champion_value is not None
        else "no champion"
    )
    for key, value in {
        TAG_DECISION: alias,
        TAG_REASON: why[:4900],
        TAG_COMPARED: compared,
        TAG_AT: datetime.now(UTC).isoformat(timespec="seconds"),
    }.items():
        client.set_model_version_tag(name, version, key, value)
    out = {
        "model": name,
        "version": version,
        "alias": alias,
        metric.name: round(candidate, 4),
        "champion_before": champion,
        f"champion_{metric.name}": None if champion_value is None else round(champion_value, 4),
        "why": why,
    }
    _alert(out, metric.name)
    return out


def _alert(result: dict[str, Any], metric: str) -> None:
    """Tell the team which alias the version took and why (Slack/email when configured)."""
    from quality.alerts import Alert
    from quality.notify import send_alert
    from quality.settings import mlflow_ui_url

    name = result["model"]
    promoted = result["alias"] == CHAMPION
    alert = Alert(
        severity="info" if promoted else "warning",
        source="ml",
        title=(
            f"{name} v{result['version']} is champion"
            if promoted
            else f"{name} v{result['version']} stays challenger (not promoted)"
        ),
        where=f"models:/{name}@{result['alias']}",
        deviation=f"holdout {metric} {result[metric]}",
        since=datetime.now(UTC),
        details=(("why", result["why"]), ("MLflow", config.tracking_uri())),
        # the version's page in the MLflow UI that `make docs` serves (MLFLOW_UI_URL)
        link=f"{mlflow_ui_url()}/#/models/{name}/versions/{result['version']}",
    )
    # an unreachable channel must not undo a promotion: delivery errors are logged, not raised
    result["alert_channels"] = send_alert(alert, raise_errors=False)
    result["alert"] = alert.title
