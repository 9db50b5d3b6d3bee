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


def _household(hh: str, status: str = "not_monitored") -> dict:
    return {"hh_id": hh, "year": 2025, "village_id": "V1", "township_id": "T1", "status": status}


def test_visits_and_sessions_round_trip_on_the_store(db_url):
    from datetime import date

    from riskmodel.api.accounts import (
        authenticate,
        create_user,
        end_session,
        find_session,
        start_session,
    )
    from riskmodel.store import engine_for
    from riskmodel.visits import VisitIn, VisitRefused, record_visit, visits_of, visits_table

    engine = engine_for(db_url)
    visit = {"cadre": "c", "outcome": "not_enrolled", "measures": ["健康帮扶"]}
    record_visit(
        engine,
        VisitIn(visited_on=date(2025, 3, 1), verification="confirmed", **visit),
        _household("H1"),
    )
    record_visit(
        engine,
        VisitIn(visited_on=date(2025, 6, 1), verification="not_confirmed", **visit),
        _household("H1"),
    )
    with pytest.raises(VisitRefused, match="risk_eliminated"):
        record_visit(
            engine,
            VisitIn(
                visited_on=date(2025, 6, 1), verification="confirmed", risk_eliminated=True, **visit
            ),
            _household("H2"),
        )
    user = create_user(engine, "u1", "long enough password", "county")
    token = start_session(engine, user, 1)

    listed = visits_of(engine, "H1")
    table = visits_table(engine)
    assert [v["verification"] for v in listed] == ["not_confirmed", "confirmed"]
    assert listed[0]["measures"] == ["健康帮扶"] and listed[0]["year"] == 2025
    assert table["hh_id"].tolist() == ["H1"] and table["visits"].tolist() == [2]
    assert table["verified_risk"].tolist() == [False]
    assert authenticate(engine, "u1", "long enough password") == user
    assert authenticate(engine, "u1", "wrong password here") is None
    assert find_session(engine, token).principal.user_id == user
    end_session(engine, token)
    assert find_session(engine, token) is None
