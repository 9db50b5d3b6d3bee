"""Monitoring statistics against direct computations: the estimated AUC against NannyML's
expected-ROC construction and its interval against Monte Carlo draws of the labels, recall and
positives likewise, PSI by hand, drift on the frozen bins, and the alarm's rules."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskmodel.labels import add_labels, in_population
from riskmodel.monitor.stats import (
    Z95,
    MonitorConfig,
    allowance,
    apply_calibrator,
    calibration_table,
    estimate,
    feature_drift,
    feature_spec,
    judge,
    psi,
    shares,
    widen,
)
from riskmodel.ranking import flag_top_share


def _probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(rng.normal(-2.7, 1.0, n))))
    village = np.array([f"V{i % 40:03d}" for i in range(n)])
    return p, village


def _cbpe_auc(p: np.ndarray) -> float:
    """NannyML's construction: expected TP and FP at every threshold, the ROC curve they give,
    its area by the trapezoid rule."""
    order = np.argsort(-p, kind="stable")
    q = p[order]
    # thresholds at each distinct probability, highest first
    last = np.r_[np.flatnonzero(np.diff(q) != 0), len(q) - 1]
    tp = np.cumsum(q)[last]
    fp = np.cumsum(1 - q)[last]
    tpr, fpr = np.r_[0, tp / q.sum()], np.r_[0, fp / (1 - q).sum()]
    return float(np.trapezoid(tpr, fpr))


@pytest.mark.parametrize("seed", [0, 1])
def test_estimated_auc_is_the_expected_roc_curve_of_calibrated_probabilities(seed):
    p, village = _probabilities(3000, seed)
    assert estimate(p, village, 0.1)["roc_auc"] == pytest.approx(_cbpe_auc(p), abs=2e-3)


def test_estimates_and_intervals_match_monte_carlo_draws_of_the_labels():
    p, village = _probabilities(4000, 7)
    est = estimate(p, village, 0.1)
    rng = np.random.default_rng(11)
    flagged = flag_top_share(p, village, 0.1)
    draws = rng.random((1500, len(p))) < p
    auc = np.array([roc_auc_score(y, p) for y in draws])
    recall = draws[:, flagged].sum(1) / draws.sum(1)
    positives = draws.sum(1)
    for name, sample in (
        ("roc_auc", auc),
        ("recall_at_capacity", recall),
        ("positives", positives),
    ):
        sd = (est[f"{name}_high"] - est[f"{name}_low"]) / (2 * 1.96)
        assert abs(sample.mean() - est[name]) < 0.15 * sd, name
        assert sample.std() == pytest.approx(sd, rel=0.1), name
        inside = ((sample >= est[f"{name}_low"]) & (sample <= est[f"{name}_high"])).mean()
        assert 0.93 < inside < 0.97, (name, inside)


def test_the_interval_widens_by_one_year_of_calibration_change():
    """A reference whose calibrator a year earlier gave probabilities 1.5 times as high, and
    whose estimator missed the reference year's AUC by 0.02: the allowance is the larger of
    that miss and the batch's own shift under the older calibrator (the expected ROC of the
    older probabilities, by NannyML's construction), and the interval's half-width is
    Z95 * sqrt(sampling sd^2 + allowance^2)."""
    p, village = _probabilities(3000, 5)
    raw = np.log(p / (1 - p))
    grid = np.linspace(raw.min(), raw.max(), 400)
    now = {"x": grid.tolist(), "y": (1 / (1 + np.exp(-grid))).tolist()}
    older = {"x": grid.tolist(), "y": (1.5 / (1 + np.exp(-grid))).clip(max=0.99).tolist()}
    base = estimate(apply_calibrator(now, raw), village, 0.1)
    check = {
        "estimated": {"roc_auc": 0.80, "recall_at_capacity": 0.40, "positives": 110.0},
        "realised": {"roc_auc": 0.78, "recall_at_capacity": 0.41, "positives": 100, "n": 1000},
    }
    reference = {"calibrator_previous": older, "estimator_check": check, "select_share": 0.1}

    tau = allowance(reference, raw, village, base)
    wide = widen(base, tau)

    shift = abs(_cbpe_auc(apply_calibrator(older, raw)) - _cbpe_auc(apply_calibrator(now, raw)))
    assert tau["roc_auc"] == pytest.approx(max(0.02, shift), abs=2e-3)
    assert tau["positives"] >= 10 * len(p) / 1000 - 1e-9
    sd = (base["roc_auc_high"] - base["roc_auc_low"]) / (2 * Z95)
    half = (wide["roc_auc_high"] - wide["roc_auc_low"]) / 2
    assert half == pytest.approx(Z95 * np.hypot(sd, tau["roc_auc"]))
    assert wide["roc_auc"] == base["roc_auc"] and wide["roc_auc_sampling_sd"] == pytest.approx(sd)
    assert allowance({}, raw, village, base) == {}


def test_psi_by_hand():
    e, a = [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]
    by_hand = (0.3 - 0.5) * np.log(0.3 / 0.5) + (0.4 - 0.2) * np.log(0.4 / 0.2)
    assert psi(e, a) == pytest.approx(by_hand)
    assert psi(e, e) == 0
    assert np.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


def test_frozen_bins_count_missing_unseen_and_out_of_range_apart():
    train = pd.Series(np.arange(100, dtype=float))
    spec = feature_spec(train, "net_income_pc", {})
    assert len(spec["edges"]) == 9
    s = shares(pd.Series([5.0, 50.0, np.nan, 150.0]), spec)
    assert sum(s["bins"]) + s["missing"] == pytest.approx(1)
    assert (s["missing"], s["out_of_range"]) == (0.25, 0.25)
    cat = feature_spec(
        pd.Series(["sugarcane"]), "main_industry", {"main_industry": ["sugarcane", "cattle"]}
    )
    s = shares(pd.Series(["sugarcane", "rice", None, "cattle"]), cat)
    assert s["bins"] == [0.25, 0.25]
    assert (s["unseen"], s["missing"]) == (0.25, 0.25)


def _reference(train: pd.DataFrame) -> dict:
    features = {}
    for name in train.columns.drop("year"):
        spec = feature_spec(train[name], name, {})
        spec["reference"] = shares(train[name], spec)
        spec["seen_psi"], spec["context"] = 0.0, False
        features[name] = spec
    return {"features": features, "estimated": {"roc_auc": 0.75, "recall_at_capacity": 0.4}}


def test_drift_ranks_the_shifted_feature_first_and_the_alarm_names_it():
    rng = np.random.default_rng(0)
    n = 5000
    train = pd.DataFrame(
        {
            "year": 2022,
            "net_income_pc": rng.lognormal(9, 0.5, n),
            "head_age": rng.integers(20, 80, n),
        }
    )
    ref = _reference(train)
    batch = train.assign(net_income_pc=train["net_income_pc"] * 0.6)
    drift = feature_drift(ref, batch)
    assert drift["feature"].tolist() == ["net_income_pc", "head_age"]
    assert drift.loc[0, "psi"] > 0.5 and drift.loc[1, "psi"] < 0.01
    same = judge(ref, feature_drift(ref, train), 0.0, {"roc_auc": 0.75}, MonitorConfig())
    assert (same.alarm, same.recommendation) == (False, "no action")
    moved = judge(ref, drift, 0.0, {"roc_auc": 0.75}, MonitorConfig())
    assert moved.alarm and moved.features == ["net_income_pc"]
    assert moved.recommendation == "investigate net_income_pc"
    dropped = judge(ref, drift, 0.0, {"roc_auc": 0.70}, MonitorConfig())
    assert dropped.recommendation == "retrain"


def test_drift_within_what_the_model_has_seen_is_no_alarm():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"year": 2022, "net_income_pc": rng.lognormal(9, 0.5, 4000)})
    ref = _reference(train)
    drift = feature_drift(ref, train.assign(net_income_pc=train["net_income_pc"] * 0.6))
    ref["features"]["net_income_pc"]["seen_psi"] = drift.loc[0, "psi"]
    drift["seen_psi"] = drift.loc[0, "psi"]
    assert not judge(ref, drift, 0.0, {"roc_auc": 0.75}, MonitorConfig()).alarm
    assert judge(ref, drift, 0.0, {"roc_auc": 0.75}, MonitorConfig(seen_factor=0.5)).alarm


def test_calibration_table_counts_expected_and_observed_per_group():
    p = np.array([0.1, 0.2, 0.5, 0.5])
    y = np.array([0, 1, 1, 0])
    t = calibration_table(p, {"tier": np.array(["g", "g", "r", "r"])}, y)
    assert t[["group", "n", "expected", "observed"]].to_dict("records") == [
        {"group": "g", "n": 2, "expected": pytest.approx(0.3), "observed": 1.0},
        {"group": "r", "n": 2, "expected": pytest.approx(1.0), "observed": 1.0},
    ]
    assert t.loc[0, "z"] == pytest.approx(0.7 / np.sqrt(0.09 + 0.16))


@pytest.mark.parametrize("label", ["meets_criteria", "persistent", "relapse", "identified"])
def test_population_of_a_batch_is_where_its_label_is_defined(small_county, label):
    panel = small_county.panel
    labels = add_labels(panel)
    has_next = panel.set_index(["hh_id", "year"]).index.isin(
        panel.assign(year=panel["year"] - 1).set_index(["hh_id", "year"]).index
    )
    defined = labels[label].notna().to_numpy()
    population = in_population(panel, label).to_numpy(bool)
    assert (population[has_next] == defined[has_next]).all()
    assert population.sum() > 100
