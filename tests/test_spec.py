"""`riskmodel import --format spec`: any household-year table through a dataset spec.

The worked example is the README's own: the test writes the small public-style panel the README
describes and imports it with the spec block copied from README.md, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from riskmodel.ingest import import_source
from riskmodel.ingest.spec import DatasetSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]


def readme_spec() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Worked example: a dataset spec", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def public_panel() -> pd.DataFrame:
    """Six household-years in the style of a public survey extract (English headers, 万元
    incomes are not used here, Y/N flags, crop names)."""
    return pd.DataFrame(
        {
            "household": ["A01", "A01", "A02", "A02", "B07", "B07"],
            "survey_year": [2022, 2023, 2022, 2023, 2022, 2023],
            "town": ["T1", "T1", "T1", "T1", "T2", "T2"],
            "village": ["V1", "V1", "V2", "V2", "V9", "V9"],
            "income_per_person": ["7,200", "6900", "n/a", "１３０００", "5100", "5,300"],
            "members": [4, 4, 2, 3, 1, 1],
            "low_income_support": ["N", "N", "N", "N", "Y", "Y"],
            "crop": ["cane", "cane", "cattle", "cattle", "none", "rice"],
            "notes": ["", "", "new baby", "", "", ""],
        }
    )


@pytest.fixture
def worked_example(tmp_path):
    public_panel().to_csv(tmp_path / "households.csv", index=False)
    (tmp_path / "spec.yaml").write_text(readme_spec(), encoding="utf-8")
    return import_source(
        tmp_path / "households.csv", tmp_path / "out", "spec", tmp_path / "spec.yaml"
    )


def test_readme_worked_example_imports_the_fields_it_names(worked_example):
    p = worked_example.panel.set_index(["hh_id", "year"])
    assert sorted(p.columns) == sorted(
        ["township_id", "village_id", "net_income_pc", "monitor_line", "hh_size", "dibao",
         "main_industry"]
    )  # fmt: skip
    assert p.loc[("A01", 2022), "net_income_pc"] == 7200
    assert p.loc[("A02", 2023), "net_income_pc"] == 13000  # full-width digits
    assert p.loc[("A01", 2023), "monitor_line"] == 7300  # Guangxi's line for 2023
    assert bool(p.loc[("B07", 2022), "dibao"]) and not bool(p.loc[("A01", 2022), "dibao"])
    assert p.loc[("A02", 2023), "main_industry"] == "cattle"
    assert p.loc[("A01", 2022), "main_industry"] == "sugarcane"


def test_readme_worked_example_reports_what_it_could_not_take(worked_example, tmp_path):
    r = worked_example.report
    q = r.quarantine_frame()
    assert q[["row", "column", "reason", "value"]].values.tolist() == [
        [4, "income_per_person", "not a number (net_income_pc)", "n/a"]
    ]
    assert r.out_of_vocabulary["crop (main_industry)"]["rice"] == 1
    assert r.sheets[0].unused == ["notes"]
    assert "n_labour_full" in r.fields_absent and "dibao" in r.fields_present
    invalid = worked_example.invalid
    assert len(invalid) == 1 and "main_industry" in invalid["reasons"].iloc[0]
    text = (tmp_path / "out" / "IMPORT.md").read_text()
    assert "rice" in text and "row 4, income_per_person" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fields": {}, "colour": "red"}, "Extra inputs are not permitted"),
        ({"fields": {"hh_id": {"column": "a", "colum": "b"}}}, "Extra inputs are not permitted"),
        ({"fields": {"household_income": {"column": "x"}}}, "not catalogue fields"),
        ({"fields": {"hh_id": {"column": "a", "constant": "b"}}}, "exactly one of column"),
        ({"fields": {"hh_id": {"column": "a"}}}, "required fields missing"),
        (
            {
                "line_table": "guangxi",
                "fields": {"main_industry": {"column": "c", "values": {"x": "rice"}}},
            },
            "not among",
        ),
    ],
)
def test_bad_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(ValidationError, match=message):
        DatasetSpec.model_validate(spec)


def test_spec_table_path_is_relative_to_the_spec(tmp_path):
    public_panel().to_parquet(tmp_path / "panel.parquet")
    (tmp_path / "s.yaml").write_text(
        "table: panel.parquet\nline_table: guangxi\nfields:\n"
        "  hh_id: {column: household}\n  year: {column: survey_year}\n"
        "  township_id: {constant: T01}\n  village_id: {column: village}\n"
        "  net_income_pc: {column: income_per_person}\n",
        encoding="utf-8",
    )
    spec = load_spec(tmp_path / "s.yaml")
    assert spec.table == str(tmp_path / "panel.parquet")
    result = import_source(tmp_path / "ignored", tmp_path / "out", "spec", tmp_path / "s.yaml")
    assert set(result.panel["township_id"]) == {"T01"}
    assert len(result.panel) == 5  # the 'n/a' income is quarantined


def test_gb18030_csv_with_chinese_labels_and_a_title_row(tmp_path):
    rows = [
        "某县脱贫户年度收入台账",
        "户码,年份,乡镇,村,人均纯收入,户类型,低保",
        'A1,2023,城中镇,那堪村,"8,100",脱贫户,否',
        "A2,2023,城中镇,那堪村,6500,一般农户,是",
        "A3,2023,城中镇,那堪村,7000,贫困户,否",
    ]
    (tmp_path / "t.csv").write_bytes("\n".join(rows).encode("gb18030"))
    (tmp_path / "s.yaml").write_text(
        "header_row: 2\nline_table: guangxi\nfields:\n"
        "  hh_id: {column: 户码}\n  year: {column: 年份}\n  township_id: {column: 乡镇}\n"
        "  village_id: {column: 村}\n  net_income_pc: {column: 人均纯收入}\n"
        "  household_type: {column: 户类型}\n  dibao: {column: 低保}\n",
        encoding="utf-8",
    )
    result = import_source(tmp_path / "t.csv", tmp_path / "out", "spec", tmp_path / "s.yaml")
    p = result.panel.set_index("hh_id")
    assert p.loc["A1", "net_income_pc"] == 8100 and p.loc["A1", "household_type"] == "exited"
    assert p.loc["A2", "household_type"] == "general" and bool(p.loc["A2", "dibao"])
    assert result.report.out_of_vocabulary["户类型 (household_type)"]["贫困户"] == 1
    assert result.report.vocabulary_examples[("户类型 (household_type)", "贫困户")] == [
        "t.csv [-] row 5"
    ]
    assert list(result.invalid["hh_id"]) == ["A3"]


def test_spec_maps_the_heads_name_and_no_file_but_the_panel_holds_it(tmp_path):
    heads = ["黄文华", "黄文华", "农秀英", "农秀英", "", "陆海"]
    public_panel().assign(head=heads).to_csv(tmp_path / "households.csv", index=False)
    spec = readme_spec() + "  head_name: {column: head}\n"
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")

    result = import_source(
        tmp_path / "households.csv", tmp_path / "out", "spec", tmp_path / "spec.yaml"
    )

    p = result.panel.set_index(["hh_id", "year"])
    assert p.loc[("A01", 2023), "head_name"] == "黄文华"
    assert pd.isna(p.loc[("B07", 2022), "head_name"])  # blank: not recorded
    # B07 2023 ('rice') fails validation: the invalid rows keep the name masked only
    invalid = pd.read_parquet(tmp_path / "out" / "invalid.parquet")
    assert invalid["head_name"].tolist() == ["陆*"]
    for path in (tmp_path / "out").iterdir():
        if path.name != "panel.parquet":
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert not any(name in text for name in ("黄文华", "农秀英", "陆海")), path.name
