import numpy as np
import pandas as pd
import pytest

from riskmodel.catalogue import AUDIT_COLUMNS, FEATURES, PERSONAL_COLUMNS, RECORD_COLUMNS
from riskmodel.features import build_features, with_measure_facts


def test_records_have_exactly_the_catalogue_columns_and_types(small_county):
    records = build_features(small_county.panel)

    assert list(records.columns) == [c.name for c in RECORD_COLUMNS]
    assert len(records) == len(small_county.panel)
    for c in RECORD_COLUMNS:
        kind = records[c.name].dtype
        if c.dtype == "category":
            assert list(kind.categories) == list(FEATURES[c.name].levels), c.name
        elif c.dtype == "float":
            assert kind == "float64", c.name
        elif c.dtype == "bool":
            assert kind == np.dtype(bool), c.name


def test_audit_columns_never_reach_the_model(small_county):
    records = build_features(small_county.panel)

    assert not set(AUDIT_COLUMNS) & set(records.columns)
    assert set(AUDIT_COLUMNS) <= set(small_county.panel.columns)


def test_the_heads_name_and_vocational_count_never_reach_the_model(small_county):
    """Records are what training, MLflow's signature and input example and the API see; the
    measures read n_students_vocational beside them (with_measure_facts), never as a feature."""
    panel = small_county.panel
    records = build_features(panel)
    beside = with_measure_facts(records[records["year"] == 2025], panel)

    assert PERSONAL_COLUMNS == ["head_name"]
    assert not {"head_name", "n_students_vocational"} & set(records.columns)
    assert list(beside.columns) == [*records.columns, "n_students_vocational"]
    expected = panel.loc[panel["year"] == 2025, "n_students_vocational"]
    assert beside["n_students_vocational"].tolist() == expected.tolist()


@pytest.mark.parametrize("cut", [2016, 2019, 2022])
def test_changing_later_years_leaves_features_of_earlier_years_unchanged(small_county, cut):
    panel = small_county.panel
    later = panel["year"] > cut
    rng = np.random.default_rng(cut)
    changed = panel.copy()
    for col in ["net_income_pc", "inc_wage", "oop_medical", "monitor_line"]:
        changed.loc[later, col] = changed.loc[later, col] * rng.uniform(0.2, 3.0, later.sum())
    for col in ["is_monitored", "village_disaster", "housing_safe"]:
        changed.loc[later, col] = ~changed.loc[later, col]
    changed.loc[later, "n_severe_disabled"] = 0
    changed = changed[~(later & (rng.random(len(panel)) < 0.2))]  # drop some later rows too

    before = build_features(panel)
    after = build_features(changed)
    keep = before["year"] <= cut

    pd.testing.assert_frame_equal(
        before[keep].reset_index(drop=True), after[after["year"] <= cut].reset_index(drop=True)
    )


def test_history_features_use_the_household_own_past(small_county):
    panel = small_county.panel
    rec = build_features(panel).set_index(["hh_id", "year"])
    hh = panel.groupby("hh_id").filter(lambda g: len(g) >= 4)["hh_id"].iloc[0]
    rows = panel[panel["hh_id"] == hh].set_index("year").sort_index()
    t = rows.index[3]
    ratio = rows["net_income_pc"] / rows["monitor_line"]
    pcs = rows.loc[t - 2 : t, "net_income_pc"].to_numpy()

    r = rec.loc[(hh, t)]
    assert r["income_to_line"] == pytest.approx(ratio[t])
    assert r["income_to_line_lag1"] == pytest.approx(ratio[t - 1])
    assert r["income_cv_3y"] == pytest.approx(min(pcs.std() / abs(pcs.mean()), 2))


def test_first_year_of_a_household_has_no_history(small_county):
    rec = build_features(small_county.panel)
    first = rec.groupby("hh_id")["year"].transform("min") == rec["year"]

    assert rec.loc[first, "income_to_line_lag1"].isna().all()
    assert rec.loc[first, "income_cv_3y"].isna().all()


def test_income_and_spending_relative_to_the_line_restate_the_criteria(small_county):
    """The rigid-spending features restate the criterion `criteria` computes on its own: income
    after rigid spending below the line exactly when the rigid criterion is met; income without
    transfers and transfers add up to the income."""
    from riskmodel.criteria import criteria_met

    panel = small_county.panel
    records = build_features(panel)
    met = criteria_met(panel, which=["rigid"])["rigid"]
    line = panel["monitor_line"].to_numpy(float)

    assert met.sum() > 20
    np.testing.assert_array_equal(records["rigid_income_to_line"].to_numpy() < 1, met)
    np.testing.assert_allclose(
        records["income_to_line"] - records["rigid_spend_to_line"],
        records["rigid_income_to_line"],
    )
    components = panel[["inc_wage", "inc_business", "inc_property", "inc_transfer"]].sum(axis=1)
    np.testing.assert_allclose(
        (records["market_income_to_line"] + records["transfer_to_line"]) * line,
        components / panel["hh_size"].clip(lower=1),
    )
    lagged = records.set_index(["hh_id", "year"])["rigid_income_to_line"]
    later = records[records["year"] == 2025].set_index("hh_id")
    np.testing.assert_allclose(
        later["rigid_income_to_line_lag1"],
        lagged.xs(2024, level="year").reindex(later.index),
    )
