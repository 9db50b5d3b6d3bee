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

from .conftest import ROOT, registered_project

ROOT_CONFIG = ROOT / "training/configs/default.yaml"

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
    records = build_features(panel[panel["year"] == 2025].head(50))
    odd = records.astype({"main_industry": object})
    odd["main_industry"] = "rubber"
    missing = records.copy()
    missing["main_industry"] = None

    as_odd = result.model.predict_proba(odd)
    as_missing = result.model.predict_proba(missing)

    np.testing.assert_array_equal(as_odd, as_missing)
    booster_uses_industry = "main_industry" in result.model.booster.dump_model()["feature_names"]
    assert booster_uses_industry
    wire = registry.to_wire(odd)
    # the pyfunc refuses an unknown category as the API does (422), naming row and column
    with pytest.raises(Exception, match="row 0: main_industry: one of sugarcane"):
        mlflow.pyfunc.load_model(registered[2].model_uri).predict(wire)


def _version_with_metrics(registered, label: str, **changes: float):
    """A new version of the trained model under another label's registered model, with a run of
    the given metrics: promotion is judged on them, and the shared version is left alone.
    Returns the label's config and the version."""
    from riskmodel.config import load_train_config
    from riskmodel.labels import registered_model_name

    cfg, _, logged, client = registered
    registry.connect()
    metrics = dict(client.get_run(logged.run_id).data.metrics) | changes
    experiment = client.get_experiment_by_name(cfg.experiment).experiment_id
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metrics(metrics)
    name = registered_model_name(label)
    if registry.registered_label(client, name) is None:
        client.create_registered_model(name, tags={"label": label})
    source = client.get_model_version_download_uri(cfg.registered_model, logged.version)
    version = client.create_model_version(name, source, run_id=run.info.run_id)
    client.set_model_version_tag(name, version.version, "label", label)
    other = load_train_config(ROOT_CONFIG, data=cfg.data, label=label, bootstrap=cfg.bootstrap)
    return other, str(version.version)


def _challenger_with_metrics(registered, label: str, **changes: float):
    cfg, version = _version_with_metrics(registered, label, **changes)
    registered[3].set_registered_model_alias(cfg.registered_model, "challenger", version)
    return cfg, version


def _best_baseline(registered, metric: str) -> float:
    _, _, logged, client = registered
    m = client.get_run(logged.run_id).data.metrics
    return max(m[f"{b}_{metric}"] for b in ("rule", "logreg", "village", "carry"))


def test_promote_moves_champion_when_every_condition_holds(registered):
    client = registered[3]
    auc = _best_baseline(registered, "test_roc_auc") + 0.01
    recall = _best_baseline(registered, "test_recall_at_10pct_village") + 0.01
    cfg, version = _challenger_with_metrics(
        registered,
        "relapse",
        test_roc_auc=auc,
        test_recall_at_10pct_village=recall,
        subgroup_failures=0.0,
    )

    decision = registry.promote(cfg, client)

    assert decision.promoted, decision.reasons
    assert len(decision.reasons) >= 9 and all(r.startswith("ok") for r in decision.reasons)
    champion = client.get_model_version_by_alias(cfg.registered_model, "champion")
    assert str(champion.version) == version
    assert client.get_model_version(cfg.registered_model, version).tags["promoted"] == "true"


def test_promote_refuses_and_names_the_failed_condition(registered, tmp_path):
    _, _, logged, client = registered
    cfg, weak = _challenger_with_metrics(registered, "relapse", test_roc_auc=0.5)

    result = CliRunner().invoke(app, ["promote", "--config", str(_config_file(cfg, tmp_path))])

    assert result.exit_code == 1, result.output
    assert "FAIL test_roc_auc 0.5000 > rule" in result.output
    champion = registry.alias_version(client, cfg.registered_model, "champion")
    assert champion is None or str(champion.version) != weak
    assert client.get_run(logged.run_id).data.metrics["test_roc_auc"] > 0.5


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


def test_a_copied_tracking_store_reads_and_writes_its_own_artifacts(registered, tmp_path):
    import shutil

    cfg, _, logged, _ = registered
    original = registry.artifact_root()
    before = sorted(p for p in original.rglob("*") if p.is_file())
    shutil.copy(original.parent / "mlflow.db", tmp_path / "mlflow.db")
    shutil.copytree(original, tmp_path / "mlartifacts")
    copy_uri = (tmp_path / "mlartifacts").as_uri()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        client = registry.connect()
        download = client.get_model_version_download_uri(cfg.registered_model, logged.version)
        run = client.get_run(logged.run_id)
        model, meta = registry.load_model(f"models:/{cfg.registered_model}/{logged.version}")
        exp = client.get_experiment_by_name(cfg.experiment)
        with mlflow.start_run(experiment_id=exp.experiment_id) as new:
            mlflow.log_text("retrain", "note.txt")

        assert exp.artifact_location == copy_uri
        assert run.info.artifact_uri.startswith(copy_uri + "/")
        assert download.startswith(copy_uri + "/")
        assert meta["version"] == logged.version and model.features == list(FEATURE_NAMES)
        notes = list((tmp_path / "mlartifacts").rglob("note.txt"))
        assert len(notes) == 1 and new.info.run_id in str(notes[0])
    registry.connect()  # MLflow's global tracking URI back to the module's store
    assert sorted(p for p in original.rglob("*") if p.is_file()) == before
    assert registry.anchor_artifacts(original.parent / "mlflow.db") == 0


def test_model_card_states_the_logged_figures(registered):
    from riskmodel.evaluate import MODEL_NAMES
    from riskmodel.modelcard import model_card

    cfg, result, logged, client = registered
    m = client.get_run(logged.run_id).data.metrics

    card = model_card(result, version=logged.version, run_id=logged.run_id)

    lines = card.splitlines()
    assert lines[0] == (
        f"# Model card: {cfg.registered_model} (label `{cfg.label}`), version {logged.version}"
    )
    table = {
        ln.split(" | ")[0].strip("| "): ln.strip("|").split("|")
        for ln in lines
        if ln.startswith("| ")
    }
    for prefix, name in MODEL_NAMES.items():
        cells = [c.strip() for c in table[name]]
        assert cells[1] == f"{m[f'{prefix}test_roc_auc']:.3f}", name
        assert cells[5] == f"{m[f'{prefix}test_recall_at_10pct_village']:.3f}", name
        low, high = m[f"{prefix}test_roc_auc_ci_low"], m[f"{prefix}test_roc_auc_ci_high"]
        assert cells[7] == f"{low:.3f}-{high:.3f}", name
    assert f"test {result.split.test_year} ({len(result.split.test):,}" in card
    assert f"{result.info['n_train']:,} household-years" in card
    assert f"beta calibration on {result.info['calibrated_on']};" in card
    for row in result.backtest.itertuples():
        assert (
            f"| {row.year} | {row.n} | {row.positives} | {row.rounds} | {row.roc_auc:.3f} |" in card
        )
    judged = result.evaluation.subgroups
    calibration = result.evaluation.extra["calibration"]
    assert sum(ln.startswith("| township | ") for ln in lines) == (
        (judged["group"] == "township").sum() + (calibration["group"] == "township").sum()
    )
    red = next(ln for ln in lines if ln.startswith("| tier | red | "))
    assert f"{m['test_calib_red_predicted']:.3f}" in red
    assert "Champion in service" not in card
    stored = client.get_model_version(cfg.registered_model, logged.version).description
    assert stored.startswith(card[:2000])


# --- operator commands: riskmodel models ... ------------------------------------------------------


@pytest.fixture(scope="module")
def two_versions(registered, tmp_path_factory):
    """Two versions of the trained model under the `identified` registered model: v1 passes
    every condition, v2 has an AUC below the rule's."""
    _, _, logged, client = registered
    base = dict(client.get_run(logged.run_id).data.metrics)
    best = {
        m: max(base[f"{b}_{m}"] for b in ("rule", "logreg", "village", "carry")) + 0.01
        for m in ("test_roc_auc", "test_recall_at_10pct_village")
    }
    good = base | best | {"subgroup_failures": 0.0}
    weak = good | {"test_roc_auc": 0.5}
    other, _ = _version_with_metrics(registered, "identified", **good)
    _version_with_metrics(registered, "identified", **weak)
    path = _config_file(other, tmp_path_factory.mktemp("operator"))
    return other, client, path, good, weak


def _cli(*args):
    return CliRunner().invoke(app, list(args))


def test_models_commands_promote_compare_force_and_roll_back(two_versions):
    cfg, client, path, good, _ = two_versions
    name = cfg.registered_model

    listed = _cli("models", "list", "--config", str(path))
    assert listed.exit_code == 0, listed.output
    assert f"{good['test_roc_auc']:.4f}" in listed.output and "0.5000" in listed.output

    first = _cli("models", "promote", "--version", "1", "--config", str(path))
    assert first.exit_code == 0, first.output
    assert "version 1 is now champion" in first.output
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"

    refused = _cli("models", "promote", "--version", "2", "--config", str(path))
    assert refused.exit_code == 1
    assert "FAIL test_roc_auc 0.5000 > rule" in refused.output
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"

    no_reason = _cli("models", "promote", "--version", "2", "--force", "--config", str(path))
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output

    forced = _cli(
        "models",
        "promote",
        "--version",
        "2",
        "--force",
        "--reason",
        "county audit asked",
        "--config",
        str(path),
    )
    assert forced.exit_code == 0, forced.output
    assert "forced; reason recorded" in forced.output
    v2 = client.get_model_version(name, "2")
    assert v2.tags["forced_promotion"] == "county audit asked"
    assert v2.tags["forced_over"].startswith("test_roc_auc 0.5000 > rule")
    assert v2.tags["previous_champion"] == "1"

    compared = _cli("models", "compare", "1", "2", "--config", str(path))
    assert compared.exit_code == 0, compared.output
    line = next(ln for ln in compared.output.splitlines() if " test_roc_auc " in ln)
    diff = 0.5 - good["test_roc_auc"]
    assert f"{good['test_roc_auc']:.4f}" in line and "0.5000" in line and f"{diff:.4f}" in line

    shown = _cli("models", "show", "2", "--config", str(path))
    assert shown.exit_code == 0 and "forced_promotion: county audit asked" in shown.output
    assert "(champion)" in shown.output

    back = _cli("models", "rollback", "--config", str(path))
    assert back.exit_code == 0, back.output
    assert "from version 2 to version 1" in back.output
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert client.get_model_version(name, "1").tags["rolled_back_from"] == "2"

    again = _cli("models", "rollback", "--config", str(path))
    assert again.exit_code == 2 and "replaced no earlier champion" in again.output


def test_models_promote_of_an_unknown_version_lists_the_versions(two_versions):
    _, _, path, _, _ = two_versions

    run = _cli("models", "promote", "--version", "9", "--config", str(path))

    assert run.exit_code == 2
    assert "has no version 9; versions: 1, 2" in " ".join(run.output.split())
