"""The API serves a model trained on partial data (issue 12 item 2): a panel with the required
fields and a few features imported through a spec trains, is promoted and served; a household
sent with only the fields that model reads scores as the batch scored it, and a field it reads
that is left out gets 422 naming it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from riskmodel.catalogue import RECORD_IDS, REQUIRED_FIELDS
from riskmodel.features import build_features

from .conftest import registered_project
from .test_partial import KEEP, partial  # noqa: F401

YEAR = 2025


@pytest.fixture(scope="module")
def served(partial, tmp_path_factory):  # noqa: F811
    """The partial panel's model registered, promoted, its batch in the store; the app serving
    it (no persistent model) and a county key."""
    from riskmodel import registry
    from riskmodel.api import create_app
    from riskmodel.api.security import create_key
    from riskmodel.config import Settings
    from riskmodel.score import run_batch
    from riskmodel.store import engine_for

    data, _ = partial
    root = tmp_path_factory.mktemp("partial-service")
    with registered_project(root, data, bootstrap=0, backtest_from=2024) as project:
        cfg, result, logged, client = project
        decision = registry.promote(cfg, client, force_reason="test: a partial panel's model")
        assert decision.promoted
        db_url = f"sqlite:///{root / 'store.db'}"
        batch = run_batch(
            data, root / "scores", db_url, result.model, logged.version, logged.run_id
        )
        key = create_key(engine_for(db_url), "county")[0]
        settings = Settings(
            db_url=db_url, model_uri="models:/relapse-risk@champion", persistent_model_uri=""
        )
        with TestClient(create_app(settings)) as api:
            yield {
                "api": api,
                "headers": {"Authorization": f"Bearer {key}"},
                "features": result.model.features,
                "model": result.model,
                "batch": batch.rows.set_index("hh_id"),
                "panel": pd.read_parquet(data / "panel.parquet"),
            }


def _households(served, n: int = 8, drop: tuple[str, ...] = ()) -> tuple[list[str], list[dict]]:
    """Households not monitored in YEAR (they get the model's probability), each with the two
    years before, sent with exactly the imported panel's fields (KEEP) minus `drop`."""
    panel = served["panel"]
    window = panel[panel["year"] >= YEAR - 2]
    share = build_features(window).set_index(["hh_id", "year"])["village_monitored_share"]
    batch = served["batch"]
    chosen = batch.index[(batch["status"] == "not_monitored")][:n].tolist()
    fields = [f for f in KEEP if f not in drop]
    out = []
    for hh in chosen:
        rows = window[window["hh_id"] == hh].sort_values("year", ascending=False)
        facts, *history = json.loads(rows[fields].to_json(orient="records"))
        out.append(
            {"facts": facts, "history": history, "village_monitored_share": share[(hh, YEAR)]}
        )
    return chosen, out


def test_the_schema_requires_only_the_required_fields(served):
    schemas = served["api"].get("/openapi.json").json()["components"]["schemas"]
    assert sorted(schemas["PanelFacts"]["required"]) == sorted(REQUIRED_FIELDS)
    assert sorted(schemas["ModelInputRecord"]["required"]) == sorted([*RECORD_IDS, "net_income_pc"])
    assert "the model in service reads" in schemas["PanelFacts"]["description"]


def test_facts_with_only_the_imported_fields_score_as_the_batch(served):
    chosen, households = _households(served)

    r = served["api"].post("/v1/scores", json={"households": households}, headers=served["headers"])

    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["hh_id"] for x in results] == chosen
    for x in results:
        stored = served["batch"].loc[x["hh_id"]]
        assert x["status"] == "not_monitored" and x["history_source"] == "request"
        assert x["probability"] == pytest.approx(stored["probability"], abs=1e-12)


def test_fields_the_model_does_not_read_are_ignored(served):
    """oop_medical and main_industry are not in the partial model: sent, they change nothing."""
    _, households = _households(served, n=2)
    plain = served["api"].post(
        "/v1/scores", json={"households": households}, headers=served["headers"]
    )
    for h in households:
        h["facts"] |= {"oop_medical": 90_000.0, "main_industry": "cattle"}

    extra = served["api"].post(
        "/v1/scores", json={"households": households}, headers=served["headers"]
    )

    assert extra.status_code == plain.status_code == 200, extra.text
    probs = [[x["probability"] for x in r.json()["results"]] for r in (plain, extra)]
    assert probs[0] == probs[1]


def test_a_fact_the_model_reads_left_out_gets_422_naming_it(served):
    assert "dibao" in served["features"]
    _, households = _households(served, n=2, drop=("dibao",))

    r = served["api"].post("/v1/scores", json={"households": households}, headers=served["headers"])

    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "households", 0, "facts", "dibao"] in locs
    assert ["body", "households", 1, "facts", "dibao"] in locs


def _records(served, n: int = 3) -> list[dict]:
    """Model input records of YEAR with the identifiers and the model's features only."""
    panel = served["panel"]
    records = build_features(panel[panel["year"] >= YEAR - 2])
    records = records[records["year"] == YEAR].set_index("hh_id", drop=False)
    chosen = served["batch"].index[served["batch"]["status"] == "not_monitored"][:n]
    fields = [*RECORD_IDS, *served["features"]]
    return json.loads(records.loc[chosen, fields].to_json(orient="records"))


def test_records_with_only_the_models_features_score_as_the_batch(served):
    records = _records(served)

    r = served["api"].post("/v1/scores", json={"records": records}, headers=served["headers"])

    assert r.status_code == 200, r.text
    for x in r.json()["results"]:
        stored = served["batch"].loc[x["hh_id"]]
        assert x["probability"] == pytest.approx(stored["probability"], abs=1e-12)
        assert x["history_source"] is None


def test_a_record_without_a_feature_the_model_reads_gets_422_naming_it(served):
    records = _records(served, n=2)
    del records[1]["labour_total"]

    r = served["api"].post("/v1/scores", json={"records": records}, headers=served["headers"])

    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "records", 1, "labour_total"]]


def test_pyfunc_input_from_the_partial_panel_scores_as_the_batch(served):
    """The pyfunc's helper builds its input from a partial panel's rows (the model's features
    only) and the pyfunc scores it as the batch did."""
    from riskmodel.registry import RelapsePyfunc, pyfunc_input

    panel = served["panel"]
    chosen = served["batch"].index[served["batch"]["status"] == "not_monitored"][:5]
    window = panel[(panel["year"] >= YEAR - 2) & panel["village_id"].isin(
        served["batch"].loc[chosen, "village_id"])]  # fmt: skip
    wrapper = RelapsePyfunc()
    wrapper.model = served["model"]

    inputs = pyfunc_input(window, YEAR, served["features"])
    out = wrapper.predict(None, inputs).set_index(inputs["hh_id"])

    assert list(inputs.columns) == [*RECORD_IDS, *served["features"]]
    expected = served["batch"].loc[chosen, "probability"].to_numpy()
    assert out.loc[chosen, "probability"].to_numpy() == pytest.approx(expected, abs=1e-12)
