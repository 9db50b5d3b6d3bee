"""Scenarios: a county run with a shock in 2024 and without. The model is the one trained before
the batch (on years up to 2023, reference year 2023); the batch of 2024 is monitored in each county.
The alarm fires on the shocked batch and names the shocked features; it stays silent on the
county without a shock, where the estimated AUC holds the realised one within its interval."""

import pandas as pd
import pytest

from riskmodel.config import load_train_config
from riskmodel.criteria import CriteriaConfig
from riskmodel.monitor import build_reference, monitor_batch
from riskmodel.monitor.batch import scored_batches
from riskmodel.simulate import SimulationConfig, simulate
from riskmodel.simulate.shocks import parse_shock
from riskmodel.train import fit_model, labelled_records, split_by_year

from .conftest import ROOT

DEFAULT = "training/configs/default.yaml"
COUNTY = {"seed": 11, "households": 1500}
SHOCKS = {
    "flood": ("flood:2024:T01,T02,T03,T04,T05@0.9", {"village_disaster"}, "village_disaster"),
    "price": ("price_collapse:2024:sugarcane@0.5", {"sugarcane_price_index"}, "village_disaster"),
    "border": ("border_closure:2024@1.0", {"criteria met now"}, "work_months"),
}
"""Each shock: the features the alarm must name, and the most drifted model input that is judged
by PSI (a closure like 2020's moves migrants' months about as much as the model saw in 2020, so
its alarm comes from the households it pushes under the criteria)."""


@pytest.fixture(scope="module")
def trained_before_2024(training_county):
    from riskmodel.train import load_panel

    cfg = load_train_config(ROOT / DEFAULT, data=training_county)
    panel, _ = load_panel(training_county)
    records = labelled_records(panel[panel["year"] <= 2024], cfg.label, cfg.criteria)
    split = split_by_year(records, None)
    model, _ = fit_model(split, cfg)
    reference = build_reference(model, split.train, split.valid, split.test)
    return model, reference, panel


def test_no_alarm_without_a_shock_and_the_estimate_holds(trained_before_2024):
    model, reference, panel = trained_before_2024
    assert reference["reference_year"] == 2023
    m = monitor_batch(model, reference, panel, 2024)
    assert not m.judgement.alarm, m.judgement.reasons
    assert m.judgement.recommendation == "no action"
    est, real = m.estimated, m.realised
    assert real is not None and m.labelled > 0.95 * m.n
    assert est["roc_auc_low"] <= real["roc_auc"] <= est["roc_auc_high"]
    assert est["positives_low"] <= real["positives"] <= est["positives_high"]


@pytest.mark.parametrize("scenario", list(SHOCKS))
def test_the_alarm_fires_on_the_shocked_year_and_names_the_shocked_features(
    trained_before_2024, scenario
):
    model, reference, _ = trained_before_2024
    text, expected, most_drifted = SHOCKS[scenario]
    shocked = simulate(SimulationConfig(**COUNTY, shocks=[parse_shock(text)])).panel
    m = monitor_batch(model, reference, shocked, 2024)
    assert m.judgement.alarm, m.drift.head()
    assert expected <= set(m.judgement.features), m.judgement.reasons
    assert m.judgement.recommendation != "no action"
    judged_by_psi = m.drift[~m.drift["context"]]
    if scenario != "price":
        assert judged_by_psi["feature"].iloc[0] == most_drifted


def test_batches_built_in_one_pass_are_each_years_records_and_scores(trained_before_2024):
    # given the model trained before 2024 and the training path's records of each year
    model, _, panel = trained_before_2024
    label = model.meta.label
    criteria = CriteriaConfig(**model.meta.criteria) if model.meta.criteria else None
    records = labelled_records(panel, label, criteria)

    # when the monitor builds and scores 2022-2025 in one pass (as a report with past batches
    # and the year before's ranks does)
    scored = scored_batches(model, panel, [2022, 2023, 2024, 2025])

    # then each year's labelled rows are the training path's population with its features and
    # labels, the rest households without a row the next year; every raw score is LightGBM's own
    for year in (2022, 2023, 2024):
        got = scored[year].rows
        known = got[label].notna()
        later = panel.loc[panel["year"] == year + 1, "hh_id"]
        assert got["year"].eq(year).all()
        assert (got["hh_id"].isin(later) == known).all()
        want = records[records["year"] == year]
        both = got[known].merge(want, on=["hh_id", "year"], suffixes=("", "_want"), validate="1:1")
        assert len(both) == known.sum() == len(want) > 100
        for name in [*model.features, label]:
            pd.testing.assert_series_equal(
                both[name], both[f"{name}_want"], check_names=False, check_dtype=False
            )
    for batch in scored.values():
        lightgbm = model.booster.predict(model.matrix(batch.rows), raw_score=True)
        assert batch.raw == pytest.approx(lightgbm, abs=1e-9)
    assert scored[2025].rows[label].isna().all() and len(scored[2025].rows) > 100
