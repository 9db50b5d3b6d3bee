"""The reasons and measures a cadre signs, checked on every household of a scored county's worklist.

The oracles are outside the code under test: the national system's own vocabularies (research/
national-export.md), the county's data (which features are the same for every household), the
households' own values, and plain patterns in the sentences."""

import json
import re

import numpy as np
import pytest

from riskmodel.catalogue import HIDDEN_FROM_REASONS, PROTECTIVE_MIN, PROTECTS_FROM, RISK_WHEN_LOW
from riskmodel.features import build_features, with_measure_facts
from riskmodel.reasons import stated_fields
from riskmodel.score import score_records

OFFICIAL_RISK_TYPES = {
    "因病", "因残", "因学", "因自然灾害", "因意外事故", "缺劳动力", "因务工就业不稳",
    "因产业项目失败", "因安全住房", "因安全饮水", "其他",
}  # fmt: skip
"""致贫/返贫风险 as the national system records them (G1's values plus the policy texts')."""
MEASURE_CATEGORIES = {
    "产业帮扶", "就业帮扶", "金融帮扶", "公益岗位帮扶", "住房安全保障", "饮水安全保障", "健康帮扶",
    "义务教育保障", "教育帮扶", "综合保障", "社会帮扶", "搬迁", "生产生活条件改善", "基础设施建设",
}  # fmt: skip
"""帮扶措施 categories of the national export."""
NEEDS_LABOUR = {"就业帮扶", "产业帮扶", "公益岗位帮扶", "金融帮扶"}
ZERO_VALUE = re.compile(r"(?<![\d.,])0(?:\.0+)?(?:人|名|元|个月|亩|项|%)")


@pytest.fixture(scope="module")
def county(trained):
    _, panel = trained
    window = panel[panel["year"] >= 2023]
    rec = build_features(window)
    return with_measure_facts(rec[rec["year"] == 2025], window).reset_index(drop=True)


@pytest.fixture(scope="module")
def worklist(trained, trained_persistent, county):
    """Every listed household with its record and its reasons as the store keeps them."""
    models = {"meets_criteria": trained[0], "persistent": trained_persistent}
    rows = score_records(county, models, "7", "run", versions={"meets_criteria": "7"})
    listed = rows["on_worklist"].to_numpy() & rows["reasons_json"].ne("").to_numpy()
    records = county[listed].reset_index(drop=True)
    rows = rows[listed].reset_index(drop=True)
    parsed = [json.loads(j) for j in rows["reasons_json"]]
    assert len(rows) > 100 and sum(bool(p["reasons"]) for p in parsed) > 100
    return records, rows, parsed


def _reasons(parsed):
    for i, p in enumerate(parsed):
        for code, value, zh, en, feats, measures in p["reasons"]:
            yield i, code, value, zh, en, feats, measures


def _protective(parsed):
    for i, p in enumerate(parsed):
        for feat, value, zh, en in p["protective"]:
            yield i, feat, value, zh, en


def test_reasons_are_official_risk_types(worklist):
    _, rows, _ = worklist
    labels = {
        part.split("：")[0] for text in rows["reasons_zh"] for part in text.split("；") if part
    }

    assert labels and labels <= OFFICIAL_RISK_TYPES
    assert not rows["reasons_zh"].str.contains("收入结构|转移依赖").any()


def test_no_county_wide_constant_or_hidden_feature_is_a_reason_or_protective(worklist, county):
    _, _, parsed = worklist
    constant = {c for c in county.columns if county[c].nunique(dropna=False) == 1}
    said = {f for *_, feats, _ in _reasons(parsed) for f in feats}
    said |= {f for _, f, *_ in _protective(parsed)}

    assert "sugarcane_price_index" in constant  # one price for the whole county
    assert not said & constant
    assert not said & set(HIDDEN_FROM_REASONS)
    texts = " ".join(t for *_, zh, _, _, _ in _reasons(parsed) for t in [zh])
    assert "内生动力" not in texts and "本村监测户" not in texts and "甘蔗收购价格" not in texts


def test_no_sentence_states_a_zero(worklist):
    _, rows, _ = worklist
    for column in ("reasons_zh", "protective_zh"):
        zero = rows[column].str.contains(ZERO_VALUE)
        assert not zero.any(), rows.loc[zero, column].head(3).tolist()
    assert not rows["reasons_en"].str.contains(r"\b0 member|\b0%| 0 yuan").any()


def test_reasons_state_risks_and_protective_factors_resources(worklist):
    records, _, parsed = worklist
    for i, _, _, _, _, feats, _ in _reasons(parsed):
        for f in feats:
            v = float(records.at[i, f])
            if f in RISK_WHEN_LOW:
                assert v < PROTECTS_FROM.get(f, 1 if records[f].dtype == bool else np.inf), (f, v)
            else:
                assert v > 0, (f, v)
    shown = 0
    for i, f, value, _, _ in _protective(parsed):
        shown += 1
        assert value <= -PROTECTIVE_MIN
        assert float(records.at[i, f]) >= PROTECTS_FROM[f] > 0, (f, records.at[i, f])
    assert shown > 50


def test_a_value_is_never_both_a_risk_and_protective(worklist):
    _, _, parsed = worklist
    for i, p in enumerate(parsed):
        risky = {s for *_, feats, _ in p["reasons"] for f in feats for s in stated_fields(f)}
        for feat, *_ in p["protective"]:
            assert not stated_fields(feat) & risky, (i, feat, risky)


def test_income_is_worded_against_the_monitoring_line(worklist):
    records, _, parsed = worklist
    checked = 0
    for i, _, _, zh, _, feats, _ in _reasons(parsed):
        if "income_to_line" in feats:
            ratio = records.at[i, "income_to_line"]
            if ratio < 1:
                assert "低于监测标准" in zh
            elif ratio < 1.1:
                assert "接近监测标准" in zh
            checked += 1
    assert checked > 10


def test_one_to_three_measures_from_the_systems_categories_that_fit(worklist):
    records, rows, parsed = worklist
    for i, p in enumerate(parsed):
        measures = [m for m in rows.at[i, "measures_zh"].split("、") if m]
        if not p["reasons"]:
            assert not measures
            continue
        assert 1 <= len(measures) <= 3, measures
        categories = {m.split("（")[0] for m in measures}
        assert categories <= MEASURE_CATEGORIES, measures
        assert len(categories) == len(measures)
        if records.at[i, "labour_total"] == 0:
            assert not categories & NEEDS_LABOUR, measures
        if records.at[i, "dibao"]:
            assert not any("低保" in m for m in measures), measures
        for *_, reason_measures in p["reasons"]:
            assert set(reason_measures) <= set(measures)


def test_yulu_plan_is_offered_exactly_to_schooling_reasons_with_a_vocational_student(worklist):
    """雨露计划 covers 中职/高职 students only (research/domain.md B8): among households whose
    reasons include 因学, those with a vocational student get it, and no other household does."""
    records, rows, parsed = worklist
    schooling = np.array([any(r[0] == "schooling" for r in p["reasons"]) for p in parsed])
    vocational = records["n_students_vocational"].to_numpy(int) > 0
    offered = rows["measures_zh"].str.contains("雨露计划").to_numpy()

    assert (schooling & vocational).sum() >= 5 and (schooling & ~vocational).sum() >= 5
    assert (offered == (schooling & vocational)).all()
    for i in np.flatnonzero(offered):
        (per_reason,) = [r[5] for r in parsed[i]["reasons"] if r[0] == "schooling"]
        assert "教育帮扶（雨露计划）" in per_reason


def test_yulu_plan_is_not_offered_where_vocational_students_are_not_known(trained, county):
    """A panel without n_students_vocational (an import that lacks 在校生状况): never a guess."""
    rows = score_records(county.drop(columns="n_students_vocational"), trained[0], "7", "run")

    assert not rows["measures_zh"].str.contains("雨露计划").any()
    assert rows["measures_zh"].str.contains("教育帮扶（助学金").any()


def test_households_without_labour_are_offered_security_not_jobs(worklist):
    records, rows, parsed = worklist
    no_labour = (records["labour_total"] == 0).to_numpy() & np.array(
        [bool(p["reasons"]) for p in parsed]
    )

    assert no_labour.sum() >= 5
    offered = rows.loc[no_labour, "measures_zh"]
    assert offered.str.contains("综合保障|社会帮扶").all()
