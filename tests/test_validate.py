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
        ("n_students_vocational", 9, "cannot exceed n_students_senior"),
        ("head_name", "", "not empty"),
    ],
)
def test_bad_value_is_reported_with_row_key_column_and_rule(panel, column, value, rule):
    bad = _corrupt(panel, 7, column, value)

    result = validate_panel(bad)

    assert not result.ok
    hit = result.errors[(result.errors["row"] == 9) & (result.errors["column"] == column)]
    assert hit["rule"].str.contains(rule).any(), result.errors
    key = bad["hh_id"].iloc[7]
    assert hit["hh_id"].iloc[0] == (str(key) if key is not None else "(missing)")
    assert len(result.valid) + len(result.quarantined) == len(panel)
    assert rule.split(":")[0] in result.quarantined["reasons"].iloc[0]


def test_a_bad_row_never_shows_the_heads_full_name(panel):
    bad = _corrupt(panel, 7, "hh_size", -2)
    name = panel["head_name"].iloc[7]

    result = validate_panel(bad)

    assert result.quarantined["head_name"].tolist() == [name[0] + "*" + name[-1]]
    assert name not in result.report() and name not in result.errors.to_string()
    named = validate_panel(_corrupt(panel, 7, "head_name", ""))
    assert named.errors["column"].tolist() == ["head_name"]
    assert named.errors["value"].tolist() == ["(personal)"]


def test_duplicate_keys_quarantine_both_rows(panel):
    bad = pd.concat([panel, panel.iloc[[3]]], ignore_index=True)

    result = validate_panel(bad)

    dup = result.errors[result.errors["rule"].str.contains("duplicate")]
    assert sorted(dup["row"]) == [3 + 2, len(panel) + 2]
    assert len(result.valid) == len(panel) - 1


def test_income_that_does_not_add_up_is_rejected(panel):
    bad = panel.copy()
    bad.loc[5, "net_income_pc"] = bad.loc[5, "net_income_pc"] + 500

    result = validate_panel(bad)

    assert result.errors.loc[result.errors["row"] == 7, "rule"].str.contains("components").any()


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
        [3 + 2, "n_labour_full", "cannot exceed hh_size"]  # the spreadsheet row
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

    assert "row 4:" in text and "head_age" in text and "at most 120" in text


def _csv_with_cell(panel, tmp_path, row: int, column: str, text: str):
    path = tmp_path / "export.csv"
    panel.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = text
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_text_in_a_number_column_of_a_csv_names_the_cell(panel, tmp_path):
    from riskmodel.io import read_panel

    path = _csv_with_cell(panel, tmp_path, 10, "head_age", "fifty")
    line_of_cell = 12  # the header is line 1, data row 0 is line 2

    result = validate_panel(read_panel(path), source=path)

    err = result.errors
    assert len(err) == 1
    assert err.iloc[0].to_dict() == {
        "row": line_of_cell,
        "hh_id": panel["hh_id"].iloc[10],
        "year": str(panel["year"].iloc[10]),
        "column": "head_age",
        "rule": "wrong type: expected int",
        "value": "fifty",
    }
    lines = path.read_text().splitlines()
    assert lines[line_of_cell - 1].split(",")[lines[0].split(",").index("head_age")] == "fifty"
    text = result.report()
    assert f"{path}: row {line_of_cell}:" in text and "'fifty'" in text
    assert len(result.valid) == len(panel) - 1


def test_quarantine_of_a_csv_with_text_in_a_number_column_is_written(panel, tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    path = _csv_with_cell(panel, tmp_path, 3, "oop_medical", "n/a?")
    out = tmp_path / "quarantine.parquet"

    run = CliRunner().invoke(app, ["validate", str(path), "--quarantine", str(out)])

    assert run.exit_code == 0, run.output
    q = pd.read_parquet(out)
    assert q[["row", "hh_id", "oop_medical"]].values.tolist() == [
        [5, panel["hh_id"].iloc[3], "n/a?"]
    ]
    assert "oop_medical: wrong type" in q["reasons"].iloc[0]
    assert len(pd.read_parquet(tmp_path / "quarantine.valid.parquet")) == len(panel) - 1


def test_report_shows_missing_values_plainly(panel):
    bad = _corrupt(panel, 1, "oop_medical", np.float64("nan"))
    bad = _corrupt(bad, 2, "head_age", np.int64(130))

    text = validate_panel(bad).report()

    assert "np." not in text
    assert "oop_medical: required: missing or NaN (got (missing))" in text
    assert "head_age: at most 120 (got 130)" in text


def test_numpy_checks_find_exactly_what_the_pandera_schema_finds(panel):
    import pandera.pandas as pa

    from riskmodel.catalogue import PANEL_COLUMNS
    from riskmodel.validate import _coerce, _schema_failures, panel_schema

    rng = np.random.default_rng(3)
    bad = panel.astype(object).reset_index(drop=True)
    cols = [c for c in PANEL_COLUMNS if c.name in bad]
    for c in cols:  # every rule broken in a few random rows, some cells left missing
        rows = rng.choice(len(bad), 4, replace=False)
        values = {
            "float": [-1e9, 1e12, np.inf, None],
            "int": [-5, 10_000, None, 1],
            "category": ["rubber", "", None, c.levels[0] if c.levels else "x"],
            "string": ["", " ", None, "V999"],
            "bool": [None, True, False, None],
        }[c.dtype]
        for r, v in zip(rows, values, strict=True):
            bad.at[r, c.name] = v
    coerced, _ = _coerce(bad, cols)
    try:
        panel_schema(cols).validate(coerced, lazy=True)
        expected = set()
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna() & fc["column"].notna() & fc["failure_case"].notna()]
        expected = {(int(r.index), r.column, r.check) for r in fc.itertuples(index=False)}

    ours = {(r, c, rule) for r, c, rule, _ in _schema_failures(coerced, cols)}

    assert len(expected) > 2 * len({c for _, c, _ in expected}) > 60
    assert ours == expected


def test_a_category_column_is_checked_as_its_text_is(panel):
    # given a typed panel whose category column has a padded level, an unknown one and gaps
    name = next(c for c in panel.columns if isinstance(panel[c].dtype, pd.CategoricalDtype))
    level = panel[name].cat.categories[0]
    typed = panel.copy()
    typed[name] = typed[name].cat.rename_categories({level: f" {level} "})
    typed[name] = typed[name].cat.add_categories(["unknown-level"])
    typed.loc[typed.index[:3], name] = "unknown-level"
    typed.loc[typed.index[3:5], name] = None
    as_text = typed.astype({name: object})

    # when both are validated
    typed_result, text_result = validate_panel(typed), validate_panel(as_text)

    # then the failures, quarantined rows and valid rows are the same, the padded level stripped
    assert len(typed_result.errors) == 5
    pd.testing.assert_frame_equal(typed_result.errors, text_result.errors)
    quarantined = ["row", "reasons"]  # (the rows themselves keep the types they came in)
    pd.testing.assert_frame_equal(
        typed_result.quarantined[quarantined], text_result.quarantined[quarantined]
    )
    pd.testing.assert_frame_equal(typed_result.valid, text_result.valid)
    assert (typed_result.valid[name] == level).sum() == (panel[name].iloc[5:] == level).sum()
