"""Unusual households (riskmodel.support): the rare-profile measure against a direct computation,
injected households flagged with the right reason, ordinary households rarely flagged."""

import numpy as np
import pandas as pd
import pytest

from riskmodel.catalogue import FEATURES
from riskmodel.features import build_features
from riskmodel.score import assess
from riskmodel.support import CUTS, RARE_QUANTILE, UNUSUAL_ZH, Support, fit_support

FEATURES_USED = ["net_income_pc", "household_type", "relocated", "dibao"]
LEVELS = {"household_type": FEATURES["household_type"].levels}


def _training(n: int = 4000, seed: int = 0) -> np.ndarray:
    """Incomes, a household type, and two yes/no features never both yes."""
    rng = np.random.default_rng(seed)
    relocated = (rng.random(n) < 0.2).astype(float)
    dibao = np.where(relocated == 1, 0.0, (rng.random(n) < 0.1).astype(float))
    return np.column_stack(
        [
            rng.lognormal(9, 0.5, n),
            rng.integers(0, len(LEVELS["household_type"]), n).astype(float),
            relocated,
            dibao,
        ]
    )


def _direct_surprisal(train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """-ln of the product of the training shares of each value's bin, with pandas' own binning."""
    n = len(train)
    total = np.zeros(len(X))
    for j, name in enumerate(FEATURES_USED):
        if name == "net_income_pc":
            edges = np.unique(np.quantile(train[:, j], CUTS))
            cut = [-np.inf, *edges, np.inf]
            bins_train = pd.cut(train[:, j], cut, right=True, labels=False)
            bins_x = pd.cut(X[:, j], cut, right=True, labels=False)
        else:
            bins_train, bins_x = train[:, j], X[:, j]
        counts = pd.Series(bins_train).value_counts()
        share = pd.Series(bins_x).map(counts).fillna(0.5).clip(lower=0.5).to_numpy() / n
        total -= np.log(share)
    return total


def test_rare_profile_is_the_independence_density_computed_directly():
    train = _training()
    support = fit_support(train, FEATURES_USED, LEVELS)
    fresh = _training(500, seed=1)

    got = Support(support, FEATURES_USED, LEVELS).surprisal(fresh)

    np.testing.assert_allclose(got, _direct_surprisal(train, fresh), rtol=1e-12)
    expected = np.quantile(_direct_surprisal(train, train), RARE_QUANTILE)
    assert support["threshold"] == pytest.approx(expected, rel=1e-12)


def test_training_rows_are_flagged_as_the_rare_half_percent_or_far_out_of_range():
    train = _training()
    support = Support(fit_support(train, FEATURES_USED, LEVELS), FEATURES_USED, LEVELS)

    flag, zh, _ = support.check(train)

    rare = "各项情况的组合在训练数据中少见（罕见程度高于99.5%的训练户）"
    assert 0.002 <= flag.mean() <= 0.007
    far = FEATURES["net_income_pc"].label_zh + "远高于训练数据的常见范围"
    bound = np.quantile(train[:, 0], 0.995) * 2 - np.median(train[:, 0])
    assert [r == [far] for r in zh if r and r != [rare]] == [True] * int(
        (train[:, 0] > bound).sum()
    )


def test_injected_households_are_flagged_with_their_reason_and_never_their_values():
    train = _training()
    support = Support(fit_support(train, FEATURES_USED, LEVELS), FEATURES_USED, LEVELS)
    ordinary = np.median(train, axis=0)
    ordinary[2:] = 0
    rich = ordinary.copy()
    rich[0] = 123_456_789.0
    both = ordinary.copy()
    both[2:] = 1  # relocated and on dibao: never together in training
    missing = ordinary.copy()
    missing[3] = np.nan  # dibao never missing in training

    flag, zh, en = support.check(np.vstack([ordinary, rich, both, missing]))

    assert flag.tolist() == [False, True, True, True]
    income = FEATURES["net_income_pc"].label_zh
    assert zh[1] == [f"{income}远高于训练数据的常见范围"]
    assert all("123,456,789" not in r and "123456789" not in r for r in zh[1] + en[1])
    relocated, dibao = FEATURES["relocated"].label_zh, FEATURES["dibao"].label_zh
    assert f"{relocated}与{dibao}的组合在训练数据中未出现" in zh[2]
    assert zh[3] == [f"{dibao}的取值（或缺失）在训练数据中未出现"]  # no pair reasons on top
    assert en[1][0].startswith(FEATURES["net_income_pc"].label_en)


def test_a_model_without_support_flags_nothing():
    flag, zh, _ = Support({}, FEATURES_USED, LEVELS).check(_training(10))
    assert not flag.any() and zh == [[]] * 10


@pytest.fixture(scope="module")
def scored_year(trained):
    model, panel = trained
    records = build_features(panel)
    return model, records[records["year"] == records["year"].max()].reset_index(drop=True)


def test_saved_model_keeps_its_support_and_flags_few_ordinary_households(scored_year):
    model, records = scored_year
    assert model.meta.support["threshold"] is not None  # read back from model.json

    a = assess(records, model)

    served = a.status == "not_monitored"  # the main model gives these their probability
    assert 0 < a.unusual[served].mean() < 0.04  # a year after the test year: drift included
    assert not a.unusual[~served].any()  # no probability shown, nothing to qualify


def test_injected_households_in_a_scored_year_are_flagged(scored_year):
    model, records = scored_year
    a = assess(records, model)
    ordinary = records[(a.status == "not_monitored") & ~a.unusual].head(4).copy()
    ordinary["net_income_pc"] = ordinary["net_income_pc"] * 1000

    b = assess(ordinary.reset_index(drop=True), model)

    assert (b.status == "not_monitored").all() and b.unusual.all()
    income = FEATURES["net_income_pc"].label_zh
    assert all(f"{income}远高于训练数据的常见范围" in r for r in b.unusual_zh)
    assert UNUSUAL_ZH == "该户情况少见，评分仅供参考"
