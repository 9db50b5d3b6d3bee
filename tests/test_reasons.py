import numpy as np
import pandas as pd
import pytest

from riskmodel.catalogue import FEATURE_NAMES, FEATURES
from riskmodel.features import build_features
from riskmodel.reasons import explain, group_matrix, render
from riskmodel.reasons import shown as shown_feature


@pytest.fixture(scope="module")
def records(small_county):
    rec = build_features(small_county.panel)
    return rec[rec["year"] == 2025].reset_index(drop=True)


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_every_feature_has_a_sentence_in_both_languages(records, feature):
    cols = {c: records[c].to_numpy() for c in records.columns}
    rows = np.arange(min(5, len(records)))

    zh = render(feature, "zh", cols, rows)
    en = render(feature, "en", cols, rows)

    assert all(zh) and all(en)
    assert not any("{" in t for t in zh + en)


def _one_hot(features, values: dict[str, float]) -> np.ndarray:
    c = np.zeros((1, len(features) + 1))
    for name, v in values.items():
        c[0, features.index(name)] = v
    return c


def test_illness_reason_quotes_the_household_values(records):
    rec = records.head(1).copy()
    rec["n_serious_ill"] = 2
    rec["oop_medical"] = 18_000.0
    rec["oop_to_income"] = 0.45
    rec["has_public_welfare_job"] = True
    contrib = _one_hot(
        FEATURE_NAMES, {"n_serious_ill": 0.9, "oop_to_income": 0.6, "has_public_welfare_job": -0.3}
    )

    ex = explain(rec, contrib, FEATURE_NAMES)
    reason = ex.items()[0]["reasons"][0]

    assert reason["risk_type"] == "illness" and reason["label_zh"] == "因病"
    assert reason["contribution"] == pytest.approx(1.5)
    assert "2人患大病" in reason["text_zh"] and "18,000元" in reason["text_zh"]
    assert "2 member(s) with a serious illness" in reason["text_en"]
    assert reason["measures"][0]["zh"] == "健康帮扶（医疗救助/大病保险）"
    assert reason["actionable"]  # out-of-pocket spending can be reduced by medical assistance
    prot = ex.items()[0]["protective"]
    assert prot[0]["feature"] == "has_public_welfare_job" and prot[0]["contribution"] < 0


def test_only_risk_raising_groups_become_reasons(records):
    rec = records.head(1).copy()
    rec["head_age"] = 72
    contrib = _one_hot(FEATURE_NAMES, {"head_age": 0.4, "transfer_share": -0.8})

    ex = explain(rec, contrib, FEATURE_NAMES)

    reasons = ex.items()[0]["reasons"]
    assert [r["risk_type"] for r in reasons] == ["labour"]
    assert reasons[0]["actionable"] is False


def test_group_sums_add_up_to_the_contributions(records, trained):
    model, _ = trained
    contrib = model.contributions(model.matrix(records))
    risk_m, _ = group_matrix(model.features, "risk_type")

    ex = explain(records, contrib, model.features)

    shown = [shown_feature(f) for f in model.features]
    np.testing.assert_allclose((contrib[:, :-1] @ risk_m).sum(1), contrib[:, :-1][:, shown].sum(1))
    np.testing.assert_allclose(ex.by_dimension.sum(1), contrib[:, :-1].sum(1))
    items = ex.items()
    for i in range(0, len(records), 37):
        for k, r in enumerate(items[i]["reasons"]):
            members = [FEATURE_NAMES.index(f) for f in r["features"]]
            assert ex.reason_values[i, k] > 0 and r["contribution"] >= 0
            assert all(
                contrib[i, k] > 0 and FEATURES[FEATURE_NAMES[k]].risk_type == r["risk_type"]
                for k in members
            )


def test_flat_columns_match_the_structured_reasons(records, trained):
    model, _ = trained
    contrib = model.contributions(model.matrix(records))

    ex = explain(records, contrib, model.features)
    cols = ex.columns()

    items = ex.items()
    for i in range(0, len(records), 53):
        reasons = items[i]["reasons"]
        assert cols["top_risk_types"][i] == ",".join(r["risk_type"] for r in reasons)
        for r in reasons:
            assert f"{r['label_zh']}：{r['text_zh']}" in cols["reasons_zh"][i]
            assert r["measures"][0]["zh"] in cols["measures_zh"][i].split("、")


def test_missing_value_is_said_not_invented(records):
    rec = records.head(2).copy()
    rec["years_since_exit"] = np.nan
    cols = {c: rec[c].to_numpy() for c in rec.columns}

    assert render("years_since_exit", "zh", cols, np.arange(2)) == ["脱贫年限：无记录"] * 2


@pytest.mark.parametrize(
    ("feature", "row", "zh", "en"),
    [
        (
            "oop_to_income",
            {"oop_medical": 45_420.0, "oop_to_income": 1.4},
            "合规自付医疗支出45,420元，占家庭收入140%",
            "out-of-pocket medical spending 45,420 yuan, 140% of income",
        ),
        (
            "income_to_line",
            {"income_to_line": 0.95, "net_income_pc": 6_000.0},
            "人均纯收入6,000元，低于监测标准（为标准的0.95倍）",
            "income 6,000 yuan per person, below the monitoring line (0.95 x the line)",
        ),
        (
            "income_to_line",
            {"income_to_line": 1.04, "net_income_pc": 7_600.0},
            "人均纯收入7,600元，接近监测标准（为标准的1.04倍）",
            "income 7,600 yuan per person, close to the monitoring line (1.04 x the line)",
        ),
        (
            "income_to_line",
            {"income_to_line": 2.5, "net_income_pc": 18_250.0},
            "人均纯收入18,250元，为监测标准的2.50倍",
            "income 18,250 yuan per person, 2.50 x the line",
        ),
        ("wage_share", {"wage_share": 0.0}, "家中无务工收入", "no wage income"),
        (
            "oop_to_income",
            {"oop_medical": 50.0, "oop_to_income": 0.003},
            "合规自付医疗支出50元，占家庭收入不足1%",
            "out-of-pocket medical spending 50 yuan, under 1% of income",
        ),
        ("wage_share", {"wage_share": 0.62}, "工资性收入占62%", "wages are 62% of income"),
        ("labour_total", {"labour_total": 0}, "家中无劳动力", "no member able to work"),
        (
            "village_collective_income",
            {"village_collective_income": 5.5},
            "村集体经济收入5.5万元",
            "village collective income 55,000 yuan",
        ),
    ],
)
def test_sentences_read_as_written_by_hand(feature, row, zh, en):
    from riskmodel.reasons import render_one

    assert render_one(feature, "zh", row) == zh
    assert render_one(feature, "en", row) == en
    cols = {k: np.array([v, v]) for k, v in row.items()}
    assert render(feature, "zh", cols, np.arange(2)) == [zh, zh]


def test_stored_rows_explain_exactly_as_fresh_ones(records, trained):
    """What the API serves from the store equals what it would compute now: same values, same
    rounding, for every household, short and full."""
    from riskmodel.reasons import item_from_stored

    model, _ = trained
    contrib = model.contributions(model.matrix(records))
    ex = explain(records, contrib, model.features)
    cols = ex.columns()

    items = {full: ex.items(full) for full in (False, True)}
    for i in range(len(records)):
        for full in (False, True):
            stored = item_from_stored(
                cols["reasons_json"][i], cols["contributions"][i], model.features, full
            )
            assert stored == items[full][i], i
    one = items[True][0]
    assert one["dimensions"]["INC"] == round(one["dimensions"]["INC"], 4)
    np.testing.assert_allclose(
        [one["contributions"][f] for f in model.features], contrib[0, :-1], atol=1e-5
    )


def test_categories_are_shown_in_chinese(records):
    rec = records.head(1).copy()
    rec["main_industry"] = pd.Categorical(
        ["sugarcane"], categories=FEATURES["main_industry"].levels
    )
    cols = {c: rec[c].to_numpy() for c in rec.columns}

    assert render("main_industry", "zh", cols, np.arange(1)) == ["主导产业：甘蔗"]


def test_row_by_row_and_column_wise_paths_say_the_same(records, trained):
    from riskmodel.reasons import SMALL_BATCH

    model, _ = trained
    batch = records.head(SMALL_BATCH + 40).reset_index(drop=True)
    contrib = model.contributions(model.matrix(batch))

    column_wise = explain(batch, contrib, model.features).items()
    for i in range(0, len(batch), 7):
        one = explain(batch.iloc[[i]].reset_index(drop=True), contrib[[i]], model.features)
        assert one.items()[0] == column_wise[i]
