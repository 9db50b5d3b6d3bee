"""An interval per household (riskmodel.interval): its pieces against direct computations, its
coverage of the simulator's exact probabilities, and where cadres and clients see it."""

import dataclasses

import numpy as np
import pytest

from riskmodel.calibrate import apply_beta
from riskmodel.interval import bounds, coverage, fit_scales, logit_sd
from riskmodel.model import RelapseModel
from riskmodel.train import (
    _on_oracle,
    fit_interval,
    interval_metrics,
    labelled_records,
    load_oracle,
    split_by_year,
)


def test_logit_sd_is_the_calibration_maps_slope_times_the_raw_sd():
    calibration = (1.3, 0.8, -0.2)
    raw = np.linspace(-6, 2, 50)
    h = 1e-6
    p_up, p_down = (apply_beta(raw + d, calibration) for d in (h, -h))
    slope = (np.log(p_up / (1 - p_up)) - np.log(p_down / (1 - p_down))) / (2 * h)

    got = logit_sd(raw, np.full(50, 0.04), calibration)

    np.testing.assert_allclose(got, np.abs(slope) * 0.2, rtol=1e-5)


def test_fitted_scales_hold_ninety_percent_in_each_tier_where_they_were_fitted():
    rng = np.random.default_rng(3)
    n = 20_000
    prob = rng.beta(1, 12, n)
    sd = rng.uniform(0.05, 0.4, n)
    truth = 1 / (1 + np.exp(-(np.log(prob / (1 - prob)) + rng.normal(0, 1, n) * sd * 7)))
    tiers = np.where(prob >= 0.25, "red", np.where(prob >= 0.08, "amber", "green"))

    scales = fit_scales(prob, sd, truth, tiers)
    low, high = bounds(prob, sd, tiers, scales)

    assert scales["green"] == pytest.approx(7 * 1.645, rel=0.05)  # the normal's 90% point
    for tier, share in coverage(low, high, truth, tiers).items():
        assert share == pytest.approx(0.90, abs=0.01), tier
    assert (low <= prob).all() and (prob <= high).all()


@pytest.fixture(scope="module")
def fitted(trained, training_county):
    """The trained model with its interval fitted on the calibration year's oracle (a copy:
    the session's model keeps its own)."""
    model, panel = trained
    copy = RelapseModel(None, dataclasses.replace(model.meta), model.folder)
    copy._shap = model.explainer
    split = split_by_year(labelled_records(panel, "meets_criteria"), None)
    oracle = load_oracle(training_county, "meets_criteria")
    copy.meta.interval = fit_interval(copy, split.valid, oracle)
    return copy, split, oracle


def test_intervals_hold_the_oracle_in_about_ninety_percent_of_a_later_year(fitted):
    model, split, oracle = fitted
    assert model.meta.interval["fitted_on"].endswith(str(split.test_year - 1))

    m = interval_metrics(model, split.test, _on_oracle(split.test, oracle))

    for tier in ("amber", "green", "all"):  # the red tier has too few households here
        assert 0.82 <= m[f"oracle_test_interval_coverage_{tier}"] <= 0.97, (tier, m)
    assert 0 < m["oracle_test_interval_width_median"] < 0.2


def test_the_batch_carries_the_interval_where_there_is_a_probability(service):
    rows = service["rows"]
    scored = rows[rows["probability"].notna()]
    assert scored["probability_low"].notna().all()
    assert (scored["probability_low"] <= scored["probability"]).all()
    assert (scored["probability"] <= scored["probability_high"]).all()
    assert rows.loc[rows["probability"].isna(), "probability_low"].isna().all()
