"""The oracle against Monte Carlo: re-simulating the next year many times from the same state gives
the oracle's probability of every label within its sampling error; the posterior over the hidden
type is calibrated against the types the simulator actually drew."""

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from riskmodel.criteria import criteria_met
from riskmodel.simulate import SimulationConfig, advance
from riskmodel.simulate import calibration as cal
from riskmodel.simulate.county import County
from riskmodel.simulate.shocks import parse_shock

REPLICATES = 400


SHOCKS = [
    parse_shock("flood:2023:T01@0.9"),
    parse_shock("border_closure:2023"),
    parse_shock("price_collapse:2023:sugarcane@0.5"),
]
"""Every kind of shock at once, in the year replayed: the oracle must stay exact under them."""


def _county_through(year: int, seed: int = 5, shocks: list | None = None) -> County:
    cfg = SimulationConfig(
        seed=seed, households=220, villages=6, poor_villages=2, townships=2, shocks=shocks or []
    )
    c = County(cfg, np.random.default_rng(seed))
    for y in range(cfg.first_year, year + 1):
        advance(c, y)
    return c


def _draw_types(c: County, rng: np.random.Generator) -> np.ndarray:
    post = np.exp(c.log_post - c.log_post.max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    return (rng.random(len(post))[:, None] > np.cumsum(post, 1)).sum(1).clip(0, post.shape[1] - 1)


def _monte_carlo(c: County, year: int) -> pd.DataFrame:
    """Per household registered at `year`: replicates with a row at year+1 and label counts."""
    rng = np.random.default_rng(99)
    frames = []
    for r in range(REPLICATES):
        twin = copy.deepcopy(c)
        twin.rng = np.random.default_rng(10_000 + r)
        # the oracle integrates the hidden type by its posterior: the replicate draws it from there
        twin.type = _draw_types(c, rng)
        row, _ = advance(twin, year + 1)
        frames.append(
            pd.DataFrame(
                {
                    "hh_id": row["hh_id"],
                    "meets": criteria_met(row)["any"],
                    "relapse": (row["net_income_pc"] < row["monitor_line"]).to_numpy(),
                    "identified": row["is_monitored"].to_numpy(bool),
                }
            )
        )
    mc = pd.concat(frames).groupby("hh_id").agg(["sum", "count"])
    return pd.DataFrame(
        {
            "n": mc[("meets", "count")],
            "meets": mc[("meets", "sum")],
            "relapse": mc[("relapse", "sum")],
            "identified": mc[("identified", "sum")],
        }
    )


@pytest.fixture(
    scope="module",
    params=[(2019, None), (2022, None), (2022, SHOCKS)],
    ids=["2019", "2022", "shocked"],
)
def replayed(request):
    year, shocks = request.param
    c = _county_through(year, shocks=shocks)
    monitored_now = pd.Series(c.mon_status == 1, index=[f"H{i:06d}" for i in range(c.H)])
    _, oracle = advance(copy.deepcopy(c), year + 1)
    mc = _monte_carlo(c, year)
    both = oracle.set_index("hh_id").join(mc, how="inner")
    both["monitored_now"] = monitored_now.reindex(both.index).to_numpy()
    return year, both


@pytest.mark.parametrize(
    ("label", "prob"),
    [("meets", "p_meets_criteria"), ("relapse", "p_relapse"), ("identified", "p_identified")],
)
def test_oracle_equals_monte_carlo_within_sampling_error(replayed, label, prob):
    year, both = replayed
    if label == "identified":
        both = both[~both["monitored_now"]]
        if year < 2019:
            pytest.skip("nobody is identified before the mechanism began")
    p = both[prob].to_numpy().clip(1e-6, 1 - 1e-6)
    n, k = both["n"].to_numpy(), both[label].to_numpy()
    z = (k - n * p) / np.sqrt(n * p * (1 - p))

    assert len(both) > 150
    assert np.abs(z).max() < 5, both.assign(z=z).sort_values("z").iloc[[0, -1]]
    # jointly: the squared z-scores of independent households are chi-square distributed
    assert stats.chi2.sf((z**2).sum(), df=len(z)) > 1e-3
    # and the oracle is not trivially right: it spreads the households out
    assert both[prob].std() > 0.01


def test_posterior_over_the_hidden_type_is_calibrated():
    c = _county_through(2025, seed=8)
    seen = c.entered
    post = np.exp(c.log_post[seen] - c.log_post[seen].max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    truth = c.type[seen]
    for k in range(post.shape[1]):
        expected, observed = post[:, k].sum(), (truth == k).sum()
        sd = np.sqrt((post[:, k] * (1 - post[:, k])).sum())
        assert abs(observed - expected) < 4 * sd, (k, observed, expected)
    # the history is informative: the true type gets more weight than the prior gave it
    prior = np.where(c.exited[seen, None], [cal.TYPE_PRIOR["exited"]], [cal.TYPE_PRIOR["general"]])
    rows = np.arange(len(truth))
    assert post[rows, truth].mean() > prior[rows, truth].mean() + 0.05
