import numpy as np
import pandas as pd
import pytest
from scipy import stats

from riskmodel.calibrate import (
    apply_beta,
    calibration_table,
    caseload,
    count_interval,
    fit_beta,
    poisson_binomial_pmf,
    table_metrics,
)


@pytest.mark.parametrize("n", [40, 1000])  # one block, and blocks convolved (a township)
def test_poisson_binomial_with_equal_probabilities_is_the_binomial(n):
    pmf = poisson_binomial_pmf(np.full(n, 0.13))

    np.testing.assert_allclose(pmf, stats.binom.pmf(np.arange(n + 1), n, 0.13), atol=1e-12)


def test_poisson_binomial_matches_monte_carlo_for_unequal_probabilities():
    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 6, 150)
    draws = (rng.random((200_000, len(p))) < p).sum(axis=1)

    pmf = poisson_binomial_pmf(p)
    freq = np.bincount(draws, minlength=len(p) + 1) / len(draws)

    assert pmf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pmf, freq, atol=0.003)
    assert (np.arange(len(pmf)) * pmf).sum() == pytest.approx(p.sum())


def test_count_interval_holds_about_ninety_percent_of_draws():
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 6, 170)
    draws = (rng.random((50_000, len(p))) < p).sum(axis=1)

    low, high = count_interval(p)

    inside = ((draws >= low) & (draws <= high)).mean()
    assert 0.90 <= inside <= 0.97  # a discrete count: at least the level, not much more
    cdf = np.cumsum(poisson_binomial_pmf(p))
    assert cdf[low - 1] < 0.05 <= cdf[low] and cdf[high - 1] < 0.95 <= cdf[high]  # central
    assert low <= p.sum() <= high


def test_calibration_table_groups_tiers_top_shares_and_townships():
    prob = np.array([0.5, 0.3, 0.1, 0.09, 0.01, 0.02] * 50)
    y = np.array([1, 0, 0, 1, 0, 0] * 50)
    tier = np.where(prob >= 0.25, "red", np.where(prob >= 0.08, "amber", "green"))
    township = np.array(["a", "b"] * 150)
    oracle = prob * 0.8

    table = calibration_table(prob, y, tier, township, oracle)

    red = table[(table["group"] == "tier") & (table["value"] == "red")].iloc[0]
    assert red["households"] == 100
    assert red["predicted"] == pytest.approx(0.4)
    assert red["observed"] == pytest.approx(0.5)
    assert red["predicted_vs_oracle"] == pytest.approx(0.25)
    top1 = table[(table["group"] == "top") & (table["value"] == "1%")].iloc[0]
    assert top1["households"] == 3 and top1["predicted"] == pytest.approx(0.5)
    assert list(table.loc[table["group"] == "township", "value"]) == ["a", "b"]
    metrics = table_metrics(table, "test_")
    assert metrics["oracle_test_calib_red_ours_vs_oracle"] == pytest.approx(0.25)
    assert metrics["oracle_test_calib_red_mean"] == pytest.approx(0.32)
    assert metrics["test_calib_top10pct_observed"] == pytest.approx(
        y[np.argsort(-prob, kind="stable")[:30]].mean()
    )


def test_caseload_sums_each_labels_probabilities_per_village():
    rows = pd.DataFrame(
        {
            "village_id": ["v1"] * 4 + ["v2"] * 3,
            "township_id": ["t1"] * 7,
            "status": [
                "not_monitored",
                "not_monitored",
                "monitored",
                "meets_criteria",
                "not_monitored",
                "monitored",
                "monitored",
            ],
            "label": [
                "meets_criteria",
                "meets_criteria",
                "persistent",
                None,
                "meets_criteria",
                None,
                "persistent",
            ],
            "probability": [0.2, 0.1, 0.6, np.nan, 0.5, np.nan, 0.4],
        }
    )

    by_village = caseload(rows, "village_id").set_index("village_id")
    by_township = caseload(rows, "township_id").set_index("township_id")

    assert by_village.loc["v1", "expected_new"] == pytest.approx(0.3)
    assert by_village.loc["v1", "households_new"] == 2
    assert by_village.loc["v1", "expected_persistent"] == pytest.approx(0.6)
    assert by_village.loc["v1", "meets_now"] == 1
    assert by_village.loc["v2", "households_persistent"] == 1  # the one without a model is not
    assert by_township.loc["t1", "expected_new"] == pytest.approx(0.8)
    assert (by_township["expected_new_low"] <= by_township["expected_new"]).all()


def test_beta_calibration_recovers_the_map_that_generated_the_outcomes():
    rng = np.random.default_rng(2)
    raw = rng.normal(-2.5, 1.2, 200_000)
    truth = (0.7, 1.3, -0.3)
    y = rng.random(len(raw)) < apply_beta(raw, truth)

    fitted = fit_beta(raw, y)

    np.testing.assert_allclose(fitted, truth, atol=0.06)


def test_beta_calibration_with_equal_coefficients_is_platt_scaling():
    raw = np.linspace(-6, 3, 50)

    np.testing.assert_allclose(
        apply_beta(raw, (0.8, 0.8, -0.4)), 1 / (1 + np.exp(-(0.8 * raw - 0.4))), rtol=1e-12
    )


def test_beta_calibration_stays_monotone_when_one_coefficient_would_be_negative():
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 2, 50_000)
    y = rng.random(len(raw)) < 1 / (1 + np.exp(-(1.5 * raw)))  # steep at both ends: a, b free
    y[raw > 3] = rng.random((raw > 3).sum()) < 0.5  # the top falls back: b alone would go < 0

    a, b, _ = fit_beta(raw, y)

    assert a >= 0 and b >= 0
    p = apply_beta(np.sort(raw), (a, b, _))
    assert (np.diff(p) >= -1e-12).all()


def test_batch_caseload_holds_the_oracles_expectation_and_the_realised_count(
    trained, training_county, tmp_path
):
    """The batch's expected caseload per township (Parquet and workbook) against the
    simulator's exact expectation and the count that happened the next year."""
    import openpyxl

    from riskmodel.score import run_batch
    from riskmodel.score.outputs import caseload_path
    from riskmodel.train import labelled_records, load_oracle

    model, panel = trained
    db = f"sqlite:///{tmp_path / 'store.db'}"
    batch = run_batch(training_county, tmp_path, db, model, "7", "r", year=2024)
    table = pd.read_parquet(caseload_path(batch.parquet))
    towns = table[table["level"] == "township"].set_index("township_id")

    labels = labelled_records(panel, "meets_criteria")
    labels = labels[labels["year"] == 2024][["hh_id", "meets_criteria"]]
    oracle = load_oracle(training_county, "meets_criteria")
    served = batch.rows[batch.rows["label"] == "meets_criteria"][["hh_id", "township_id"]]
    truth = served.merge(labels, on="hh_id").merge(oracle[oracle["year"] == 2024], on="hh_id")
    assert len(truth) >= 0.98 * len(served)  # a few leave the panel: no label next year
    by_town = truth.groupby("township_id").agg(
        oracle=("p", "sum"), realised=("meets_criteria", "sum")
    )
    both = towns.join(by_town)

    assert both["expected_new"].sum() == pytest.approx(both["oracle"].sum(), rel=0.15)
    inside = both["realised"].between(both["expected_new_low"], both["expected_new_high"])
    assert inside.mean() >= 0.6, both[["expected_new", "oracle", "realised"]]
    sheet = openpyxl.load_workbook(batch.workbook)["预计需帮扶户数"]
    first = [c.value for c in next(sheet.iter_rows(min_row=3, max_row=3))]
    town = towns.iloc[0]
    assert first[3] == pytest.approx(round(town["expected_new"], 1))
    assert first[4] == f"{town['expected_new_low']}–{town['expected_new_high']}"
