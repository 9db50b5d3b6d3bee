import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel import registry
from riskmodel.catalogue import FEATURE_NAMES
from riskmodel.cli import app
from riskmodel.evaluate import METRICS
from riskmodel.features import build_features
from riskmodel.train import load_panel

from .conftest import registered_project

BASELINES = ["rule", "logreg", "village", "carry"]


@pytest.fixture(scope="module")
def registered(tmp_path_factory, training_county):
    root = tmp_path_factory.mktemp("project")
    with registered_project(root, training_county, bootstrap=20, backtest_from=2022) as project:
        yield project


def test_run_logs_every_metric_under_its_exact_name(registered, training_county):
    cfg, _, logged, client = registered
    metrics = client.get_run(logged.run_id).data.metrics
    has_oracle = f"p_{cfg.label}" in pd.read_parquet(training_county / "oracle.parquet")

    expected = {f"test_{m}" for m in METRICS} | {
        f"{b}_test_{m}" for b in BASELINES + ["oracle"] * has_oracle for m in METRICS
    }
    assert expected <= set(metrics)
    assert has_oracle == ("oracle_test_roc_auc" in metrics)
    assert {"test_roc_auc_ci_low", "test_recall_at_10pct_village_ci_high"} <= set(metrics)


def test_run_logs_plots_tables_and_model_card(registered):
    _, _, logged, client = registered

    names = {a.path for a in client.list_artifacts(logged.run_id)}
    names |= {
        a.path for d in ("plots", "evaluation") for a in client.list_artifacts(logged.run_id, d)
    }

    assert {
        "plots/roc_pr.png",
        "plots/reliability.png",
        "plots/shap_summary.png",
        "plots/backtest_auc.png",
        "evaluation/subgroups.csv",
        "evaluation/subgroups.md",
        "model_card.md",
    } <= names
    history = client.get_metric_history(logged.run_id, "backtest_roc_auc")
    assert sorted(m.step for m in history) == [2022, 2023, 2024]


def test_version_is_challenger_with_card_as_description(registered):
    cfg, _, logged, client = registered

    mv = client.get_model_version_by_alias(cfg.registered_model, "challenger")

    assert str(mv.version) == logged.version
    assert mv.description.startswith("# Model card")
    assert "Subgroups" in mv.description or "full card" in mv.description


def test_pyfunc_returns_probabilities_and_additive_contributions(registered, training_county):
    _, result, logged, _ = registered
    panel, _ = load_panel(training_county)
    records = build_features(panel[panel["year"] == 2025].head(200))

    out = mlflow.pyfunc.load_model(logged.model_uri).predict(registry.to_wire(records))

    assert out["probability"].between(0, 1).all()
    assert set(out["tier"]) <= {"red", "amber", "green"}
    contrib = out[[f"contrib_{f}" for f in FEATURE_NAMES]].sum(axis=1) + out["base_value"]
    np.testing.assert_allclose(contrib, out["raw_score"], atol=1e-6)
    np.testing.assert_allclose(out["probability"], result.model.predict_proba(records), atol=1e-9)


def test_unknown_category_scores_as_missing(registered, training_county):
    _, result, _, _ = registered
    panel, _ = load_panel(training_county)
    records = build_features(panel.head(3))
    odd = records.astype({"main_industry": object})
    odd["main_industry"] = "rubber"

    prob = result.model.predict_proba(odd)

    assert np.isfinite(prob).all()


def test_promote_moves_champion_when_every_condition_holds(registered):
    cfg, _, logged, client = registered
    metrics = client.get_run(logged.run_id).data.metrics
    # a 2,100-household county leaves the model's recall within noise of logistic regression's:
    # the figures are set just above every baseline so that each condition holds
    for metric in ("test_roc_auc", "test_recall_at_10pct_village"):
        best = max(metrics[f"{b}_{metric}"] for b in BASELINES)
        client.log_metric(logged.run_id, metric, best + 0.01)

    decision = registry.promote(cfg, client)

    assert decision.promoted, decision.reasons
    assert (
        str(client.get_model_version_by_alias(cfg.registered_model, "champion").version)
        == logged.version
    )


def test_promote_refuses_and_names_the_failed_condition(registered, tmp_path):
    cfg, _, logged, client = registered
    client.log_metric(logged.run_id, "test_roc_auc", 0.5)  # now worse than the baselines

    result = CliRunner().invoke(app, ["promote", "--config", str(_config_file(cfg, tmp_path))])

    assert result.exit_code == 1, result.output
    assert "FAIL test_roc_auc 0.5000 > rule" in result.output


def _config_file(cfg, folder):
    import yaml

    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


def test_every_version_and_the_registered_model_carry_the_label(registered):
    cfg, _, logged, client = registered

    mv = client.get_model_version(cfg.registered_model, logged.version)

    assert cfg.label == "meets_criteria" and cfg.registered_model == "relapse-risk"
    assert mv.tags["label"] == "meets_criteria"
    assert client.get_registered_model("relapse-risk").tags["label"] == "meets_criteria"
    assert "label `meets_criteria`" in mv.description
    assert "not monitored and not meeting the criteria at t" in mv.description


def test_a_challenger_of_another_label_is_refused(registered):
    cfg, _, logged, client = registered
    client.set_model_version_tag(cfg.registered_model, logged.version, "label", "identified")
    try:
        decision = registry.promote(cfg, client)
    finally:
        client.set_model_version_tag(cfg.registered_model, logged.version, "label", cfg.label)

    assert not decision.promoted
    assert decision.reasons[0].startswith("FAIL challenger")
    assert "'identified'" in decision.reasons[0]


def test_a_model_that_answers_one_label_takes_no_version_of_another(registered):
    from riskmodel.config import load_train_config

    _, _, _, client = registered
    client.create_registered_model("relapse-risk-persistent", tags={"label": "identified"})

    with pytest.raises(
        registry.RegistryError, match="answers label 'identified', not 'persistent'"
    ):
        registry.check_registered_label(client, load_train_config(None, label="persistent"))
