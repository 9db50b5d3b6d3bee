import numpy as np
import pandas as pd
import pytest

from riskmodel.validate import PanelError, validate_panel


@pytest.fixture
def panel(small_county) -> pd.DataFrame:
    return small_county.panel.head(400).copy()


def _corrupt(df: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    out = df.astype({column: object})
    out.loc[out.index[row], column] = value
    return out


def test_clean_panel_passes_whole(panel):
    result = validate_panel(panel)

    assert result.ok
    assert len(result.valid) == len(panel)
    pd.testing.assert_frame_equal(result.valid, panel.reset_index(drop=True))


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("hh_size", -2, "at least 1"),
        ("head_age", 130, "at most 120"),
        ("inc_wage", -50.0, "at least 0"),
        ("oop_medical", np.nan, "required"),
        ("net_income_pc", np.inf, "finite"),
        ("main_industry", "rubber", "one of"),
        ("head_age", "forty", "wrong type"),
        ("n_labour_full", 2.5, "whole number"),
        ("relocated", "maybe", "wrong type"),
        ("hh_id", None, "required"),
        ("n_serious_ill", 15, "cannot exceed hh_size"),
    ],
)
def test_bad_value_is_reported_with_row_key_column_and_rule(panel, column, value, rule):
    bad = _corrupt(panel, 7, column, value)

    result = validate_panel(bad)

    assert not result.ok
    hit = result.errors[(result.errors["row"] == 7) & (result.errors["column"] == column)]
    assert hit["rule"].str.contains(rule).any(), result.errors
    key = bad["hh_id"].iloc[7]
    assert hit["hh_id"].iloc[0] == (str(key) if key is not None else "(missing)")
    assert len(result.valid) + len(result.quarantined) == len(panel)
    assert rule.split(":")[0] in result.quarantined["reasons"].iloc[0]


def test_duplicate_keys_quarantine_both_rows(panel):
    bad = pd.concat([panel, panel.iloc[[3]]], ignore_index=True)

    result = validate_panel(bad)

    dup = result.errors[result.errors["rule"].str.contains("duplicate")]
    assert sorted(dup["row"]) == [3, len(panel)]
    assert len(result.valid) == len(panel) - 1


def test_income_that_does_not_add_up_is_rejected(panel):
    bad = panel.copy()
    bad.loc[5, "net_income_pc"] = bad.loc[5, "net_income_pc"] + 500

    result = validate_panel(bad)

    assert result.errors.loc[result.errors["row"] == 5, "rule"].str.contains("components").any()


def test_missing_column_is_fatal_and_named(panel):
    with pytest.raises(PanelError, match="net_income_pc"):
        validate_panel(panel.drop(columns=["net_income_pc"]))


def test_partial_panel_checks_the_columns_it_has(panel):
    from riskmodel.catalogue import REQUIRED_FIELDS

    part = panel[[*REQUIRED_FIELDS, "hh_size", "n_labour_full"]]
    ok = validate_panel(part)
    assert ok.ok and sorted(ok.valid.columns) == sorted(part.columns)
    too_many = int(part["hh_size"].iloc[3]) + 1  # more than the household: the rule still applies
    bad = validate_panel(_corrupt(part, 3, "n_labour_full", too_many))
    assert bad.errors[["row", "column", "rule"]].values.tolist() == [
        [3, "n_labour_full", "cannot exceed hh_size"]
    ]


def test_csv_strings_are_parsed_to_catalogue_types(panel, tmp_path):
    path = tmp_path / "export.csv"
    panel.to_csv(path, index=False)

    from riskmodel.io import read_panel

    result = validate_panel(read_panel(path))

    assert result.ok, result.report()
    assert result.valid["relocated"].dtype == bool


def test_report_names_rows_and_rules(panel):
    bad = _corrupt(panel, 2, "head_age", 999)

    text = validate_panel(bad).report()

    assert "row 2" in text and "head_age" in text and "at most 120" in text
