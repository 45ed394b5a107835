"""What each model is doing, in a few sentences: the ``make run`` summary and ``python -m ml
evaluate`` print the same statement.

Per model: the version in use (``champion``), whether the newest version was promoted and if
not why (the reason its promotion recorded), its holdout metric against the baselines on
today's data, the last drift verdict and why, and the score rows written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import config

#: The mart over each model's scores, and the score table under it.
SCORES = {
    config.DELAY_MODEL: ("marts.fct_delivery_risk", "ml.delivery_risk_scores"),
    config.DEMAND_MODEL: ("marts.fct_demand_forecast", "ml.demand_forecast"),
}


@dataclass(frozen=True)
class Status:
    """One model's state, as the statement reports it."""

    model: str
    champion: str | None
    newest: str | None
    newest_decision: str | None
    newest_reason: str | None
    holdout: dict[str, Any] | None
    holdout_error: str | None
    drift: dict[str, Any] | None
    scores: str

    def lines(self) -> list[str]:
        return [f"  {self.model:<15} {self._versions()}", *(f"    {x}" for x in self._details())]

    def _versions(self) -> str:
        if self.newest is None:
            return "no version registered yet (python -m ml retrain)"
        held = f"v{self.champion} is champion" if self.champion else "no champion"
        if self.newest == self.champion:
            return f"{held} (the newest version, promoted)"
        if self.newest_decision is None:
            return f"{held}; newest v{self.newest} not judged yet (python -m ml promote)"
        if self.newest_decision == "champion":  # the alias was moved by hand since
            return f"{held}; newest v{self.newest} was promoted, then the champion alias moved"
        return f"{held}; newest v{self.newest} not promoted: {self.newest_reason}"

    def _details(self) -> list[str]:
        out = []
        if self.holdout is not None:
            out.append(holdout_sentence(self.holdout))
        elif self.holdout_error is not None:
            out.append(f"holdout not measured: {self.holdout_error}")
        if self.drift is None:
            out.append("drift: no check stored yet (python -m ml drift)")
        else:
            d = self.drift
            out.append(
                f"drift {d['latest_window'][0]}..{d['latest_window'][1]} against training "
                f"{d['training_window'][0]}..{d['training_window'][1]}: {d['why']}"
            )
        out.append(self.scores)
        return out


def holdout_sentence(h: dict[str, Any]) -> str:
    """One line from an ``evaluate`` result: the metric against the baselines."""
    span = f"holdout {h['holdout'][0]}..{h['holdout'][1]}"
    if h["model"] == config.DELAY_MODEL:
        out = (
            f"{span}: ROC AUC {h['roc_auc']:.3f} vs carrier-average baseline "
            f"{h['carrier_baseline_roc_auc']:.3f} (0.5 = no skill); late rate "
            f"{h['holdout_late_rate']:.3f}"
        )
        resolved = h.get("trained_holdout_late_rate_resolved")
        if resolved is not None and h["trained_holdout"] != h["holdout"]:
            out += (
                f"; v{h['version']}'s own holdout {h['trained_holdout'][0]}.."
                f"{h['trained_holdout'][1]}: late rate {h['trained_holdout_late_rate']:.3f} "
                f"when trained, {resolved:.3f} as resolved now"
            )
        return out
    return (
        f"{span}: WAPE {h['wape']:.3f} vs same-weekday-last-week baseline "
        f"{h['baseline_wape']:.3f} (MAPE {h['mape']:.3f} vs {h['baseline_mape']:.3f})"
    )


def _registry(model: str) -> tuple[str | None, str | None, dict[str, str]]:
    """Champion version, newest version and the newest version's tags."""
    from mlflow.tracking import MlflowClient

    from .promotion import current_champion

    config.setup_mlflow(model)
    versions = MlflowClient().search_model_versions(f"name = '{config.known_model(model)}'")
    if not versions:
        return None, None, {}
    newest = max(versions, key=lambda v: int(v.version))
    return current_champion(model), str(newest.version), dict(newest.tags)


def _scores(wh, model: str) -> str:
    """Score rows in the table and the mart, and which versions wrote them."""
    from .store import columns

    mart, table = SCORES[model]
    schema, rel = table.split(".")
    have = columns(wh, schema, rel)
    if not have:
        return f"scores: none yet ({table} is written once a version is champion)"
    if "model_version" in have:
        counts = wh.rows(f"select model_version, count(*) from {table} group by 1 order by 1")
    else:
        counts = [(None, wh.rows(f"select count(*) from {table}")[0][0])]
    by = ", ".join(
        f"{n:,} by v{v}" if v is not None else f"{n:,} by an unrecorded version" for v, n in counts
    )
    mart_schema, mart_rel = mart.split(".")
    built = wh.table_exists(mart_schema, mart_rel)
    rows = f"{wh.rows(f'select count(*) from {mart}')[0][0]:,} rows" if built else "not built yet"
    return f"scores: {table} {by}; {mart} {rows}"


def status(wh, model: str, holdout: dict[str, Any] | None = None) -> Status:
    """The state of ``model`` (registry, today's holdout, last drift check, score rows);
    ``holdout``: the champion's ``evaluate`` result when the caller has it already."""
    from .drift import last_verdict
    from .promotion import TAG_DECISION, TAG_REASON
    from .tasks import module

    champion, newest, tags = _registry(model)
    error = None
    if holdout is not None and holdout.get("version") != champion:
        holdout = None
    if champion is not None and holdout is None:
        try:
            holdout = module(model).evaluate(wh, champion)
        except ValueError as exc:  # too little data for a holdout: said in the statement
            error = str(exc)
    return Status(
        model=model,
        champion=champion,
        newest=newest,
        newest_decision=tags.get(TAG_DECISION),
        newest_reason=tags.get(TAG_REASON),
        holdout=holdout,
        holdout_error=error,
        drift=last_verdict(wh, model),
        scores=_scores(wh, model),
    )


def summary_lines(models: tuple[str, ...] = config.MODELS) -> list[str]:
    """The ML part of the ``make run`` summary: a statement per model."""
    from ingestion.warehouse import connect

    lines = ["ml (ml_retrain):"]
    with connect() as wh:
        for model in models:
            lines += status(wh, model).lines()
    return lines
