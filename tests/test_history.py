"""The service's panel history (riskmodel.history): the household's rows of the two years
before, newest first, and none when the panel lacks a fact the model reads."""

import pandas as pd

from riskmodel.history import PanelHistory


def _history() -> PanelHistory:
    rows = pd.DataFrame(
        {
            "hh_id": ["H1", "H2", "H1", "H1", "H2"],
            "year": [2023, 2024, 2025, 2024, 2025],
            "net_income_pc": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    return PanelHistory(rows)


def test_rows_of_the_two_years_before_newest_first():
    h = _history()

    assert [r["year"] for r in h.before("H1", 2026, ["net_income_pc"])] == [2025, 2024]
    assert [r["year"] for r in h.before("H1", 2025, ["net_income_pc"])] == [2024, 2023]
    assert [r["net_income_pc"] for r in h.before("H2", 2025, ["net_income_pc"])] == [2.0]


def test_no_rows_for_an_unknown_household_or_a_fact_the_panel_lacks():
    h = _history()

    assert h.before("H9", 2025, ["net_income_pc"]) == []
    assert h.before("H1", 2025, ["net_income_pc", "n_severe_disabled"]) == []
