import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskmodel import evaluate as ev


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    n = 3000
    village = rng.integers(0, 30, n).astype(str)
    prob = rng.beta(1, 20, n)
    y = (rng.random(n) < prob).astype(int)
    return y, prob, village


def test_metrics_agree_with_sklearn(scored):
    y, prob, village = scored

    m = ev.metrics(y, prob, village)

    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, prob))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, prob))
    assert m["brier"] == pytest.approx(brier_score_loss(y, prob))


def test_ece_uses_ten_equal_frequency_bins():
    prob = np.repeat(np.linspace(0.05, 0.95, 10), 10)
    y = np.zeros(100)
    y[::10] = 1  # every bin has observed rate 0.1

    expected = np.mean(np.abs(np.linspace(0.05, 0.95, 10) - 0.1))
    assert ev.expected_calibration_error(y, prob) == pytest.approx(expected)


def test_top_share_flags_ten_percent_of_each_village_rounded_up(scored):
    _, prob, village = scored

    flagged = ev.flag_top_share(prob, village, 0.10)

    for v in np.unique(village):
        m = village == v
        assert flagged[m].sum() == np.ceil(0.1 * m.sum())
        assert prob[m & flagged].min() >= prob[m & ~flagged].max()


def test_recall_and_precision_at_operating_point(scored):
    y, prob, village = scored
    flagged = ev.flag_top_share(prob, village, 0.10)

    m = ev.metrics(y, prob, village)

    assert m["recall_at_10pct_village"] == pytest.approx((flagged & (y == 1)).sum() / y.sum())
    assert m["precision_at_10pct_village"] == pytest.approx(y[flagged].mean())


def test_bootstrap_interval_brackets_the_estimate(scored):
    y, prob, village = scored

    ci = ev.bootstrap_intervals(y, prob, village, 0.10, resamples=100)

    lo, hi = ci["roc_auc"]
    assert lo < roc_auc_score(y, prob) < hi


def test_wilson_upper_bound_known_value():
    assert ev.wilson_upper(5, 10) == pytest.approx(0.7634, abs=1e-4)


def test_subgroup_with_clearly_low_recall_fails_and_small_one_is_not_judged():
    n = 2000
    y = np.zeros(n, int)
    y[:400] = 1
    flagged = np.zeros(n, bool)
    flagged[:200] = True  # overall recall 0.5
    group = pd.Series(np.where(np.arange(n) < 200, "no", "yes"))
    groups = {
        "relocated": group,
        "township": pd.Series(np.where(np.arange(n) % 2 == 0, "T01", "T02")),
    }

    table = ev.subgroup_table(y, y * 0.5, flagged, groups, min_positives=20, min_recall_ratio=0.8)

    row = table[(table["group"] == "relocated") & (table["value"] == "yes")].iloc[0]
    assert row["recall"] == 0 and row["status"] == "fails"
    assert (
        table[(table["group"] == "relocated") & (table["value"] == "no")]["status"].iloc[0]
        == "not judged"
    )


def test_rule_score_flags_low_income_guarantee_failure_and_medical_bill(small_county):
    from riskmodel.features import build_features

    rec = build_features(small_county.panel)
    score = ev.rule_score(rec)

    expected = (
        (rec["income_to_line"] < 1.1)
        | ~rec["all_insured"]
        | ~rec["housing_safe"]
        | ~rec["water_safe"]
        | (rec["n_dropout"] > 0)
        | (rec["oop_medical"] > 20000)
    )
    assert (score == expected.astype(float)).all()
