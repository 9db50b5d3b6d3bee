from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import ConfigError, load_train_config
from riskmodel.train import (
    DataError,
    fit_model,
    labelled_records,
    load_oracle,
    load_panel,
    run_training,
    split_by_year,
)

ROOT = Path(__file__).resolve().parents[1]


def test_config_refuses_unknown_keys_naming_file_line_and_nearest_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: relapse\nlightgbm:\n  num_leafs: 7\n  learning_rate: 5\n")

    with pytest.raises(ConfigError) as err:
        load_train_config(path)

    lines = str(err.value).splitlines()
    assert f"{path}:3: lightgbm.num_leafs: Extra inputs are not permitted" in lines[0]
    assert "did you mean 'num_leaves'?" in lines[0]
    assert lines[1].startswith(f"{path}:4: lightgbm.learning_rate: Input should be less than")


def test_broken_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: relapse\nlightgbm:\n  num_leaves: [7\nseed: 1\n")

    with pytest.raises(ConfigError, match=rf"^{path}:4: not valid YAML"):
        load_train_config(path)


def test_cli_prints_config_errors_as_lines_without_traceback(tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    path = tmp_path / "c.yaml"
    path.write_text("labell: relapse\n")

    run = CliRunner().invoke(app, ["promote", "--config", str(path)])

    assert run.exit_code == 2
    assert "Traceback" not in run.output
    assert "c.yaml:1: labell" in run.output.replace("\n", "") and "'label'" in run.output


def test_default_config_file_is_valid():
    cfg = load_train_config(ROOT / "training/configs/default.yaml")

    assert cfg.label == "meets_criteria" and cfg.tiers.red > cfg.tiers.amber
    assert cfg.registered_model == "relapse-risk"


@pytest.mark.parametrize(
    ("label", "name"),
    [("persistent", "relapse-risk-persistent"), ("relapse", "relapse-risk-relapse")],
)
def test_registered_model_follows_the_label(label, name):
    assert load_train_config(None, label=label).registered_model == name


def test_registered_model_cannot_be_set_to_another_labels_name(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: identified\nregistered_model: relapse-risk\n")

    with pytest.raises(
        ConfigError, match="a identified model registers as 'relapse-risk-identified'"
    ):
        load_train_config(path)


def test_split_is_out_of_time(training_county):
    panel, _ = load_panel(training_county)
    split = split_by_year(labelled_records(panel, "relapse"), None)

    assert split.test_year == 2024
    assert split.train["year"].max() == 2022
    assert set(split.valid["year"]) == {2023} and set(split.test["year"]) == {2024}


def test_the_oracle_changes_only_the_oracle_figures(training_county, fast_config, tmp_path):
    """Training reads the panel only: with the oracle's probabilities reversed the fitted model,
    its backtest and every non-oracle figure stay the same, and the oracle's AUC flips."""
    import shutil

    shutil.copy(training_county / "panel.parquet", tmp_path / "panel.parquet")
    oracle = pd.read_parquet(training_county / "oracle.parquet")
    column = f"p_{fast_config.label}"
    oracle[column] = 1 - oracle[column]
    oracle.to_parquet(tmp_path / "oracle.parquet")
    quick = fast_config.lightgbm.model_copy(update={"learning_rate": 0.3})
    cfg = fast_config.model_copy(update={"bootstrap": 0, "backtest_from": 2024, "lightgbm": quick})

    true = run_training(cfg)
    reversed_ = run_training(cfg.model_copy(update={"data": tmp_path}))

    assert true.model.booster.model_to_string() == reversed_.model.booster.model_to_string()
    pd.testing.assert_frame_equal(true.backtest, reversed_.backtest)
    a, b = true.evaluation.metrics, reversed_.evaluation.metrics
    assert {k: v for k, v in a.items() if not k.startswith("oracle_")} == {
        k: v for k, v in b.items() if not k.startswith("oracle_")
    }
    assert b["oracle_test_roc_auc"] == pytest.approx(1 - a["oracle_test_roc_auc"])


def test_model_beats_the_rule_and_approaches_the_oracle(training_county, fast_config):
    result = run_training(fast_config.model_copy(update={"label": "relapse"}))
    m = result.evaluation.metrics

    assert m["test_roc_auc"] > m["rule_test_roc_auc"] + 0.05
    # a 2,100-household county leaves the model short of the oracle; the full county's distance
    # is measured by `riskmodel bench train` (README)
    assert m["test_roc_auc"] > m["oracle_test_roc_auc"] - 0.10
    assert m["test_roc_auc_ci_low"] < m["test_roc_auc"] < m["test_roc_auc_ci_high"]
    assert list(result.backtest["year"]) == [2021, 2022, 2023, 2024]
    assert {"township", "relocated", "ethnic minority"} <= set(result.evaluation.subgroups["group"])


def test_identified_records_are_exactly_the_unmonitored_rows_with_a_next_year(training_county):
    panel, _ = load_panel(training_county)
    monitored = {
        (h, int(y)): bool(m)
        for h, y, m in panel[["hh_id", "year", "is_monitored"]].itertuples(index=False)
    }
    expected = {
        (h, y): monitored[(h, y + 1)]
        for (h, y), m in monitored.items()
        if not m and y >= 2019 and (h, y + 1) in monitored
    }

    records = labelled_records(panel, "identified")

    got = {
        (h, int(y)): bool(v)
        for h, y, v in records[["hh_id", "year", "identified"]].itertuples(index=False)
    }
    assert got == expected
    assert 0 < sum(expected.values()) < len(expected)


def test_main_label_is_scored_on_its_population_only(training_county, fast_config):
    """Every model and baseline sees exactly the test year's not-monitored households that do not
    meet the criteria and have a row the next year (counted here from the panel directly)."""
    panel, _ = load_panel(training_county)
    p = panel.set_index(["hh_id", "year"])
    line = p["monitor_line"]
    clear = (~p["is_monitored"].astype(bool)) & (p["net_income_pc"] >= line)
    clear &= p["housing_safe"] & p["water_safe"] & p["all_insured"] & (p["n_dropout"] == 0)
    clear &= p["oop_medical"] <= 20_000
    clear &= p["net_income_pc"] - (p["oop_medical"] + p["edu_spend"]) / p["hh_size"] >= line
    has_next = pd.Index([(h, y - 1) for h, y in zip(panel["hh_id"], panel["year"], strict=True)])
    expected = {k for k in clear[clear].index if k[1] == 2024 and k in set(has_next)}

    result = run_training(fast_config)
    test = result.split.test

    assert set(zip(test["hh_id"], test["year"], strict=True)) == expected
    assert len(result.evaluation.y) == len(expected)
    for name, score in result.evaluation.scores.items():
        assert len(score) == len(expected), name
    assert (
        result.evaluation.metrics["test_roc_auc"]
        > result.evaluation.metrics["rule_test_roc_auc"] + 0.05
    )
    assert (result.evaluation.subgroups["population"].str.startswith("meets_criteria: not ")).all()
    assert "no p_meets_criteria column" in result.evaluation.extra["oracle_note"] or (
        "oracle_test_roc_auc" in result.evaluation.metrics
    )


def test_oracle_is_read_by_label_and_skipped_when_its_column_is_absent(training_county):
    relapse = load_oracle(training_county, "relapse")
    assert list(relapse.columns) == ["hh_id", "year", "p"] and relapse["p"].between(0, 1).all()

    oracle = pd.read_parquet(training_county / "oracle.parquet")
    for label in ("meets_criteria", "persistent", "relapse", "identified"):
        got = load_oracle(training_county, label)
        assert (got is None) == (f"p_{label}" not in oracle), label


@pytest.fixture(scope="module")
def fitted(training_county):
    cfg = load_train_config(
        ROOT / "training/configs/default.yaml",
        data=training_county,
        label="relapse",
        calibrate_on="validation_year",
    )
    panel, _ = load_panel(training_county)
    split = split_by_year(labelled_records(panel, "relapse"), None)
    model, _ = fit_model(split, cfg)
    return split, model


def test_calibration_is_fitted_on_the_validation_year(fitted):
    split, model = fitted

    # a logistic fit with an intercept reproduces the base rate of the rows it was fitted on
    valid = model.predict_proba(split.valid)
    assert valid.mean() == pytest.approx(split.valid["relapse"].mean(), rel=1e-3)
    train = model.predict_proba(split.train)
    assert abs(train.mean() - split.train["relapse"].mean()) > 1e-3 * split.train["relapse"].mean()


def test_calibrated_probabilities_track_observed_rates_by_quartile(fitted):
    split, model = fitted

    prob, y = model.predict_proba(split.test), split.test["relapse"].to_numpy(int)

    order = np.argsort(prob)
    for part in np.array_split(order, 4):
        observed, predicted = y[part].mean(), prob[part].mean()
        se = np.sqrt(max(predicted * (1 - predicted), 1e-4) / len(part))
        assert abs(observed - predicted) < 3 * se + 0.005, (observed, predicted)
    quarter = len(prob) // 4
    assert prob[order[-quarter:]].mean() > 4 * prob[order[:quarter]].mean()


def test_invalid_panel_is_refused_with_its_report(tmp_path, small_county):
    bad = small_county.panel.copy()
    bad.loc[3, "hh_size"] = 0
    bad.to_parquet(tmp_path / "panel.parquet")

    with pytest.raises(DataError, match="hh_size"):
        load_panel(tmp_path)


def test_backtest_folds_see_nothing_from_their_test_year_on(training_county, fast_config):
    from riskmodel.train import backtest

    panel, _ = load_panel(training_county)
    records = labelled_records(panel, "relapse")
    records = records[records["year"] <= 2023]
    quick = fast_config.lightgbm.model_copy(update={"learning_rate": 0.3})
    cfg = fast_config.model_copy(
        update={"backtest_from": 2022, "lightgbm": quick, "label": "relapse"}
    )
    later = records["year"] >= 2023
    changed = records.copy()
    changed.loc[later, "relapse"] = ~changed.loc[later, "relapse"]  # the future, rewritten
    changed.loc[later, "income_to_line"] = changed.loc[later, "income_to_line"][::-1].to_numpy()

    full = backtest(records, cfg).set_index("year")
    other = backtest(changed, cfg).set_index("year")

    assert list(full.index) == [2022, 2023]
    pd.testing.assert_frame_equal(full.loc[[2022]], other.loc[[2022]])
    assert full.loc[2023, "roc_auc"] != other.loc[2023, "roc_auc"]
    # each fold's rounds are its own early-stopping choice on t-1, not the final model's
    _, info = fit_model(split_by_year(records[records["year"] <= 2022], 2022), cfg)
    assert full.loc[2022, "rounds"] == info["best_iteration"]
    assert full["roc_auc"].min() > 0.6 and full["roc_auc"].max() < 0.95


def test_a_csv_panel_trains_like_the_parquet_one(training_county, tmp_path):
    pd.read_parquet(training_county / "panel.parquet").to_csv(tmp_path / "panel.csv", index=False)

    from_csv, digest = load_panel(tmp_path)
    from_parquet, _ = load_panel(training_county)

    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert digest == __import__("hashlib").sha256((tmp_path / "panel.csv").read_bytes()).hexdigest()
    assert load_panel(tmp_path / "panel.csv")[0].shape == from_parquet.shape


@pytest.mark.parametrize(
    ("config", "rows"),
    [
        ("default.yaml", "validation_year_and_cross_fit"),
        ("persistent.yaml", "validation_year_and_cross_fit"),
    ],
)
def test_each_labels_config_names_the_rows_its_calibration_is_fitted_on(config, rows):
    assert load_train_config(ROOT / "training/configs" / config).calibrate_on == rows


@pytest.fixture(scope="module")
def persistent_split(training_county):
    """The monitored households' split and a quick config with cross-fitted calibration."""
    cfg = load_train_config(
        ROOT / "training/configs/persistent.yaml", data=training_county, label="persistent"
    )
    quick = cfg.lightgbm.model_copy(update={"learning_rate": 0.2, "min_child_samples": 20})
    cfg = cfg.model_copy(update={"lightgbm": quick})
    panel, _ = load_panel(training_county)
    return split_by_year(labelled_records(panel, "persistent"), None), cfg


def test_cross_fitted_calibration_is_fitted_on_the_training_and_validation_years(
    persistent_split,
):
    from riskmodel.calibrate import apply_beta
    from riskmodel.model import categorical_levels
    from riskmodel.train import cross_fit_scores, model_features

    split, cfg = persistent_split
    model, info = fit_model(split, cfg)
    raw = cross_fit_scores(split, cfg, categorical_levels(model_features(split.train)))

    # a logistic fit with an intercept reproduces the base rate of the rows it was fitted on
    rows = np.concatenate(
        [apply_beta(raw, model.meta.calibration), model.predict_proba(split.valid)]
    )
    y = np.concatenate([split.train["persistent"], split.valid["persistent"]])
    assert rows.mean() == pytest.approx(y.mean(), rel=1e-3)
    assert model.meta.calibrated_on == info["calibrated_on"]
    assert "without their village" in info["calibrated_on"]
    alone, _ = fit_model(split, cfg, cross_fit=False)
    assert alone.meta.calibration != model.meta.calibration
    assert alone.meta.calibrated_on.endswith("rows of the validation year")


def test_cross_fit_scores_a_village_by_a_model_that_never_saw_it(persistent_split):
    from riskmodel.model import categorical_levels
    from riskmodel.train import cross_fit_scores, model_features

    split, cfg = persistent_split
    levels = categorical_levels(model_features(split.train))
    village = split.train["village_id"].astype(str).to_numpy()
    one = village == sorted(set(village))[0]
    changed = split.train.copy()
    changed.loc[one, "persistent"] = ~changed.loc[one, "persistent"]  # its outcomes, rewritten

    before = cross_fit_scores(split, cfg, levels)
    after = cross_fit_scores(
        type(split)(split.test_year, changed, split.valid, split.test), cfg, levels
    )

    np.testing.assert_array_equal(before[one], after[one])
    assert not np.array_equal(before[~one], after[~one])  # the village taught the other models


@pytest.mark.slow
def test_persistent_red_and_amber_tiers_hold_the_oracles_mean_on_the_default_county(
    full_county,
):
    from riskmodel.calibrate import calibration_table
    from riskmodel.train import training_records

    cfg = load_train_config(ROOT / "training/configs/persistent.yaml", label="persistent")
    split = split_by_year(training_records(full_county.panel, cfg), None)
    assert len(split.extra) > 10 * len(split.train)  # the not-monitored households' rows
    model, _ = fit_model(split, cfg)
    truth = split.test[["hh_id", "year"]].merge(full_county.oracle, how="left")["p_persistent"]
    prob = model.predict_proba(split.test)

    table = calibration_table(
        prob,
        split.test["persistent"].to_numpy(int),
        model.meta.tiers.assign(prob),
        split.test["township_id"].astype(str).to_numpy(),
        truth.to_numpy(),
    ).set_index("value")

    for tier in ("red", "amber"):  # T-1 alone put amber 23% below the oracle here
        assert table.loc[tier, "households"] >= 150
        assert abs(table.loc[tier, "predicted_vs_oracle"]) <= 0.10, table.loc[tier]


def test_train_with_joins_only_a_label_that_asks_the_same_of_the_next_year():
    cfg = load_train_config(ROOT / "training/configs/persistent.yaml", label="persistent")
    assert cfg.train_with == ["meets_criteria"]
    with pytest.raises(ValueError, match="only the labels meets_criteria and persistent"):
        load_train_config(label="relapse", train_with=["meets_criteria"])
    with pytest.raises(ValueError, match="cannot join a persistent model"):
        load_train_config(label="persistent", train_with=["persistent"])
    with pytest.raises(ValueError):
        load_train_config(label="persistent", train_with=["identified"])


def test_pooled_rows_join_the_training_years_only(training_county):
    from riskmodel.labels import add_labels
    from riskmodel.train import POOLED, drawn_households

    panel, _ = load_panel(training_county)
    own = labelled_records(panel, "persistent")
    records = labelled_records(panel, "persistent", train_with=["meets_criteria"])

    mine = records[~records[POOLED]].drop(columns=POOLED).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, own)
    other = records[records[POOLED]]
    labels = add_labels(panel).set_index(["hh_id", "year"])["meets_criteria"]
    expected = labels.reindex(pd.MultiIndex.from_frame(other[["hh_id", "year"]]))
    assert expected.notna().all()  # exactly the other population, with its own label's value
    np.testing.assert_array_equal(other["persistent"].to_numpy(), expected.to_numpy(bool))
    assert len(other) == int(labels.notna().sum())

    split = split_by_year(records, None)
    assert not split.extra.empty and split.extra["year"].max() <= split.test_year - 2
    for part in (split.train, split.valid, split.test):
        assert not part[POOLED].any()
    assert len(split.fit_rows()) == len(split.train) + len(split.extra)

    drawn = drawn_households(records, 0.25, seed=3)
    assert not drawn[POOLED].all() and (~drawn[POOLED]).sum() == len(own)  # every own row kept
    kept = drawn.loc[drawn[POOLED], "hh_id"].unique()
    assert len(kept) == round(0.25 * other["hh_id"].nunique())
    whole = other[other["hh_id"].isin(kept)]
    assert len(whole) == int(drawn[POOLED].sum())  # every year of a drawn household


def test_a_pooled_fit_learns_from_the_other_population_but_calibrates_on_its_own(
    persistent_split, training_county
):
    from riskmodel.train import POOLED

    split, cfg = persistent_split
    panel, _ = load_panel(training_county)
    records = labelled_records(panel, "persistent", train_with=["meets_criteria"])
    pooled = split_by_year(records, None)
    alone, _ = fit_model(split, cfg, cross_fit=False)
    model, info = fit_model(pooled, cfg, cross_fit=False)

    assert info["n_train"] == len(split.train) and info["n_train_with"] == len(pooled.extra)
    assert model.booster.model_to_string() != alone.booster.model_to_string()
    # the calibration's intercept reproduces the base rate of the monitored T-1 rows
    assert model.predict_proba(pooled.valid).mean() == pytest.approx(
        pooled.valid["persistent"].mean(), rel=1e-3
    )
    assert not pooled.valid[POOLED].any()
    # the support is the population's own: monitored households are not rare among themselves
    # (fitted on the pooled rows it flagged 18% of the default county's monitored households)
    assert model.meta.support == alone.meta.support
    np.testing.assert_array_equal(
        model.unusual(model.matrix(pooled.valid))[0], alone.unusual(alone.matrix(pooled.valid))[0]
    )


def test_each_draw_of_pooled_households_is_the_draw_its_seed_gives_alone(training_county):
    from riskmodel.train import DRAWS, POOLED, drawn_households

    panel, _ = load_panel(training_county)
    records = labelled_records(panel, "persistent", train_with=["meets_criteria"])

    drawn = drawn_households(records, 0.25, seed=3, draws=2)

    assert DRAWS not in drawn_households(records, 0.25, seed=3)
    assert (drawn.loc[~drawn[POOLED], DRAWS] == 3).all()  # own rows are in every draw
    for j in (0, 1):
        alone = drawn_households(records, 0.25, seed=3 + j)
        mine = (
            drawn[(drawn[DRAWS].to_numpy() >> j) & 1 == 1]
            .drop(columns=DRAWS)
            .reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(mine, alone)
    both = drawn[drawn[POOLED] & (drawn[DRAWS] == 3)]["hh_id"].nunique()
    assert both < drawn.loc[drawn[POOLED], "hh_id"].nunique() / 2  # two draws, not one twice


def test_an_averaged_booster_scores_explains_and_spreads_as_the_mean_of_its_members():
    import lightgbm as lgb

    from riskmodel.train import averaged_booster
    from riskmodel.treeshap import TreeShap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=len(X)) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "lambda_l2": 1.0, "verbosity": -1}
    members = [
        lgb.train(
            params | {"seed": s, "bagging_fraction": 0.7, "bagging_freq": 1},
            lgb.Dataset(X, y),
            num_boost_round=20 + 15 * s,
        )
        for s in range(3)
    ]

    mean = averaged_booster(members)

    raw = np.mean([m.predict(X, raw_score=True) for m in members], axis=0)
    np.testing.assert_allclose(mean.predict(X, raw_score=True), raw, atol=1e-12)
    contrib, variance = TreeShap(mean).contributions_and_variance(X)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-12)
    spread = sum(TreeShap(m).contributions_and_variance(X)[1] for m in members) / 9
    np.testing.assert_allclose(variance, spread, rtol=1e-9)  # Var(mean of 3) = ΣVar / 9
    again = lgb.Booster(model_str=mean.model_to_string())  # saved and loaded as one model
    np.testing.assert_allclose(again.predict(X, raw_score=True), raw, atol=1e-12)


def test_the_booster_learns_soft_labels_and_is_calibrated_on_the_labels(fast_config):
    from riskmodel.train import SOFT, training_records

    assert fast_config.soft_label_sd > 0  # the default config learns soft labels
    panel, _ = load_panel(fast_config.data)
    records = training_records(panel, fast_config)
    split = split_by_year(records, None)
    soft, hard = split.train[SOFT].to_numpy(), split.train["meets_criteria"].to_numpy(bool)

    assert 0.2 < (soft[hard] > 0.99).mean() < 1 and 0 < soft[~hard].mean() < 0.05
    np.testing.assert_array_equal(soft > 0.5, hard)
    model, _ = fit_model(split, fast_config, cross_fit=False)
    assert "objective=cross_entropy" in model.booster.model_to_string()
    # calibrated on the 0/1 labels of T-1 (a logistic fit with an intercept): their rate
    valid = model.predict_proba(split.valid)
    assert valid.mean() == pytest.approx(split.valid["meets_criteria"].mean(), rel=1e-3)
    hard_cfg = fast_config.model_copy(update={"soft_label_sd": 0.0})
    assert SOFT not in training_records(panel, hard_cfg)
    hard_model, _ = fit_model(
        split_by_year(training_records(panel, hard_cfg), None), hard_cfg, False
    )
    assert "objective=binary" in hard_model.booster.model_to_string()


def test_identified_learns_its_own_labels_whatever_the_soft_label_setting(fast_config):
    from riskmodel.train import SOFT, training_records

    panel, _ = load_panel(fast_config.data)
    cfg = fast_config.model_copy(update={"label": "identified"})

    assert SOFT not in training_records(panel, cfg)


def test_soft_labels_refuse_a_weight_the_objective_would_ignore(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("soft_label_sd: 0.25\nlightgbm:\n  scale_pos_weight: 3\n")

    with pytest.raises(ConfigError, match="scale_pos_weight has no effect on soft labels"):
        load_train_config(path)
    path.write_text("soft_label_sd: 0\nlightgbm:\n  scale_pos_weight: 3\n")
    assert load_train_config(path).lightgbm.scale_pos_weight == 3
