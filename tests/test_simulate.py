import numpy as np
import pandas as pd
import pytest
from scipy import stats

from riskmodel.catalogue import PANEL_COLUMNS
from riskmodel.labels import add_labels
from riskmodel.realism import realism_checks
from riskmodel.simulate import SimulationConfig, monitor_line, simulate


def test_same_seed_gives_identical_panel_and_oracle(small_county):
    again = simulate(SimulationConfig(seed=3, households=600))

    pd.testing.assert_frame_equal(again.panel, small_county.panel)
    pd.testing.assert_frame_equal(again.oracle, small_county.oracle)


def test_panel_has_catalogue_columns_in_order_and_unique_keys(small_county):
    panel = small_county.panel

    assert list(panel.columns) == [c.name for c in PANEL_COLUMNS]
    assert not panel.duplicated(["hh_id", "year"]).any()
    assert panel["year"].min() == 2014 and panel["year"].max() == 2025


@pytest.mark.parametrize(
    ("year", "line"), [(2014, 4200), (2019, 5620), (2020, 6000), (2022, 6600), (2023, 7300)]
)
def test_monitor_line_follows_documented_series(year, line):
    assert monitor_line(year) == line


def test_panel_carries_the_line_of_its_year(small_county):
    p = small_county.panel

    assert (p["monitor_line"] == p["year"].map(monitor_line)).all()


def test_income_per_capita_is_the_sum_of_components_over_size(small_county):
    p = small_county.panel
    total = p[["inc_wage", "inc_business", "inc_property", "inc_transfer"]].sum(axis=1)

    np.testing.assert_allclose(total / p["hh_size"], p["net_income_pc"], rtol=1e-9)


def test_exited_households_enter_in_their_exit_year(small_county):
    p = small_county.panel
    first = (
        p[p["household_type"] == "exited"]
        .groupby("hh_id")
        .agg(first=("year", "min"), exit_year=("exit_year", "first"))
    )

    assert (first["first"] == first["exit_year"].clip(lower=2014)).all()


def test_nobody_is_monitored_before_2020(small_county):
    p = small_county.panel

    assert not p.loc[p["year"] < 2020, "is_monitored"].any()
    assert p.loc[p["year"] >= 2020, "is_monitored"].any()


def test_oracle_holds_a_probability_for_every_label_of_every_row_with_a_next_year(small_county):
    lab = add_labels(small_county.panel)
    with_next = lab.dropna(subset=["relapse", "persistent", "meets_criteria"], how="all")
    merged = with_next[["hh_id", "year"]].merge(small_county.oracle, how="left", indicator=True)

    assert (merged["_merge"] == "both").all()
    probs = small_county.oracle[["p_meets_criteria", "p_persistent", "p_relapse", "p_identified"]]
    assert ((probs >= 0) & (probs <= 1)).all().all()
    # persistence is the same event (criteria met next year) asked of monitored households
    assert (small_county.oracle["p_persistent"] == small_county.oracle["p_meets_criteria"]).all()


def test_no_income_is_rescaled_to_an_outcome(full_county):
    """Incomes do not pile up just above the line (the old simulator rescaled them there)."""
    ratio = full_county.panel["net_income_pc"] / full_county.panel["monitor_line"]
    above = ratio.between(1.0, 1.05, inclusive="right").sum()
    below = ratio.between(0.95, 1.0, inclusive="right").sum()

    assert above / below < 1.3


def test_a_past_fall_below_the_line_raises_the_oracle(full_county):
    """The hidden type's posterior learns from history, as cadres do: among households at the
    same income now, those below the line two years ago are riskier."""
    p = full_county.panel[["hh_id", "year", "net_income_pc", "monitor_line"]].copy()
    p["ratio"] = p["net_income_pc"] / p["monitor_line"]
    past = p.assign(year=p["year"] + 2)[["hh_id", "year", "ratio"]]
    now = p.merge(past, on=["hh_id", "year"], suffixes=("", "_2y")).merge(full_county.oracle)
    band = now[now["ratio"].between(1.5, 2.0)]
    fell = band[band["ratio_2y"] < 1]["p_relapse"].mean()
    stayed = band[band["ratio_2y"] > 2]["p_relapse"].mean()

    assert fell > 1.3 * stayed


def _decile_z_scores(sim, label: str, prob: str) -> np.ndarray:
    lab = add_labels(sim.panel).merge(sim.oracle, on=["hh_id", "year"]).dropna(subset=[label])
    lab = lab[lab[prob] > 0]
    deciles = pd.qcut(lab[prob].rank(method="first"), 10, labels=False)
    z = []
    for _, g in lab.groupby(deciles):
        p = g[prob].to_numpy()
        observed = g[label].astype(float).sum()
        z.append((observed - p.sum()) / np.sqrt((p * (1 - p)).sum()))
    return np.array(z)


@pytest.mark.parametrize(
    ("label", "prob"),
    [
        ("meets_criteria", "p_meets_criteria"),
        ("persistent", "p_persistent"),
        ("relapse", "p_relapse"),
        ("identified", "p_identified"),
    ],
)
def test_oracle_matches_observed_rates_in_every_decile(full_county, label, prob):
    z = _decile_z_scores(full_county, label, prob)

    # ten independent-ish z-scores: none beyond 3.5, and jointly chi-square with 10 dof
    assert np.abs(z).max() < 3.5, z
    assert stats.chi2.sf((z**2).sum(), df=10) > 0.001, z


@pytest.mark.slow
def test_default_county_meets_every_realism_target(full_county):
    checks = realism_checks(full_county.panel, full_county.oracle)

    missed = [(c.quantity, c.value) for c in checks if not c.ok]
    assert missed == []


@pytest.mark.slow
def test_default_county_has_ningming_geography(full_county):
    p = full_county.panel

    assert p["township_id"].nunique() == 13
    assert p["village_id"].nunique() == 162
    assert p["hh_id"].nunique() >= 19_000
    assert p.loc[p["household_type"] == "exited", "hh_id"].nunique() >= 19_000


def test_config_rejects_impossible_county():
    with pytest.raises(ValueError, match="last_year"):
        simulate(SimulationConfig(first_year=2020, last_year=2020))


def test_head_names_and_vocational_counts_change_nothing_else(small_county, monkeypatch):
    """head_name is hashed from the head and n_students_vocational counted from the members'
    state: a county simulated without them has every other column and the oracle unchanged (the
    default county, seed 7, was compared the same way with the release before them)."""
    import riskmodel.simulate as simulation
    from riskmodel.simulate.county import County

    counts = County.aggregate
    monkeypatch.setattr(
        simulation, "head_names", lambda age, *_: np.full(len(age), None, dtype=object)
    )
    monkeypatch.setattr(
        County,
        "aggregate",
        lambda self: {**counts(self), "n_students_vocational": np.zeros(self.H, int)},
    )
    without = simulate(SimulationConfig(seed=3, households=600))

    assert without.panel["head_name"].isna().all()
    assert (without.panel["n_students_vocational"] == 0).all()
    assert small_county.panel["head_name"].notna().all()
    assert (small_county.panel["n_students_vocational"] > 0).any()
    others = [
        c for c in small_county.panel.columns if c not in ("head_name", "n_students_vocational")
    ]
    pd.testing.assert_frame_equal(without.panel[others], small_county.panel[others])
    pd.testing.assert_frame_equal(without.oracle, small_county.oracle)


def test_a_heads_name_stays_while_the_head_does(small_county):
    p = small_county.panel.sort_values(["hh_id", "year"])
    prev = p.groupby("hh_id").shift(1)
    same_head = (
        (prev["year"] == p["year"] - 1)
        & (prev["head_age"] == p["head_age"] - 1)
        & (prev["head_sex"] == p["head_sex"])
        & (p["head_age"] > 16)
    )

    assert same_head.sum() > 1000
    assert (p.loc[same_head, "head_name"] == prev.loc[same_head, "head_name"]).all()
    assert p["head_name"].str.len().eq(3).all()


def test_vocational_students_are_among_senior_and_tertiary_students(small_county):
    p = small_county.panel

    assert (p["n_students_vocational"] <= p["n_students_senior"] + p["n_students_tertiary"]).all()
    assert (p["n_students_vocational"] > 0).mean() > 0.03
