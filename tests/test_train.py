from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from riskmodel.config import load_train_config
from riskmodel.train import (
    DataError,
    evaluate,
    fit_model,
    labelled_records,
    load_oracle,
    load_panel,
    run_training,
    split_by_year,
)

ROOT = Path(__file__).resolve().parents[1]


def test_config_refuses_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: relapse\nlightgbm:\n  num_leafs: 7\n")

    with pytest.raises(ValidationError, match="num_leafs"):
        load_train_config(path)


def test_default_config_file_is_valid():
    cfg = load_train_config(ROOT / "training/configs/default.yaml")

    assert cfg.label == "relapse" and cfg.tiers.red > cfg.tiers.amber


def test_split_is_out_of_time(training_county):
    panel, _ = load_panel(training_county)
    split = split_by_year(labelled_records(panel, "relapse"), None)

    assert split.test_year == 2024
    assert split.train["year"].max() == 2022
    assert set(split.valid["year"]) == {2023} and set(split.test["year"]) == {2024}


def test_fitting_never_reads_the_oracle(training_county, fast_config, monkeypatch):
    real = pd.read_parquet

    def guarded(path, *a, **kw):
        assert "oracle" not in str(path), "training read the oracle"
        return real(path, *a, **kw)

    monkeypatch.setattr(pd, "read_parquet", guarded)
    panel, _ = load_panel(training_county)
    split = split_by_year(labelled_records(panel, "relapse"), None)

    _, info = fit_model(split, fast_config)

    assert info["best_iteration"] > 0
    with pytest.raises(AssertionError, match="oracle"):
        load_oracle(training_county, "relapse")


def test_model_beats_the_rule_and_approaches_the_oracle(training_county, fast_config):
    result = run_training(fast_config)
    m = result.evaluation.metrics

    assert m["test_roc_auc"] > m["rule_test_roc_auc"] + 0.05
    assert m["test_roc_auc"] > m["oracle_test_roc_auc"] - 0.05
    assert m["test_roc_auc_ci_low"] < m["test_roc_auc"] < m["test_roc_auc_ci_high"]
    assert list(result.backtest["year"]) == [2021, 2022, 2023, 2024]
    assert {"township", "relocated", "ethnic minority"} <= set(result.evaluation.subgroups["group"])


def test_identified_label_trains_on_monitoring_years_only(training_county, fast_config):
    cfg = fast_config.model_copy(update={"label": "identified"})
    panel, _ = load_panel(training_county)
    records = labelled_records(panel, "identified")

    assert records["year"].min() == 2019
    model, _ = fit_model(split_by_year(records, None), cfg)
    assert model.meta.label == "identified"


def test_calibrated_probabilities_track_observed_rate(training_county, fast_config):
    panel, _ = load_panel(training_county)
    split = split_by_year(labelled_records(panel, "relapse"), None)
    model, _ = fit_model(split, fast_config)

    ev = evaluate(model, split, panel, fast_config)

    assert abs(ev.metrics["test_mean_probability"] - ev.metrics["test_positive_rate"]) < 0.015


def test_invalid_panel_is_refused_with_its_report(tmp_path, small_county):
    bad = small_county.panel.copy()
    bad.loc[3, "hh_size"] = 0
    bad.to_parquet(tmp_path / "panel.parquet")

    with pytest.raises(DataError, match="hh_size"):
        load_panel(tmp_path)
