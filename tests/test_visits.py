"""Visits as a label: the latest visit per household-year decides `verified_risk`, and training's
check against it covers the visited test households only, with the selection caution."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskmodel.visits import SELECTION_CAUTION, check_against_visits


@pytest.fixture
def visits_file(tmp_path):
    table = pd.DataFrame(
        {
            "hh_id": ["A", "B", "C", "D", "E"],
            "year": [2024, 2024, 2024, 2024, 2023],
            "verified_risk": pd.array([True, False, True, None, True], dtype="boolean"),
        }
    )
    path = tmp_path / "visits.parquet"
    table.to_parquet(path)
    return path


def test_check_counts_only_verified_visits_of_the_test_year(visits_file):
    test = pd.DataFrame({"hh_id": ["A", "B", "C", "D", "E", "F"], "year": [2024] * 6})
    p = np.array([0.9, 0.2, 0.4, 0.8, 0.7, 0.1])

    out = check_against_visits(test, p, visits_file)

    # D was not reached, E was visited for another year, F never: A, B, C remain
    assert out["visits_verified"] == 3 and out["visits_confirmed"] == 2
    assert out["visits_roc_auc"] == pytest.approx(roc_auc_score([1, 0, 1], [0.9, 0.2, 0.4]))
    assert out["visits_roc_auc"] == 1.0
    assert SELECTION_CAUTION in out["visits_note"]


def test_check_gives_no_auc_when_every_visit_answered_alike(visits_file):
    test = pd.DataFrame({"hh_id": ["A", "C"], "year": [2024, 2024]})

    out = check_against_visits(test, np.array([0.3, 0.6]), visits_file)

    assert out["visits_verified"] == 2 and "visits_roc_auc" not in out
