"""Labels and their populations, criteria and status, on hand-built household-years."""

import numpy as np
import pandas as pd
import pytest

from riskmodel.criteria import (
    CriteriaConfig,
    criteria_codes,
    criteria_margin,
    criteria_met,
    describe,
    protective_blocked,
    status,
)
from riskmodel.features import build_features
from riskmodel.labels import (
    LABELS,
    add_labels,
    registered_model_name,
    soft_label,
    supported_labels,
)

LINE = 5000.0
CLEAN = {
    "is_monitored": False,
    "risk_eliminated": False,
    "net_income_pc": 8000.0,
    "monitor_line": LINE,
    "hh_size": 4,
    "oop_medical": 0.0,
    "edu_spend": 0.0,
    "housing_safe": True,
    "water_safe": True,
    "all_insured": True,
    "n_dropout": 0,
}
"""A household-year that meets no criterion and is not monitored."""


def household(hh: str, years: dict[int, dict]) -> list[dict]:
    return [{"hh_id": hh, "year": y, **CLEAN, **change} for y, change in years.items()]


def panel(*households: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for h in households for row in h])


def label_of(labels: pd.DataFrame, hh: str, year: int, name: str):
    value = labels.loc[(labels["hh_id"] == hh) & (labels["year"] == year), name].iloc[0]
    return None if pd.isna(value) else bool(value)


# --- criteria ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, set()),
        ({"net_income_pc": LINE}, set()),  # at the line is not below it
        ({"net_income_pc": LINE - 1}, {"income", "rigid"}),
        # 8,000 - 12,004 / 4 = 4,999 < 5,000: rigid spending takes income below the line
        ({"oop_medical": 12_004.0}, {"rigid"}),
        ({"oop_medical": 12_000.0}, set()),  # exactly at the line after spending
        ({"oop_medical": 6_000.0, "edu_spend": 6_004.0}, {"rigid"}),
        ({"oop_medical": 20_001.0, "net_income_pc": 20_000.0}, {"hardship"}),
        ({"oop_medical": 20_000.0, "net_income_pc": 20_000.0}, set()),
        ({"housing_safe": False}, {"guarantee"}),
        ({"water_safe": False}, {"guarantee"}),
        ({"all_insured": False}, {"guarantee"}),
        ({"n_dropout": 1}, {"guarantee"}),
        ({"net_income_pc": np.nan}, set()),  # missing values never meet a criterion
        ({"housing_safe": None, "water_safe": None}, set()),
    ],
)
def test_each_criterion_at_its_edge(change, expected):
    rows = panel(household("H1", {2020: change}))

    met = criteria_met(rows)

    assert {k for k, v in met.items() if k != "any" and v[0]} == expected
    assert bool(met["any"][0]) == bool(expected)


@pytest.mark.parametrize(
    ("change", "margin"),
    [
        ({}, np.log(8000 / LINE)),  # income and income after spending both 1.6 x the line
        ({"oop_medical": 12_004.0}, np.log(4999 / LINE)),  # rigid: 8,000 - 12,004 / 4
        ({"oop_medical": 4_000.0, "net_income_pc": 20_000.0}, np.log(19_000 / LINE)),
        # hardship nearest: 20,000 / 18,000 against (40,000 - 4,500) / 5,000
        ({"oop_medical": 18_000.0, "net_income_pc": 40_000.0}, np.log(20_000 / 18_000)),
        ({"oop_medical": 25_000.0, "net_income_pc": 40_000.0}, np.log(20_000 / 25_000)),
        ({"net_income_pc": LINE}, 0.0),  # at the line: not met
        ({"net_income_pc": 0.0}, -np.inf),
        ({"net_income_pc": -300.0}, -np.inf),
        ({"water_safe": False}, -np.inf),  # a guarantee fails, whatever the income
        ({"net_income_pc": np.nan, "oop_medical": np.nan}, np.inf),  # nothing to read
    ],
)
def test_criteria_margin_is_the_log_ratio_to_the_nearest_threshold(change, margin):
    rows = panel(household("H1", {2020: change}))

    got = criteria_margin(rows)[0]

    assert got == pytest.approx(margin, abs=1e-12) if np.isfinite(margin) else got == margin
    assert (got < 0) == bool(criteria_met(rows)["any"][0])


def test_criteria_margin_is_negative_exactly_where_the_criteria_are_met(small_county):
    p = small_county.panel

    margin, met = criteria_margin(p), criteria_met(p)["any"]

    assert 0.05 < met.mean() < 0.5
    np.testing.assert_array_equal(margin < 0, met)


def test_education_is_left_out_of_rigid_spending_when_configured():
    rows = panel(household("H1", {2020: {"edu_spend": 12_004.0}}))

    assert criteria_met(rows)["rigid"][0]
    assert not criteria_met(rows, CriteriaConfig(rigid_includes_education=False))["rigid"][0]


def test_hardship_threshold_comes_from_the_configuration():
    rows = panel(household("H1", {2020: {"oop_medical": 15_000.0, "net_income_pc": 40_000.0}}))

    assert not criteria_met(rows)["hardship"][0]
    assert criteria_met(rows, CriteriaConfig(hardship_medical_yuan=10_000))["hardship"][0]


def test_model_input_records_meet_the_same_criteria_as_their_panel_rows(small_county):
    """Records carry income_to_line instead of the line: the criteria must not change."""
    p = small_county.panel
    records = build_features(p)
    assert "monitor_line" not in records

    from_panel = criteria_met(p)
    from_records = criteria_met({c: records[c].to_numpy() for c in records.columns})

    assert from_panel["any"].mean() > 0.05
    for k in ("income", "rigid", "guarantee", "hardship", "any"):
        np.testing.assert_array_equal(from_records[k], from_panel[k], err_msg=k)


def test_a_record_with_zero_income_is_below_the_line_without_monitor_line():
    rec = {"net_income_pc": [0.0, -50.0], "income_to_line": [0.0, -0.01], "hh_size": [3, 3]}
    rec |= {"oop_medical": [0.0, 0.0], "edu_spend": [0.0, 0.0]}

    met = criteria_met(rec)

    assert met["income"].tolist() == [True, True] and met["rigid"].tolist() == [True, True]


def test_criteria_of_a_frame_without_any_criterion_column_are_all_false():
    met = criteria_met(pd.DataFrame({"hh_id": ["a", "b"], "year": [2020, 2020]}))

    assert met["any"].tolist() == [False, False]


def test_codes_and_texts_name_the_criteria_met():
    rows = panel(household("H1", {2020: {"net_income_pc": 100.0, "water_safe": False}}))

    codes = criteria_codes(criteria_met(rows))

    assert codes == ["income,rigid,guarantee"]
    assert describe(codes[0]).startswith("人均纯收入低于监测标准；")
    assert "drinking" not in describe(codes[0], 1) and "guarantee fails" in describe(codes[0], 1)


def test_values_that_meet_a_criterion_are_blocked_from_being_protective():
    rows = panel(household("H1", {2020: {"net_income_pc": 100.0}, 2021: {}}))
    features = ["income_to_line", "oop_medical", "housing_safe", "head_age"]

    blocked = protective_blocked(criteria_met(rows), features)

    assert blocked.tolist() == [[True, True, False, False], [False, False, False, False]]


# --- status ----------------------------------------------------------------------------------


def test_status_of_every_kind_of_household():
    rows = panel(
        household("A", {2021: {}}),
        household("B", {2021: {"net_income_pc": 3000.0}}),
        household("C", {2021: {"is_monitored": True, "net_income_pc": 3000.0}}),
        household("D", {2021: {"is_monitored": True}}),
        household("E", {2021: {"risk_eliminated": True}}),
        household("F", {2021: {"is_monitored": None, "housing_safe": False}}),
    )

    got = status(rows, criteria_met(rows)["any"])

    expected = ["not_monitored", "meets_criteria", "monitored", "monitored", "not_monitored"]
    assert got.tolist() == [*expected, "meets_criteria"]


# --- labels and their populations ------------------------------------------------------------


def test_meets_criteria_population_and_value():
    rows = panel(
        household("up", {2020: {}, 2021: {"net_income_pc": 4000.0}}),  # falls below: True
        household("flat", {2020: {}, 2021: {}}),  # stays clear: False
        household("shock", {2020: {}, 2021: {"water_safe": False}}),  # guarantee fails: True
        household("below", {2020: {"net_income_pc": 4000.0}, 2021: {"net_income_pc": 4000.0}}),
        household("monitored", {2020: {"is_monitored": True}, 2021: {"net_income_pc": 10.0}}),
        household("gap", {2019: {}, 2021: {"net_income_pc": 10.0}}),  # no row for 2020
    )

    labels = add_labels(rows)

    assert label_of(labels, "up", 2020, "meets_criteria") is True
    assert label_of(labels, "flat", 2020, "meets_criteria") is False
    assert label_of(labels, "shock", 2020, "meets_criteria") is True
    # already meeting the criteria at t: to be enrolled now, not predicted
    assert label_of(labels, "below", 2020, "meets_criteria") is None
    assert label_of(labels, "monitored", 2020, "meets_criteria") is None
    assert label_of(labels, "gap", 2019, "meets_criteria") is None
    # the last year has no t+1
    assert labels.loc[labels["year"] == 2021, "meets_criteria"].isna().all()


def test_soft_labels_follow_the_margin_at_t_plus_one():
    rows = panel(
        household("near", {2020: {}, 2021: {"net_income_pc": 5100.0}}),  # 2% above the line
        household("below", {2020: {}, 2021: {"net_income_pc": 4900.0}}),
        household("far", {2020: {}, 2021: {"net_income_pc": 20_000.0}}),
        household("shock", {2020: {}, 2021: {"water_safe": False, "net_income_pc": 20_000.0}}),
        household("gap", {2019: {}, 2021: {}}),
    )
    labels = add_labels(rows)

    soft = soft_label(rows, "meets_criteria", 0.25).set_axis(
        pd.MultiIndex.from_frame(rows[["hh_id", "year"]])
    )
    relapse = soft_label(rows, "relapse", 0.25).set_axis(soft.index)

    from scipy.stats import norm

    assert soft["near", 2020] == pytest.approx(norm.cdf(-np.log(1.02) / 0.25))
    assert soft["below", 2020] == pytest.approx(norm.cdf(-np.log(0.98) / 0.25))
    assert soft["far", 2020] < 1e-6 and soft["shock", 2020] == 1.0
    assert relapse["shock", 2020] < 1e-6  # relapse reads income alone
    assert np.isnan(soft["gap", 2019]) and np.isnan(soft["near", 2021])
    defined = labels["meets_criteria"].notna().to_numpy()
    np.testing.assert_array_equal(
        soft.to_numpy()[defined] > 0.5, labels["meets_criteria"][defined].to_numpy(bool)
    )


def test_soft_labels_agree_with_every_label_that_has_one(small_county):
    p = small_county.panel
    labels = add_labels(p)

    for name in ("meets_criteria", "persistent", "relapse"):
        defined = labels[name].notna().to_numpy()
        soft = soft_label(p, name, 0.1).to_numpy()

        assert not np.isnan(soft[defined]).any(), name
        np.testing.assert_array_equal(
            soft[defined] > 0.5, labels[name][defined].to_numpy(bool), err_msg=name
        )
    with pytest.raises(ValueError, match="'identified' has no soft value"):
        soft_label(p, "identified", 0.25)


def test_persistent_population_and_value():
    rows = panel(
        household(
            "stays",
            {2020: {"is_monitored": True, "net_income_pc": 3000.0}, 2021: {"is_monitored": True}},
        ),
        household(  # monitored, still below the line the next year (even if marked eliminated)
            "below",
            {
                2020: {"is_monitored": True},
                2021: {"net_income_pc": 4000.0, "risk_eliminated": True},
            },
        ),
        household("clear", {2020: {"is_monitored": True}, 2021: {"risk_eliminated": True}}),
        household("unmonitored", {2020: {"net_income_pc": 3000.0}, 2021: {}}),
        household("gap", {2019: {"is_monitored": True}, 2021: {"net_income_pc": 10.0}}),
    )

    labels = add_labels(rows)

    assert label_of(labels, "stays", 2020, "persistent") is False
    assert label_of(labels, "below", 2020, "persistent") is True
    assert label_of(labels, "clear", 2020, "persistent") is False
    assert label_of(labels, "unmonitored", 2020, "persistent") is None
    assert label_of(labels, "gap", 2019, "persistent") is None


def test_a_household_whose_risk_was_eliminated_is_asked_whether_it_comes_back():
    rows = panel(
        household(
            "back",
            {
                2020: {"is_monitored": True, "net_income_pc": 3000.0},
                2021: {"risk_eliminated": True},
                2022: {"net_income_pc": 4000.0},
            },
        )
    )

    labels = add_labels(rows)

    assert label_of(labels, "back", 2020, "persistent") is False
    assert label_of(labels, "back", 2021, "persistent") is None
    assert label_of(labels, "back", 2021, "meets_criteria") is True


def test_relapse_is_undefined_below_the_line():
    rows = panel(
        household("falls", {2020: {}, 2021: {"net_income_pc": 4999.0}}),
        household("at_line", {2020: {"net_income_pc": LINE}, 2021: {"net_income_pc": 4000.0}}),
        household("below", {2020: {"net_income_pc": 4000.0}, 2021: {"net_income_pc": 3000.0}}),
        household("rises", {2020: {}, 2021: {"net_income_pc": LINE}}),
        household("gap", {2019: {}, 2021: {"net_income_pc": 1.0}}),
    )

    labels = add_labels(rows)

    assert label_of(labels, "falls", 2020, "relapse") is True
    assert label_of(labels, "at_line", 2020, "relapse") is True
    assert label_of(labels, "below", 2020, "relapse") is None
    assert label_of(labels, "rises", 2020, "relapse") is False
    assert label_of(labels, "gap", 2019, "relapse") is None


def test_identified_starts_with_the_mechanism_and_excludes_monitored_rows():
    rows = panel(
        household("early", {2017: {}, 2018: {"is_monitored": True}}),
        household("found", {2019: {}, 2020: {"is_monitored": True}}),
        household("missed", {2020: {"net_income_pc": 10.0}, 2021: {"net_income_pc": 10.0}}),
        household("already", {2020: {"is_monitored": True}, 2021: {"is_monitored": True}}),
    )

    labels = add_labels(rows)

    assert label_of(labels, "early", 2017, "identified") is None
    assert label_of(labels, "found", 2019, "identified") is True
    # 应纳未纳: what cadres did, so a household below the line left unmonitored counts as 0
    assert label_of(labels, "missed", 2020, "identified") is False
    assert label_of(labels, "already", 2020, "identified") is None


def test_labels_keep_the_panel_row_order_and_index():
    rows = panel(
        household("A", {2021: {}, 2020: {"net_income_pc": 1.0}}), household("B", {2020: {}})
    )
    rows.index = [10, 11, 12]

    labels = add_labels(rows)

    assert labels.index.tolist() == [10, 11, 12]
    assert labels["year"].tolist() == [2021, 2020, 2020]
    assert label_of(labels, "A", 2020, "meets_criteria") is None  # below the line at t
    assert label_of(labels, "A", 2020, "relapse") is None


def test_every_label_is_na_never_false_outside_its_population(small_county):
    p = small_county.panel
    labels = add_labels(p)
    met = criteria_met(p)["any"]
    mon = p["is_monitored"].to_numpy(bool)
    below = (p["net_income_pc"] < p["monitor_line"]).to_numpy()

    assert labels.loc[mon | met, "meets_criteria"].isna().all()
    assert labels.loc[~mon, "persistent"].isna().all()
    assert labels.loc[below, "relapse"].isna().all()
    assert labels.loc[mon | (p["year"] < 2019).to_numpy(), "identified"].isna().all()
    for name in LABELS:
        assert labels[name].notna().sum() > 0, name


def test_labels_a_panel_can_carry_follow_its_columns():
    assert supported_labels(["net_income_pc", "monitor_line"]) == ["relapse"]
    assert supported_labels(CLEAN) == list(LABELS)


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("meets_criteria", "relapse-risk"),
        ("persistent", "relapse-risk-persistent"),
        ("relapse", "relapse-risk-relapse"),
        ("identified", "relapse-risk-identified"),
    ],
)
def test_registered_model_name_follows_the_label(label, name):
    assert registered_model_name(label) == name


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="unknown label 'relapses'"):
        registered_model_name("relapses")
