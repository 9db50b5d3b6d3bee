"""Partial data (issue 12 item 2): a panel with the required fields and a few features imports
through a spec, trains on the features its columns support, records them, and scores only data
that carries them."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from riskmodel.catalogue import REQUIRED_FIELDS, available_features
from riskmodel.ingest import import_source
from riskmodel.labels import supported_labels
from riskmodel.train import DataError, labelled_records, load_panel, run_training

KEEP = [*REQUIRED_FIELDS, "is_monitored", "hh_size", "n_labour_full", "n_labour_weak", "dibao",
        "household_type", "n_children_u16", "n_elderly_65p"]  # fmt: skip


@pytest.fixture(scope="module")
def partial(training_county, tmp_path_factory):
    """The training county cut down to KEEP, written as a CSV and imported through a spec."""
    root = tmp_path_factory.mktemp("partial")
    panel = pd.read_parquet(training_county / "panel.parquet")[KEEP]
    panel.to_csv(root / "table.csv", index=False)
    spec = {"fields": {name: {"column": name} for name in KEEP}}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = import_source(root / "table.csv", root / "data", "spec", root / "spec.yaml")
    return root / "data", result


def test_spec_import_keeps_only_the_given_fields(partial):
    _, result = partial
    assert sorted(result.panel.columns) == sorted(KEEP)
    assert "oop_medical" in result.report.fields_absent
    assert supported_labels(result.panel.columns) == list(
        ["meets_criteria", "persistent", "relapse", "identified"]
    )


def test_training_uses_exactly_the_features_the_data_supports(partial, fast_config):
    data, _ = partial
    cfg = fast_config.model_copy(update={"data": data})
    result = run_training(cfg)
    features = result.model.features
    assert features == available_features(KEEP)
    assert {"income_to_line", "income_slope_3y", "labour_total", "dibao", "dependency_ratio",
            "village_monitored_share"} <= set(features)  # fmt: skip
    assert not {"oop_medical", "oop_to_income", "transfer_share", "main_industry"} & set(features)
    assert "oop_to_income" in result.info["features_absent"]
    assert 0.5 < result.evaluation.metrics["test_roc_auc"] <= 1
    # a model scores only data that has its features
    panel, _ = load_panel(data)
    records = labelled_records(panel, cfg.label)
    assert result.model.predict_proba(records).shape == (len(records),)
    with pytest.raises(KeyError, match="dibao"):
        result.model.predict_proba(records.drop(columns=["dibao"]))


def test_a_label_the_data_cannot_carry_is_refused(partial):
    data, _ = partial
    panel, _ = load_panel(data)
    with pytest.raises(DataError, match="lacks is_monitored"):
        labelled_records(panel.drop(columns=["is_monitored"]), "identified")


def test_partial_model_registers_and_scores_a_batch(partial, training_county, tmp_path):
    from riskmodel.registry import train_and_register
    from riskmodel.score import run_batch

    from .conftest import ROOT

    data, _ = partial
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        from riskmodel.config import load_train_config

        cfg = load_train_config(
            ROOT / "training/configs/default.yaml", data=data, bootstrap=20, backtest_from=2023
        )
        result, logged = train_and_register(cfg)
        batch = run_batch(
            data, tmp_path / "scores", f"sqlite:///{tmp_path / 'store.db'}", result.model,
            str(logged.version), logged.run_id,
        )  # fmt: skip
    scores = pd.read_parquet(batch.parquet)
    assert len(scores) == (pd.read_parquet(data / "panel.parquet")["year"] == 2025).sum()
    assert scores["probability"].notna().any()
