"""POST /v1/scores with household facts: derived features computed by the library, and records
whose derived fields disagree with their facts refused."""

import json

import numpy as np
import pandas as pd
import pytest

from riskmodel.api.schemas import EXAMPLE_FACTS, EXAMPLE_HOUSEHOLD, EXAMPLE_RECORD
from riskmodel.catalogue import PANEL_COLUMNS
from riskmodel.features import build_features
from riskmodel.train import load_panel

from .test_api import api, auth  # noqa: F401

pytestmark = pytest.mark.usefixtures("service_env")


def _rows(frame: pd.DataFrame) -> list[dict]:
    cols = [c.name for c in PANEL_COLUMNS if c.role != "personal"]
    return json.loads(frame[cols].to_json(orient="records"))


def test_facts_in_scores_as_the_batch_did(api, service, training_county):  # noqa: F811
    """Panel rows of 2025 with the two years before give exactly the batch's probability."""
    panel, _ = load_panel(training_county)
    window = panel[panel["year"] >= 2023]
    share = build_features(window).set_index(["hh_id", "year"])["village_monitored_share"]
    rows = service["rows"]
    chosen = rows.groupby("status").head(6)["hh_id"].tolist()  # every status the batch has
    assert set(rows.set_index("hh_id").loc[chosen, "status"]) >= {"monitored", "not_monitored"}
    households = []
    for hh in chosen:
        rows = window[window["hh_id"] == hh].sort_values("year", ascending=False)
        facts, *history = _rows(rows)
        households.append(
            {
                "facts": facts,
                "history": history,
                "village_monitored_share": float(share.loc[(hh, 2025)]),
            }
        )

    r = api.post("/v1/scores", json={"households": households}, headers=auth(service, "county"))

    assert r.status_code == 200, r.text
    batch = service["rows"].set_index("hh_id")
    results = r.json()["results"]
    assert [x["hh_id"] for x in results] == chosen and len(chosen) >= 12
    for x in results:
        stored = batch.loc[x["hh_id"]]
        label = stored["label"] if isinstance(stored["label"], str) else None
        assert (x["status"], x["label"]) == (stored["status"], label)
        if x["probability"] is None:
            assert np.isnan(stored["probability"])
        else:
            assert x["probability"] == pytest.approx(stored["probability"], abs=1e-12)
            assert x["tier"] == stored["tier"]


def test_example_household_agrees_with_the_example_record(api, service):  # noqa: F811
    h = auth(service, "county")

    facts = api.post("/v1/scores", json={"households": [EXAMPLE_HOUSEHOLD]}, headers=h)
    record = api.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=h)

    assert facts.status_code == record.status_code == 200, facts.text
    a, b = facts.json()["results"][0], record.json()["results"][0]
    assert a["hh_id"] == b["hh_id"] and a["rule_flags"] == b["rule_flags"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (
            {"income_to_line": 5.0, "monitor_line": 6200.0},
            [
                "income_to_line",
                "income_to_line_change",
                "market_income_to_line",
                "rigid_income_to_line",
                "transfer_to_line",
            ],
        ),
        ({"rigid_income_to_line": 1.3}, ["rigid_income_to_line"]),
        ({"rigid_income_to_line_lag1": 1.7}, ["rigid_income_to_line_lag1"]),
        ({"rigid_spend_to_line": 0.6}, ["rigid_spend_to_line"]),
        ({"market_income_to_line": 1.3}, ["market_income_to_line"]),
        ({"transfer_to_line": 0.8}, ["transfer_to_line"]),
        ({"labour_total": 5}, ["labour_total"]),
        ({"n_labour_full": 9}, ["dependency_ratio", "labour_total", "n_labour_full"]),
        ({"oop_to_income": 0.05}, ["oop_to_income"]),
        ({"single_earner": True}, ["single_earner"]),
        ({"income_to_line_change": 0.5}, ["income_to_line_change"]),
    ],
)
def test_records_whose_derived_fields_disagree_are_refused(api, service, change, fields):  # noqa: F811
    r = api.post(
        "/v1/scores",
        json={"records": [{**EXAMPLE_RECORD, **change}]},
        headers=auth(service, "county"),
    )

    assert r.status_code == 422
    named = sorted(e["loc"][-1] for e in r.json()["detail"])
    assert named == fields
    assert all(e["loc"][:3] == ["body", "records", 0] for e in r.json()["detail"])


def test_the_example_record_with_its_line_is_consistent(api, service):  # noqa: F811
    r = api.post(
        "/v1/scores",
        json={"records": [{**EXAMPLE_RECORD, "monitor_line": 6200.0}]},
        headers=auth(service, "county"),
    )

    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("where", "change", "loc"),
    [
        ("facts", {"n_labour_full": 9}, ["facts", "n_labour_full"]),
        ("facts", {"inc_wage": 99999.0}, ["facts", "net_income_pc"]),
        ("facts", {"n_severe_disabled": 1}, ["facts", "n_severe_disabled"]),
        ("history", {"hh_id": "H999999"}, ["history", 0, "hh_id"]),
        ("history", {"year": 2021}, ["history", 0, "year"]),
        ("history", {"n_elderly_65p": 5}, ["history", 0, "n_elderly_65p"]),
    ],
)
def test_facts_breaking_the_panel_rules_get_422_naming_the_field(api, service, where, change, loc):  # noqa: F811
    body = json.loads(json.dumps(EXAMPLE_HOUSEHOLD))
    if where == "facts":
        body["facts"].update(change)
    else:
        body["history"][0].update(change)

    r = api.post("/v1/scores", json={"households": [body]}, headers=auth(service, "county"))

    assert r.status_code == 422, r.text
    assert ["body", "households", 0, *loc] in [e["loc"] for e in r.json()["detail"]]


def test_facts_of_another_township_are_refused_for_a_township_key(api, service):  # noqa: F811
    body = {**EXAMPLE_HOUSEHOLD, "facts": {**EXAMPLE_FACTS, "township_id": service["other"]}}

    r = api.post("/v1/scores", json={"households": [body]}, headers=auth(service, "township"))

    assert r.status_code == 403 and "households[0].township_id" in r.json()["detail"]


def test_one_form_per_request(api, service):  # noqa: F811
    r = api.post(
        "/v1/scores",
        json={"households": [EXAMPLE_HOUSEHOLD], "records": [EXAMPLE_RECORD]},
        headers=auth(service, "county"),
    )

    assert r.status_code == 422 and "either" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("where", "field"),
    [("facts", "oop_medical"), ("facts", "hh_size"), ("household", "village_monitored_share")],
)
def test_a_fact_the_full_model_reads_left_out_gets_422_naming_it(api, service, where, field):  # noqa: F811
    body = json.loads(json.dumps(EXAMPLE_HOUSEHOLD))
    del (body["facts"] if where == "facts" else body)[field]

    r = api.post("/v1/scores", json={"households": [body]}, headers=auth(service, "county"))

    assert r.status_code == 422, r.text
    loc = ["body", "households", 0, *(["facts"] if where == "facts" else []), field]
    assert [e["loc"] for e in r.json()["detail"]] == [loc]


def test_facts_the_model_does_not_read_may_be_left_out(api, service):  # noqa: F811
    body = json.loads(json.dumps(EXAMPLE_HOUSEHOLD))
    for row in (body["facts"], *body["history"]):
        for field in ("monitor_category", "risk_type", "new_serious_illness", "head_sex"):
            del row[field]
    h = auth(service, "county")

    short = api.post("/v1/scores", json={"households": [body]}, headers=h)
    full = api.post("/v1/scores", json={"households": [EXAMPLE_HOUSEHOLD]}, headers=h)

    assert short.status_code == full.status_code == 200, short.text
    assert short.json()["results"][0]["probability"] == full.json()["results"][0]["probability"]


@pytest.fixture(scope="module")
def api_with_panel(service, training_county):
    """The service started with the panel (RISKMODEL_PANEL): history for households sent
    without theirs."""
    from fastapi.testclient import TestClient

    from riskmodel.api import create_app

    from .conftest import service_tracking

    settings = service["settings"].model_copy(update={"panel": training_county})
    with service_tracking(service), TestClient(create_app(settings)) as c:
        yield c


def test_history_from_the_panel_scores_as_the_batch(api, api_with_panel, service, training_county):  # noqa: F811
    """The batch is the reference: history sent, or left out and taken from the service's panel,
    give the batch's probability; with no history anywhere, lags are missing and it differs."""
    panel, _ = load_panel(training_county)
    window = panel[panel["year"] >= 2023]
    share = build_features(window).set_index(["hh_id", "year"])["village_monitored_share"]
    batch = service["rows"].set_index("hh_id")
    chosen = service["rows"].groupby("status").head(5)["hh_id"].tolist()
    sent, bare = [], []
    for hh in chosen:
        facts, *history = _rows(window[window["hh_id"] == hh].sort_values("year", ascending=False))
        assert [r["year"] for r in history] == [2024, 2023]
        vshare = float(share.loc[(hh, 2025)])
        sent.append({"facts": facts, "history": history, "village_monitored_share": vshare})
        bare.append({"facts": facts, "village_monitored_share": vshare})
    h = auth(service, "county")

    answers = {
        "request": api_with_panel.post("/v1/scores", json={"households": sent}, headers=h),
        "panel": api_with_panel.post("/v1/scores", json={"households": bare}, headers=h),
        "none": api.post("/v1/scores", json={"households": bare}, headers=h),
    }

    differs = 0
    for source, r in answers.items():
        assert r.status_code == 200, r.text
        for x in r.json()["results"]:
            assert x["history_source"] == source
            assert x["history_years"] == ([] if source == "none" else [2024, 2023])
            stored = batch.loc[x["hh_id"]]
            assert x["status"] == stored["status"]
            expected = None if np.isnan(stored["probability"]) else stored["probability"]
            if source != "none":
                assert x["probability"] == pytest.approx(expected, abs=1e-12)
            elif expected is not None:
                differs += abs(x["probability"] - expected) > 1e-6
    with_probability = sum(np.isfinite(batch.loc[chosen, "probability"]))
    assert with_probability >= 8 and differs >= with_probability // 2
