"""Evaluation against values worked out by hand or by an independent computation."""

import numpy as np
import pandas as pd
import pytest

from riskmodel import evaluate as ev


def test_metrics_on_a_small_case_worked_by_hand():
    # y:      0    0    1    1    0    1
    # score: .10  .40  .35  .80  .20  .90
    y = np.array([0, 0, 1, 1, 0, 1])
    score = np.array([0.10, 0.40, 0.35, 0.80, 0.20, 0.90])
    village = np.array(["A"] * 6)

    m = ev.metrics(y, score, village)

    # pairs (pos, neg) ranked right: .35 beats .10 and .20 (2 of 3); .80 and .90 beat all (3 + 3)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    # ranked .90(+) .80(+) .40(-) .35(+): precision at each positive 1, 1, 3/4
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75) / 3)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.65**2 + 0.2**2 + 0.04 + 0.01) / 6)
    # top 10% of a village of 6 rounds up to 1 household: the .90, a positive
    assert m["recall_at_10pct_village"] == pytest.approx(1 / 3)
    assert m["precision_at_10pct_village"] == 1.0


def test_ece_uses_ten_equal_frequency_bins():
    prob = np.repeat(np.linspace(0.05, 0.95, 10), 10)
    y = np.zeros(100)
    y[::10] = 1  # every bin has observed rate 0.1

    expected = np.mean(np.abs(np.linspace(0.05, 0.95, 10) - 0.1))
    assert ev.expected_calibration_error(y, prob) == pytest.approx(expected)


def test_top_share_flags_listed_households_per_village():
    village = np.array(["A"] * 12 + ["B"] * 5 + ["C"] * 21)
    score = np.concatenate(
        [
            np.arange(12) / 12,
            [0.9, 0.1, 0.5, 0.3, 0.7],
            (np.arange(21) % 7) / 7 + np.arange(21) / 1e3,
        ]
    )

    flagged = ev.flag_top_share(score, village, 0.10)

    # A: ceil(1.2) = 2 -> the two highest (rows 11, 10); B: ceil(0.5) = 1 -> row 12 (0.9);
    # C: ceil(2.1) = 3 -> scores 6/7 + .020, 6/7 + .013, 6/7 + .006 (rows 37, 30, 23)
    assert sorted(np.flatnonzero(flagged)) == [10, 11, 12, 23, 30, 37]


def test_top_share_breaks_ties_at_random_not_by_row_order():
    village = np.array(["A"] * 100)
    score = np.zeros(100)  # a binary score with everyone tied

    picks = np.flatnonzero(ev.flag_top_share(score, village, 0.10))

    assert len(picks) == 10 and picks.max() > 20  # row order would take rows 0-9


def _clustered(villages: int = 12, per_village: int = 250, seed: int = 1):
    """Villages that differ a lot: each has its own base rate and its own score shift, so the
    uncertainty of the AUC comes from the few villages, not from the many rows."""
    rng = np.random.default_rng(seed)
    v = np.repeat(np.arange(villages), per_village)
    effect = rng.normal(0, 1.5, villages)[v]
    x = rng.normal(0, 1, len(v))
    p = 1 / (1 + np.exp(-(-2.5 + effect + 0.8 * x)))
    y = (rng.random(len(v)) < p).astype(int)
    score = 1 / (1 + np.exp(-(-2.5 + 0.8 * x + rng.normal(0, 1.5, villages)[v])))
    return y, score, v.astype(str)


def _row_bootstrap_auc_width(y, score, resamples=200, seed=0):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        aucs.append(roc_auc_score(y[i], score[i]))
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return hi - lo


def test_bootstrap_resamples_villages_not_rows():
    y, score, village = _clustered()

    ci = ev.bootstrap_intervals(y, score, village, 0.10, resamples=200)

    lo, hi = ci["roc_auc"]
    row_width = _row_bootstrap_auc_width(y, score)
    # with 12 very different villages the cluster interval is several times the row one;
    # a plain row bootstrap gives about row_width and fails this
    assert hi - lo > 2 * row_width
    assert lo < ev.metrics(y, score, village)["roc_auc"] < hi
    rlo, rhi = ci["recall_at_10pct_village"]
    assert 0 <= rlo < ev.metrics(y, score, village)["recall_at_10pct_village"] < rhi <= 1


def test_bootstrap_of_identical_villages_is_tight():
    """The reverse: when villages are alike, resampling villages is about as tight as rows."""
    rng = np.random.default_rng(2)
    n = 3000
    village = rng.integers(0, 60, n).astype(str)
    score = rng.random(n)
    y = (rng.random(n) < 0.05 + 0.2 * score).astype(int)

    lo, hi = ev.bootstrap_intervals(y, score, village, 0.10, resamples=200)["roc_auc"]

    assert hi - lo < 1.6 * _row_bootstrap_auc_width(y, score)


def test_wilson_upper_bound_known_value():
    assert ev.wilson_upper(5, 10) == pytest.approx(0.7634, abs=1e-4)
    assert ev.wilson_upper(0, 20) == pytest.approx(0.1611, abs=1e-4)


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
    assert (row["positives"], row["recall"], row["status"]) == (200, 0, "fails")
    no = table[(table["group"] == "relocated") & (table["value"] == "no")].iloc[0]
    assert (no["recall"], no["status"]) == (1.0, "not judged")
    townships = table[table["group"] == "township"].set_index("value")
    assert townships.loc["T01", "recall"] == 0.5 and townships.loc["T01", "status"] == "ok"


def test_subgroup_below_the_bar_by_noise_only_is_watched_not_failed():
    n = 1000
    y = np.zeros(n, int)
    y[:200] = 1
    flagged = np.zeros(n, bool)
    flagged[:100] = True  # overall recall 0.5; the bar is 0.8 x 0.5 = 0.4
    member = np.full(n, "no", dtype=object)
    member[:21] = member[100:139] = member[500:600] = "yes"  # 60 positives, 21 flagged: .35

    table = ev.subgroup_table(y, y * 0.1, flagged, {"female-headed": pd.Series(member)}, 20, 0.8)

    yes = table[table["value"] == "yes"].iloc[0]
    assert (yes["positives"], yes["households"]) == (60, 160)
    assert yes["recall"] == pytest.approx(0.35)
    assert (
        yes["recall_upper95"] == pytest.approx(ev.wilson_upper(21, 60))
        and ev.wilson_upper(21, 60) > 0.4
    )
    assert yes["status"] == "watch"

    member[:] = "no"
    member[:30] = member[100:200] = "yes"  # 130 positives, 30 flagged: .23, upper end below .4
    table = ev.subgroup_table(y, y * 0.1, flagged, {"female-headed": pd.Series(member)}, 20, 0.8)

    yes = table[table["value"] == "yes"].iloc[0]
    assert yes["recall"] == pytest.approx(30 / 130) and ev.wilson_upper(30, 130) < 0.4
    assert yes["status"] == "fails"


def test_rule_score_on_hand_made_records():
    from riskmodel.catalogue import RECORD_COLUMNS

    base = {c.name: 0 for c in RECORD_COLUMNS}
    base |= {"income_to_line": 2.0, "all_insured": True, "housing_safe": True, "water_safe": True}
    base |= {"oop_medical": 1000.0, "n_dropout": 0, "new_severe_disability": False}
    cases = [
        ({}, 0.0),
        ({"income_to_line": 1.09}, 1.0),
        ({"income_to_line": 1.1}, 0.0),
        ({"water_safe": False}, 1.0),
        ({"all_insured": False}, 1.0),
        ({"n_dropout": 1}, 1.0),
        ({"oop_medical": 20_000.0}, 0.0),
        ({"oop_medical": 20_001.0}, 1.0),
    ]
    records = pd.DataFrame([base | change for change, _ in cases])
    records = records[[c for c in records.columns if c in {c.name for c in RECORD_COLUMNS}]]

    assert ev.rule_score(records).tolist() == [expected for _, expected in cases]


def test_village_rate_baseline_uses_past_rows_and_county_rate_for_new_villages():
    history = pd.DataFrame(
        {"village_id": ["A", "A", "A", "A", "B", "B"], "relapse": [1, 0, 0, 0, 1, 1]}
    )
    test = pd.DataFrame({"village_id": ["B", "A", "C"]})

    score = ev.village_rate_score(history, "relapse", test)

    assert score.tolist() == pytest.approx([1.0, 0.25, 3 / 6])


def test_carried_status_baseline_is_the_current_monitoring_flag():
    records = pd.DataFrame({"is_monitored": [True, False, True]})

    assert ev.carry_score(records).tolist() == [1.0, 0.0, 1.0]


def test_logistic_baseline_matches_a_plain_sklearn_fit_on_numbers():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    n = 400
    rec = pd.DataFrame({"income_to_line": rng.normal(2, 0.5, n), "hh_size": rng.integers(1, 8, n)})
    y = (rng.random(n) < 1 / (1 + np.exp(3 * (rec["income_to_line"] - 2)))).astype(int)
    feats = ["income_to_line", "hh_size"]

    pipe = ev.logistic_baseline(rec, y, feats)
    ours = ev.logistic_predict(pipe, rec, feats)

    X = StandardScaler().fit_transform(rec[feats].astype(float))
    ref = LogisticRegression(max_iter=2000).fit(X, y).predict_proba(X)[:, 1]
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert np.corrcoef(ours, -rec["income_to_line"])[0, 1] > 0.95
