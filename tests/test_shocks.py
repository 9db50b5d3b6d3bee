"""Shocks in a chosen year: the years before are the county without them, the shocked year
shows the shock where it should (the oracle under shocks: tests/test_oracle.py)."""

import numpy as np
import pandas as pd
import pytest

from riskmodel.simulate import SimulationConfig, simulate
from riskmodel.simulate.shocks import Shock, parse_shock

BASE = {"seed": 3, "households": 600, "last_year": 2024}


@pytest.fixture(scope="module")
def base():
    return simulate(SimulationConfig(**BASE)).panel


def _shocked(text: str) -> pd.DataFrame:
    return simulate(SimulationConfig(**BASE, shocks=[parse_shock(text)])).panel


def test_parse_shock_reads_every_kind():
    assert parse_shock("flood:2023:T01,T03@0.9") == Shock(
        kind="flood", year=2023, townships=["T01", "T03"], severity=0.9
    )
    assert parse_shock("price_collapse:2024:cattle").crop == "cattle"
    assert parse_shock("border_closure:2023").severity == 0.7
    with pytest.raises(ValueError, match="kind:year"):
        parse_shock("flood")
    with pytest.raises(ValueError):
        parse_shock("earthquake:2023")


@pytest.mark.parametrize(
    "text", ["flood:2024:T01,T02@0.9", "border_closure:2024", "price_collapse:2024:sugarcane"]
)
def test_years_before_the_shock_are_the_county_without_it(base, text):
    shocked = _shocked(text)
    before = base["year"] < 2024
    pd.testing.assert_frame_equal(
        shocked[shocked["year"] < 2024].reset_index(drop=True), base[before].reset_index(drop=True)
    )
    assert (
        not shocked[shocked["year"] == 2024]
        .reset_index(drop=True)
        .equals(base[base["year"] == 2024].reset_index(drop=True))
    )


def test_a_flood_hits_the_villages_of_its_townships(base):
    shocked = _shocked("flood:2024:T01,T02@0.9")
    year = shocked[shocked["year"] == 2024]
    hit = year["township_id"].isin(["T01", "T02"])
    villages = year.groupby("village_id", observed=True).agg(
        hit=("township_id", lambda t: t.isin(["T01", "T02"]).any()),
        disaster=("village_disaster", "max"),
    )
    assert villages.loc[villages["hit"], "disaster"].mean() > 0.7
    assert villages.loc[~villages["hit"], "disaster"].mean() < 0.3
    before = base[(base["year"] == 2024) & base["township_id"].isin(["T01", "T02"])]
    assert year.loc[hit, "village_disaster"].mean() > before["village_disaster"].mean() + 0.4


def test_a_price_collapse_shows_in_the_price_and_the_growers_income(base):
    shocked = _shocked("price_collapse:2024:sugarcane@0.5")
    new, old = (p[p["year"] == 2024] for p in (shocked, base))
    assert new["sugarcane_price_index"].iloc[0] == pytest.approx(
        0.5 * old["sugarcane_price_index"].iloc[0]
    )
    cane = old["main_industry"] == "sugarcane"
    assert (
        new.loc[cane.to_numpy(), "inc_business"].mean() < 0.8 * old.loc[cane, "inc_business"].mean()
    )


def test_a_border_closure_costs_migrants_months(base):
    shocked = _shocked("border_closure:2024@1.0")
    new, old = (p[p["year"] == 2024] for p in (shocked, base))
    assert new["work_months"].mean() < 0.9 * old["work_months"].mean()
    trade = (old["main_industry"] == "border_trade").to_numpy()
    assert np.mean(new.loc[trade, "inc_business"]) < 0.5 * np.mean(old.loc[trade, "inc_business"])
