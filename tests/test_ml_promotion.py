"""Champion/challenger both ways, for both models, with a champion already in place: a better
version takes ``champion`` (the old one stays findable as ``previous_champion``), a worse or an
equal one stays ``challenger`` with the comparison as its recorded reason. Real MLflow registry
(SQLite per test), real warehouse (generated data, loaded, marts built by dbt), the alert
delivered to an SMTP server on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.dbt_support import run_dbt
from tests.ml_support import Mailbox, gate, ml_warehouse

#: Each model's strong and weak training options (real models: the weak one has fewer boosting
#: rounds / no calibration factor) and the way to read its metric from the promote result.
MODELS = {
    "delivery_delay": {"strong": {}, "weak": {"max_iter": 1}, "metric": "roc_auc"},
    "demand": {"strong": {}, "weak": {"calibrate": False}, "metric": "wape"},
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    yield from ml_warehouse(tmp_path_factory.mktemp("ml_promotion"), days=90, scale=0.2)


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made (copied per test: no migrations each time)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("registry") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def registry(warehouse, empty_registry, tmp_path, monkeypatch):
    """A fresh MLflow registry for one test, a passed quality gate and an SMTP receiver."""
    shutil.copy(empty_registry, tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_LOCATION", (tmp_path / "artifacts").as_uri())
    monkeypatch.setenv("ALERT_STATE_PATH", str(tmp_path / "alerts.sqlite"))
    gate(True)
    with Mailbox() as mailbox:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(mailbox.port))
        monkeypatch.setenv("SMTP_TO", "ml-team@example.com")
        yield mailbox


def _train_and_promote(model: str, kind: str) -> dict:
    from ingestion.warehouse import connect
    from ml.tasks import module

    mod = module(model)
    with connect() as wh:
        trained = mod.train(wh, **MODELS[model][kind])
        return mod.promote(wh, trained["version"])


def _registry(model: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Aliases (alias -> version) and each version's tags, read back from MLflow."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    aliases = {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}
    tags = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name = '{model}'")}
    return aliases, tags


def _better(model: str, a: float, b: float) -> bool:
    return a > b if MODELS[model]["metric"] == "roc_auc" else a < b


@pytest.mark.parametrize("model", list(MODELS))
def test_a_better_challenger_is_promoted_and_the_old_champion_stays_findable(model, registry):
    import mlflow

    metric = MODELS[model]["metric"]
    first = _train_and_promote(model, "weak")
    assert first["alias"] == "champion", first  # the first version only has to beat the bar
    second = _train_and_promote(model, "strong")
    print(model, first[metric], "->", second[metric], second["why"])
    assert _better(model, second[metric], first[metric])
    aliases, tags = _registry(model)
    assert aliases == {"champion": second["version"], "previous_champion": first["version"]}
    assert tags[second["version"]]["promotion_decision"] == "champion"
    assert f"champion v{first['version']}'s" in tags[second["version"]]["promotion_reason"]
    assert tags[first["version"]]["promotion_replaced_by"] == second["version"]
    old = mlflow.sklearn.load_model(f"models:/{model}@previous_champion")
    assert type(old).__name__ in ("HistGradientBoostingClassifier", "DemandModel")
    subjects = [m["message"]["Subject"] for m in registry.messages]
    assert any(f"{model} v{second['version']} is champion" in s for s in subjects), subjects


@pytest.mark.parametrize("model", list(MODELS))
def test_a_worse_challenger_stays_challenger_because_the_champion_is_better(model, registry):
    metric = MODELS[model]["metric"]
    champion = _train_and_promote(model, "strong")
    assert champion["alias"] == "champion", champion
    worse = _train_and_promote(model, "weak")
    print(model, champion[metric], "vs", worse[metric], worse["why"])
    aliases, tags = _registry(model)
    assert aliases == {"champion": champion["version"], "challenger": worse["version"]}
    reason = tags[worse["version"]]["promotion_reason"]
    # the reason is the comparison with the champion, not the absolute bar nor an exception
    assert reason == (
        f"holdout {metric} {worse[metric]:.4f} is not better than champion "
        f"v{champion['version']}'s {champion[metric]:.4f} on the same holdout"
    )
    assert tags[worse["version"]]["promotion_decision"] == "challenger"
    mail = next(
        m["message"] for m in registry.messages if "stays challenger" in m["message"]["Subject"]
    )
    assert reason in mail.get_body(preferencelist=("plain",)).get_content().replace("\n", " ")


@pytest.mark.parametrize("model", list(MODELS))
def test_an_equal_challenger_stays_challenger(model, registry):
    """The same model trained again on the same data: the same holdout metric, not promoted."""
    metric = MODELS[model]["metric"]
    champion = _train_and_promote(model, "strong")
    again = _train_and_promote(model, "strong")
    assert again[metric] == champion[metric]
    aliases, tags = _registry(model)
    assert aliases == {"champion": champion["version"], "challenger": again["version"]}
    assert tags[again["version"]]["promotion_reason"].startswith(
        f"holdout {metric} {again[metric]:.4f} is equal to champion v{champion['version']}'s"
    )


def test_a_challenger_promoted_later_loses_its_challenger_alias(registry):
    """Promoting a version that was challenger moves champion to it and clears challenger."""
    from ingestion.warehouse import connect
    from ml import delay

    with connect() as wh:
        strong = delay.train(wh)
        gate(False)
        held = delay.promote(wh, strong["version"])  # the gate failed: challenger
        gate(True)
        again = delay.promote(wh, strong["version"])
    assert held["alias"] == "challenger" and "quality gate r-fail failed" in held["why"]
    assert again["alias"] == "champion", again
    aliases, _ = _registry("delivery_delay")
    assert aliases == {"champion": strong["version"]}


def test_a_promotion_changes_the_version_the_score_rows_carry(warehouse, registry, tmp_path):
    """Score with v1, promote a better v2, score again: every row (score tables and the ML marts
    built by dbt over them) names v2 and the run that trained it, no longer v1."""
    from ingestion.warehouse import connect
    from ml.promotion import champion_ref
    from ml.tasks import module

    tables = {"delivery_delay": "delivery_risk_scores", "demand": "demand_forecast"}
    marts = {"delivery_delay": "fct_delivery_risk", "demand": "fct_demand_forecast"}
    written = {}
    for model in MODELS:
        for kind in ("weak", "strong"):
            assert _train_and_promote(model, kind)["alias"] == "champion"
            ref = champion_ref(model)
            with connect() as wh:
                module(model).score(wh)
                written[model, kind] = (
                    (model, int(ref.version), ref.run_id),
                    wh.rows(
                        "select distinct model_name, model_version, model_run_id "
                        f"from ml.{tables[model]}"
                    ),
                )
    for model in MODELS:
        (v1, rows1), (v2, rows2) = written[model, "weak"], written[model, "strong"]
        assert v1 != v2 and v2[1] == v1[1] + 1
        assert rows1 == [v1] and rows2 == [v2], (rows1, rows2)
    built = run_dbt(tmp_path, warehouse, "build", "--select", "tag:ml")
    assert built.returncode == 0, built.stdout[-4000:]
    with connect() as wh:
        for model in MODELS:
            got = wh.rows(
                f"select distinct model_name, model_version, model_run_id from marts.{marts[model]}"
            )
            assert got == [written[model, "strong"][0]], (model, got)
