"""Contract, security, lifecycle and property tests of the scoring API."""

import json
import logging
import threading
import time

import httpx2 as httpx
import mlflow
import numpy as np
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from riskmodel.api import create_app
from riskmodel.api.schemas import EXAMPLE_HOUSEHOLD, EXAMPLE_RECORD, ScoreResponse
from riskmodel.api.security import create_key
from riskmodel.bench import free_port
from riskmodel.catalogue import FEATURE_NAMES, FEATURES
from riskmodel.registry import RelapsePyfunc
from riskmodel.score import run_batch
from riskmodel.store import audit, engine_for

from .conftest import service_tracking

NAME = "relapse-risk"
PERSISTENT = "relapse-risk-persistent"
BELOW_LINE = {
    **EXAMPLE_RECORD,
    "income_to_line": 0.9,
    "income_to_line_change": 0.9 - EXAMPLE_RECORD["income_to_line_lag1"],
    "rigid_income_to_line": 0.73,  # 0.9 - (6,000 + 300) / 4 / (8,400 / 0.9)
    "market_income_to_line": 0.62,  # 0.9 x (1 - 0.31)
    "rigid_spend_to_line": 0.17,  # (6,000 + 300) / 4 / (8,400 / 0.9)
    "transfer_to_line": 0.28,  # 0.9 x 0.31
    "hh_id": "H000124",
}
MONITORED = {**EXAMPLE_RECORD, "is_monitored": True, "hh_id": "H000125"}


pytestmark = pytest.mark.usefixtures("service_env")


@pytest.fixture(scope="module")
def api(service):
    with service_tracking(service), TestClient(create_app(service["settings"])) as c:
        yield c


def auth(service, role: str) -> dict:
    return {"Authorization": f"Bearer {service['keys'][role]}"}


def a_household(service, township: str) -> str:
    rows = service["rows"]
    return rows.loc[rows["township_id"] == township, "hh_id"].iloc[0]


def a_village(service, township: str) -> str:
    rows = service["rows"]
    return rows.loc[rows["township_id"] == township, "village_id"].iloc[0]


# --- scores ---------------------------------------------------------------------------------------


def test_scores_return_probability_tier_flags_reasons_and_version(api, service):
    r = api.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=auth(service, "county"))

    assert r.status_code == 200, r.text
    body = r.json()
    res = body["results"][0]
    assert res["status"] == "not_monitored" and res["label"] == "meets_criteria"
    assert res["criteria"] == []
    assert 0 <= res["probability"] <= 1 and res["tier"] in {"red", "amber", "green"}
    assert (
        res["rule_flags"]["income_below_line"] is False and res["rule_flags"]["any_rule"] is False
    )
    assert res["reasons"] and res["reasons"][0]["text_zh"] and res["reasons"][0]["measures"]
    assert body["model_version"] == service["logged"].version == res["model_version"]
    assert set(res["dimensions"]) == {"INC", "EMP", "EDU", "MED", "HOU", "WAT", "FAM", "MOT", "POL"}


def test_each_status_gets_its_populations_model_or_the_criteria_met(api, service):
    records = [BELOW_LINE, MONITORED, EXAMPLE_RECORD]

    r = api.post("/v1/scores", json={"records": records}, headers=auth(service, "county"))

    below, monitored, clear = r.json()["results"]
    assert below["status"] == "meets_criteria" and below["label"] is None
    assert below["probability"] is None and below["tier"] is None
    assert [c["code"] for c in below["criteria"]] == ["income", "rigid"]
    assert below["rule_flags"]["income_below_line"] and below["rule_flags"]["any_rule"]
    assert below["criteria"][0]["zh"] == "人均纯收入低于监测标准"
    assert below["model_version"] == service["logged"].version
    assert not {"net_income_pc", "income_to_line"} & {p["feature"] for p in below["protective"]}
    assert monitored["status"] == "monitored" and monitored["label"] == "persistent"
    assert 0 < monitored["probability"] < 1
    assert monitored["model_version"] == service["persistent"].version
    assert (
        clear["label"] == "meets_criteria" and clear["model_version"] == service["logged"].version
    )


@pytest.mark.parametrize("form", ["records", "households"])
def test_score_bodies_are_exactly_the_documented_schema(api, service, form):
    """Bodies are serialised without FastAPI's response validation: each must be what
    ScoreResponse gives back (no field missing, extra or of another type)."""
    records = [BELOW_LINE, MONITORED, EXAMPLE_RECORD]
    payload = {"records": records} if form == "records" else {"households": [EXAMPLE_HOUSEHOLD]}

    r = api.post("/v1/scores", json=payload, headers=auth(service, "county"))

    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert ScoreResponse.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize(
    ("role", "form"), [("county", "records"), ("county", "households"), ("township", "records")]
)
def test_the_fast_path_answers_as_the_app(service, role, form, monkeypatch):
    """A key's first request goes through FastAPI (the key is looked up in the store); once the
    key is cached, ScoreFastPath answers: the same status, headers and bytes (a township key
    gets the same 403 for records of other townships)."""
    from riskmodel.api.routers import scores

    found = []
    lookup = scores._cached_principal
    monkeypatch.setattr(
        scores, "_cached_principal", lambda svc, h: found.append(lookup(svc, h)) or found[-1]
    )
    payload = {"records": [BELOW_LINE, MONITORED]} if form == "records" else None
    payload = payload or {"households": [EXAMPLE_HOUSEHOLD]}
    with service_tracking(service), TestClient(create_app(service["settings"])) as c:
        first = c.post("/v1/scores", json=payload, headers=auth(service, role))
        second = c.post("/v1/scores", json=payload, headers=auth(service, role))

    assert found[0] is None and found[1] is not None  # the app, then the fast path
    assert first.status_code == second.status_code
    assert first.content == second.content
    assert first.headers.items() == second.headers.items()


@pytest.mark.parametrize("n", [3, 40])
def test_scores_agree_with_the_batch_for_the_same_record(api, service, training_county, n):
    from riskmodel.features import build_features
    from riskmodel.registry import to_wire
    from riskmodel.train import load_panel

    panel, _ = load_panel(training_county)
    rec = build_features(panel[panel["year"] >= 2023])
    rec = rec[rec["year"] == 2025].head(n)
    payload = json.loads(to_wire(rec).to_json(orient="records"))

    r = api.post("/v1/scores", json={"records": payload}, headers=auth(service, "county"))

    batch = service["rows"].set_index("hh_id")
    results = r.json()["results"]
    assert [res["hh_id"] for res in results] == rec["hh_id"].tolist()
    for res in results:
        stored = batch.loc[res["hh_id"]]
        if res["probability"] is None:
            assert np.isnan(stored["probability"]) and stored["status"] == "meets_criteria"
        else:
            assert res["probability"] == pytest.approx(stored["probability"], abs=1e-9)
        text = {k: v if isinstance(v, str) else None for k, v in stored.items()}
        assert (res["status"], res["label"], res["tier"]) == (
            text["status"],
            text["label"],
            text["tier"],
        )
        assert ",".join(c["code"] for c in res["criteria"]) == stored["criteria"]
        for reason in res["reasons"]:
            assert f"{reason['label_zh']}：{reason['text_zh']}" in stored["reasons_zh"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"head_age": 300}, ["body", "records", 0, "head_age"]),
        ({"main_industry": "rubber"}, ["body", "records", 0, "main_industry"]),
        ({"favourite_colour": "red"}, ["body", "records", 0, "favourite_colour"]),
        ({"hh_size": "four"}, ["body", "records", 0, "hh_size"]),
        ({"relocated": 1}, ["body", "records", 0, "relocated"]),
        ({"hh_id": ""}, ["body", "records", 0, "hh_id"]),
    ],
)
def test_bad_records_get_422_naming_the_field(api, service, change, path):
    r = api.post(
        "/v1/scores",
        json={"records": [{**EXAMPLE_RECORD, **change}]},
        headers=auth(service, "county"),
    )

    assert r.status_code == 422
    assert path in [e["loc"] for e in r.json()["detail"]]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(api, service, literal):
    text = json.dumps({"records": [EXAMPLE_RECORD]}).replace(
        '"oop_medical": 6000.0', f'"oop_medical": {literal}'
    )

    r = api.post(
        "/v1/scores",
        content=text,
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    assert r.status_code == 422
    assert ["body", "records", 0, "oop_medical"] in [e["loc"] for e in r.json()["detail"]]


def test_missing_field_and_record_count_limits(api, service):
    partial = {k: v for k, v in EXAMPLE_RECORD.items() if k != "head_age"}
    h = auth(service, "county")

    assert api.post("/v1/scores", json={"records": [partial]}, headers=h).json()["detail"][0][
        "loc"
    ] == ["body", "records", 0, "head_age"]
    assert api.post("/v1/scores", json={"records": []}, headers=h).status_code == 422
    many = api.post("/v1/scores", json={"records": [EXAMPLE_RECORD] * 1001}, headers=h)
    assert many.status_code in (413, 422)


def test_oversized_body_gets_413(api, service):
    big = b'{"records": [' + b" " * 3_000_000 + b"]}"

    r = api.post(
        "/v1/scores",
        content=big,
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    assert r.status_code == 413 and "larger than" in r.json()["detail"]


# --- security -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer rk_00000000_nope"}, {"Authorization": "Basic abc"}]
)
def test_requests_without_a_valid_key_get_401(api, service, headers):
    r = api.get(f"/v1/households/{a_household(service, service['own'])}", headers=headers)

    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "key" in r.json()["detail"]


@pytest.mark.parametrize(
    ("role", "where", "expected"),
    [
        ("county", "own", 200),
        ("county", "other", 200),
        ("township", "own", 200),
        ("township", "other", 403),
        ("admin", "own", 200),
        ("admin", "other", 200),
    ],
)
def test_role_matrix_for_households_villages_and_scores(api, service, role, where, expected):
    township = service[where]
    h = auth(service, role)
    record = {**EXAMPLE_RECORD, "township_id": township}

    got = [
        api.get(f"/v1/households/{a_household(service, township)}", headers=h).status_code,
        api.get(f"/v1/villages/{a_village(service, township)}/worklist", headers=h).status_code,
        api.post("/v1/scores", json={"records": [record]}, headers=h).status_code,
    ]

    assert got == [expected] * 3


@pytest.mark.parametrize(("role", "expected"), [("county", 403), ("township", 403), ("admin", 200)])
def test_only_admin_may_reload(api, service, role, expected):
    r = api.post("/v1/admin/reload", headers=auth(service, role))

    assert r.status_code == expected
    if expected == 200:
        assert r.json()["status"] == "unchanged"


def test_keys_are_stored_hashed(service):
    with service["engine"].connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalars().all()

    for key in service["keys"].values():
        assert key not in stored and all(key not in h for h in stored)


def test_household_read_writes_an_audit_row(api, service):
    hh = a_household(service, service["own"])

    def rows():
        with service["engine"].connect() as conn:
            return conn.execute(sa.select(audit).where(audit.c.hh_id == hh)).mappings().all()

    before = len(rows())
    api.get(f"/v1/households/{hh}", headers=auth(service, "township"))
    after = rows()

    assert len(after) == before + 1
    last = after[-1]
    assert last["endpoint"] == "/v1/households/{hh_id}"
    assert last["model_version"] == service["logged"].version
    assert service["keys"]["township"].split("_")[1] == last["key_id"]


def test_village_read_writes_an_audit_row(api, service):
    village = a_village(service, service["own"])
    with service["engine"].connect() as conn:
        before = conn.execute(
            sa.select(sa.func.count()).select_from(audit).where(audit.c.village_id == village)
        ).scalar()

    api.get(f"/v1/villages/{village}/worklist", headers=auth(service, "county"))

    with service["engine"].connect() as conn:
        after = conn.execute(
            sa.select(sa.func.count()).select_from(audit).where(audit.c.village_id == village)
        ).scalar()
    assert after == before + 1


def test_no_personal_fields_in_logs(api, service, caplog):
    caplog.set_level(logging.DEBUG)
    hh = a_household(service, service["own"])

    api.get(f"/v1/households/{hh}", headers=auth(service, "county"))
    api.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=auth(service, "county"))

    text = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )  # the client's own log
    assert hh not in text and EXAMPLE_RECORD["hh_id"] not in text
    assert "6000" not in text and "oop_medical" not in text


# --- stored results -----------------------------------------------------------------------------


def test_household_returns_the_latest_batch_with_reasons(api, service):
    rows = service["rows"]
    hh = rows.loc[(rows["township_id"] == service["own"]) & rows["label"].notna(), "hh_id"].iloc[0]
    row = rows.set_index("hh_id").loc[hh]

    body = api.get(f"/v1/households/{hh}", headers=auth(service, "county")).json()

    assert body["probability"] == pytest.approx(row["probability"])
    assert body["tier"] == row["tier"] and body["rank_in_village"] == row["rank_in_village"]
    assert (body["status"], body["label"]) == (row["status"], row["label"] or None)
    assert [r["risk_type"] for r in body["reasons"]] == row["top_risk_types"].split(",")
    assert body["contributions"] is None


def test_scores_and_stored_households_carry_the_probabilitys_interval(api, service):
    r = api.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=auth(service, "county"))
    res = r.json()["results"][0]
    low, high = res["probability_interval"]
    assert 0 < low < res["probability"] < high < 1
    rows = service["rows"]
    row = rows[rows["probability"].notna()].iloc[0]
    body = api.get(f"/v1/households/{row['hh_id']}", headers=auth(service, "county")).json()
    assert body["probability_interval"] == pytest.approx(
        [row["probability_low"], row["probability_high"]]
    )


def test_unusual_households_are_flagged_in_scores_and_stored_households(api, service):
    far = {**EXAMPLE_RECORD, "cultivated_land_mu": 100.0, "hh_id": "H000126"}

    r = api.post(
        "/v1/scores", json={"records": [EXAMPLE_RECORD, far]}, headers=auth(service, "county")
    )

    ordinary, unusual = (x["unusual"] for x in r.json()["results"])
    assert ordinary == {"flagged": False, "note_zh": "", "reasons_zh": [], "reasons_en": []}
    assert unusual["flagged"] and unusual["note_zh"] == "该户情况少见，评分仅供参考"
    land = FEATURES["cultivated_land_mu"].label_zh
    assert unusual["reasons_zh"][0] == f"{land}远高于训练数据的常见范围"  # never the value
    rows = service["rows"]
    flagged = rows[rows["unusual"]]
    assert 0 < len(flagged) < 0.05 * rows["probability"].notna().sum()
    hh = flagged["hh_id"].iloc[0]
    body = api.get(f"/v1/households/{hh}", headers=auth(service, "county")).json()
    assert body["unusual"]["flagged"]
    assert "；".join(body["unusual"]["reasons_zh"]) == flagged["unusual_zh"].iloc[0]


def test_household_and_worklist_show_the_head_masked_never_the_full_name(
    api, service, training_county
):
    import pandas as pd

    from riskmodel.privacy import mask_name

    panel = pd.read_parquet(
        training_county / "panel.parquet", columns=["hh_id", "year", "head_name"]
    )
    full = panel[panel["year"] == 2025].set_index("hh_id")["head_name"]
    rows = service["rows"]
    hh = rows.loc[rows["township_id"] == service["own"], "hh_id"].iloc[0]
    village = rows.set_index("hh_id").loc[hh, "village_id"]

    one = api.get(f"/v1/households/{hh}", headers=auth(service, "county"))
    listed = api.get(f"/v1/villages/{village}/worklist", headers=auth(service, "county"))

    assert one.json()["head_name"] == mask_name(full[hh]) and "*" in one.json()["head_name"]
    entries = listed.json()["households"]
    assert entries and all(e["head_name"] == mask_name(full[e["hh_id"]]) for e in entries)
    for text in (one.text, listed.text):
        assert not any(name in text for name in full)


@pytest.mark.parametrize("status", ["meets_criteria", "monitored"])
def test_household_read_gives_status_label_and_criteria(api, service, status):
    rows = service["rows"]
    row = rows[rows["status"] == status].iloc[0]

    body = api.get(f"/v1/households/{row['hh_id']}", headers=auth(service, "county")).json()

    assert body["status"] == status
    assert [c["code"] for c in body["criteria"]] == [c for c in row["criteria"].split(",") if c]
    if status == "meets_criteria":
        assert body["probability"] is None and body["tier"] is None and body["label"] is None
        assert body["criteria"] and body["model_version"] == service["logged"].version
    else:
        assert body["label"] == "persistent"
        assert body["probability"] == pytest.approx(row["probability"])
        assert body["model_version"] == service["persistent"].version


def test_explain_full_adds_every_contribution(api, service):
    hh = a_household(service, service["own"])

    body = api.get(f"/v1/households/{hh}?explain=full", headers=auth(service, "county")).json()

    assert set(body["contributions"]) == set(FEATURE_NAMES)
    assert sum(body["dimensions"].values()) == pytest.approx(
        sum(body["contributions"].values()), abs=1e-3
    )


def test_unknown_household_is_404_with_a_message(api, service):
    r = api.get("/v1/households/H999999", headers=auth(service, "county"))

    assert r.status_code == 404 and "H999999" in r.json()["detail"]


def test_worklist_is_the_batch_worklist(api, service):
    """The API serves the batch's own `on_worklist` (criteria, capacity share, monitored), ranked."""
    rows = service["rows"]
    verify = rows["status"] == "meets_criteria"
    village = rows.loc[verify, "village_id"].value_counts().index[0]
    part = rows[rows["village_id"] == village]
    expected = part.loc[part["on_worklist"]].sort_values("rank_in_village")["hh_id"].tolist()

    body = api.get(f"/v1/villages/{village}/worklist", headers=auth(service, "county")).json()

    listed = [h["hh_id"] for h in body["households"]]
    assert listed == expected
    assert set(part.loc[part["status"] == "meets_criteria", "hh_id"]) <= set(listed)
    assert len(listed) < len(part)  # not every household: the batch's definition, not "all"


def test_worklist_is_headed_by_every_household_that_meets_the_criteria(api, service):
    rows = service["rows"]
    village = rows.loc[rows["status"] == "meets_criteria", "village_id"].value_counts().index[0]
    verify = rows[(rows["village_id"] == village) & (rows["status"] == "meets_criteria")]

    body = api.get(f"/v1/villages/{village}/worklist", headers=auth(service, "county"))

    listed = body.json()["households"]
    head = listed[: len(verify)]
    assert {h["hh_id"] for h in head} == set(verify["hh_id"])
    assert all(h["status"] == "meets_criteria" and h["probability"] is None for h in head)
    assert all(h["criteria"] for h in head)
    assert all(h["status"] != "meets_criteria" for h in listed[len(verify) :])


def test_village_caseload_is_the_sum_of_its_batch_probabilities(api, service):
    rows = service["rows"]
    village = rows["village_id"].value_counts().index[0]
    part = rows[rows["village_id"] == village]
    new = part.loc[part["label"] == "meets_criteria", "probability"]

    body = api.get(f"/v1/villages/{village}/worklist", headers=auth(service, "county")).json()

    load = body["caseload"]
    assert load["households_new"] == len(new)
    assert load["expected_new"] == pytest.approx(new.sum(), abs=0.01)
    assert load["expected_new_low"] <= load["expected_new"] <= load["expected_new_high"]
    assert load["meets_now"] == int((part["status"] == "meets_criteria").sum())


def test_unknown_village_is_404(api, service):
    assert api.get("/v1/villages/V999/worklist", headers=auth(service, "county")).status_code == 404


# --- operations ---------------------------------------------------------------------------------


def test_health_ready_metrics_and_docs(api, service):
    api.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=auth(service, "county"))
    admin = auth(service, "admin")

    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready", headers=admin).json()
    assert ready["ready"] and ready["model_version"] == service["logged"].version
    metrics = api.get("/metrics", headers=admin).text
    assert 'riskmodel_requests_total{method="POST",route="/v1/scores",status="200"}' in metrics
    assert f'version="{service["logged"].version}"' in metrics
    assert "riskmodel_reload_failures_total 0.0" in metrics
    spec = api.get("/openapi.json").json()
    assert spec["components"]["schemas"]["ModelInputRecord"]["examples"][0]["hh_id"]


@pytest.mark.parametrize("role", [None, "county", "township"])
def test_ready_and_metrics_reveal_only_status_without_admin(api, service, role):
    headers = auth(service, role) if role else {}

    ready = api.get("/ready", headers=headers)
    metrics = api.get("/metrics", headers=headers)

    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert metrics.status_code == 401 and "riskmodel_" not in metrics.text


def test_metrics_token_reads_metrics(service):
    settings = service["settings"].model_copy(update={"metrics_token": "s3cret-token"})
    with TestClient(create_app(settings)) as c:
        good = c.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        bad = c.get("/metrics", headers={"Authorization": "Bearer s3cret-tokem"})

    assert good.status_code == 200 and "riskmodel_model_ready 1.0" in good.text
    assert bad.status_code == 401


def test_docs_are_served_offline_with_an_authorize_scheme(api):
    page = api.get("/docs").text
    redoc = api.get("/redoc").text
    spec = api.get("/openapi.json").json()

    assert "cdn" not in page.lower() and "/docs/assets/swagger-ui-bundle.js" in page
    assert "/docs/assets/redoc.standalone.js" in redoc and "fonts.googleapis" not in redoc
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        r = api.get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 100_000
    assert spec["components"]["securitySchemes"]["APIKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["APIKey"]["description"],
    }
    assert spec["paths"]["/v1/scores"]["post"]["security"] == [{"APIKey": []}]


def test_service_without_a_model_is_up_but_not_ready(service):
    settings = service["settings"].model_copy(
        update={"model_uri": "models:/no-such-model@champion"}
    )
    with TestClient(create_app(settings)) as c:
        anonymous = c.get("/ready")
        ready = c.get("/ready", headers=auth(service, "admin"))
        scored = c.post(
            "/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=auth(service, "county")
        )

    assert anonymous.status_code == 503 and anonymous.json() == {"ready": False}
    assert ready.status_code == 503 and "no-such-model" in ready.json()["last_reload_error"]
    assert scored.status_code == 503 and "no-such-model" not in scored.text


# --- lifecycle: hot swap under load, broken version ---------------------------------------------


@pytest.fixture
def live(service):
    """The app on a real server in a thread, for tests that need concurrent clients."""
    port = free_port()
    app = create_app(service["settings"])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=30)
    client = service["client"]
    client.set_registered_model_alias(NAME, "champion", service["logged"].version)


def wait_for(condition, seconds: float = 60, what: str = "condition") -> None:
    """Poll until `condition()` is true (a deadline only guards against a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_hot_swap_under_load_fails_no_request(live, service):
    base, _ = live
    client = service["client"]
    first = client.get_model_version_by_alias(NAME, "champion")
    seen: dict[int, list[str]] = {i: [] for i in range(3)}
    failures, stop = [], threading.Event()

    def loop(i: int):
        with httpx.Client(base_url=base, headers=auth(service, "county"), timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/scores", json={"records": [EXAMPLE_RECORD]})
                    if r.status_code != 200:
                        failures.append(r.status_code)
                    else:
                        seen[i].append(r.json()["model_version"])
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    workers = [threading.Thread(target=loop, args=(i,)) for i in seen]
    for w in workers:
        w.start()
    try:
        wait_for(lambda: all(len(v) >= 5 for v in seen.values()), what="requests before")
        new = client.create_model_version(NAME, first.source, run_id=first.run_id)
        client.set_registered_model_alias(NAME, "champion", new.version)
        swap = httpx.post(f"{base}/v1/admin/reload", headers=auth(service, "admin"), timeout=120)
        counts = {i: len(v) for i, v in seen.items()}
        wait_for(lambda: all(len(v) >= counts[i] + 5 for i, v in seen.items()), what="after")
    finally:
        stop.set()
        for w in workers:
            w.join()

    assert swap.status_code == 200 and swap.json()["status"] == "swapped"
    assert failures == []
    for versions in seen.values():
        assert versions[0] == str(first.version) and versions[-1] == str(new.version)
        switched = versions.index(str(new.version))  # never back to the old one
        assert set(versions[switched:]) == {str(new.version)}


def test_reload_follows_the_persistent_champion_too(live, service):
    base, _ = live
    client = service["client"]
    first = client.get_model_version_by_alias(PERSISTENT, "champion")
    new = client.create_model_version(PERSISTENT, first.source, run_id=first.run_id)
    client.set_registered_model_alias(PERSISTENT, "champion", new.version)
    h = auth(service, "admin")
    try:
        before = httpx.post(f"{base}/v1/scores", json={"records": [MONITORED]}, headers=h)
        swap = httpx.post(f"{base}/v1/admin/reload", headers=h, timeout=120)
        after = httpx.post(f"{base}/v1/scores", json={"records": [MONITORED]}, headers=h)
        ready = httpx.get(f"{base}/ready", headers=auth(service, "admin")).json()
    finally:
        client.set_registered_model_alias(PERSISTENT, "champion", first.version)

    assert before.json()["results"][0]["model_version"] == str(first.version)
    assert swap.status_code == 200, swap.text
    assert swap.json()["persistent_status"] == "swapped" and swap.json()["status"] == "unchanged"
    assert after.json()["results"][0]["model_version"] == str(new.version)
    assert ready["persistent_model_version"] == str(new.version)


def test_without_a_persistent_model_monitored_households_get_no_probability(service):
    settings = service["settings"].model_copy(update={"persistent_model_uri": ""})
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/scores", json={"records": [MONITORED]}, headers=auth(service, "county"))
        ready = c.get("/ready", headers=auth(service, "admin")).json()

    res = r.json()["results"][0]
    assert res["status"] == "monitored" and res["probability"] is None and res["label"] is None
    assert ready["ready"] and ready["persistent_model_version"] is None


def test_broken_new_version_keeps_the_old_one_serving(live, service, tmp_path):
    base, _ = live
    client = service["client"]
    serving = client.get_model_version_by_alias(NAME, "champion").version
    empty = tmp_path / "empty"
    empty.mkdir()
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RelapsePyfunc(),
            artifacts={"model": str(empty)},
            registered_model_name=NAME,
            pip_requirements=[],
        )
    client.set_registered_model_alias(NAME, "champion", str(info.registered_model_version))
    h = auth(service, "admin")

    swap = httpx.post(f"{base}/v1/admin/reload", headers=h, timeout=60)
    scored = httpx.post(f"{base}/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=h)
    ready = httpx.get(f"{base}/ready", headers=h).json()
    metrics = httpx.get(f"{base}/metrics", headers=h).text

    assert swap.status_code == 502 and f"still serving version {serving}" in swap.json()["detail"]
    assert scored.status_code == 200 and scored.json()["model_version"] == str(serving)
    assert ready["ready"] and ready["model_version"] == str(serving)
    assert "reload failed" in ready["last_reload_error"]
    assert "riskmodel_reload_failures_total 1.0" in metrics


def test_dev_example_key_and_body_are_accepted(service, api, capsys, monkeypatch, tmp_path):
    """`serve --dev-key` prints a key and a request body file that the app accepts as they are."""
    from riskmodel.cli import _print_dev_example

    monkeypatch.chdir(tmp_path)
    _print_dev_example(service["settings"], "127.0.0.1", 8000)
    out = capsys.readouterr().out
    key = next(ln for ln in out.splitlines() if "export KEY=" in ln).split("=", 1)[1]
    assert "-d @data/example-request.json http://127.0.0.1:8000/v1/scores" in out
    body = json.loads((tmp_path / "data/example-request.json").read_text())
    r = api.post("/v1/scores", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert 0 < r.json()["results"][0]["probability"] < 1


def test_serve_with_two_workers(service):
    """`riskmodel serve --workers 2` runs two worker processes, each building the app from
    RISKMODEL_* and loading the champion itself; each prints its ready line with its pid."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    port = free_port()
    env = dict(
        os.environ,
        RISKMODEL_DB_URL=service["settings"].db_url,
        RISKMODEL_MODEL_URI=service["settings"].model_uri,
    )
    riskmodel = Path(sys.executable).parent / "riskmodel"
    proc = subprocess.Popen(
        [str(riskmodel), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=service["root"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        # two processes each import the stack and warm two models: slow on a loaded machine
        wait_for(
            lambda: (
                sum("ready:" in ln for ln in lines) >= 2 or any("not ready" in ln for ln in lines)
            ),
            300,
            "two ready workers",
        )
        assert not any("not ready" in ln for ln in lines), lines
        with httpx.Client(base_url=base, headers=auth(service, "county"), timeout=30) as c:
            for _ in range(20):
                r = c.post("/v1/scores", json={"records": [EXAMPLE_RECORD]})
                assert r.status_code == 200, r.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    ready = [ln for ln in lines if ln.startswith("ready:")]
    assert any(ln.startswith(f"starting the API at {base}") for ln in lines)
    assert all(f"{base} serves model version {service['logged'].version}" in ln for ln in ready)
    assert len({ln.rsplit("pid ", 1)[1] for ln in ready}) == 2


def test_a_household_listed_for_data_checks_is_served_as_such(service, training_county, tmp_path):
    import pandas as pd

    from riskmodel.registry import load_model

    panel = pd.read_parquet(training_county / "panel.parquet")
    i = panel.index[panel["year"] == 2025][0]
    panel.loc[i, "head_age"] = 500
    panel.to_parquet(tmp_path / "panel.parquet")
    hh, village = panel.loc[i, "hh_id"], panel.loc[i, "village_id"]
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    model, meta = load_model(service["settings"].model_uri)
    run_batch(tmp_path, tmp_path / "scores", db_url, model, meta["version"], meta["run_id"])
    key = create_key(engine_for(db_url), "county")[0]
    settings = service["settings"].model_copy(update={"db_url": db_url})

    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        one = client.get(f"/v1/households/{hh}", headers=headers)
        listed = client.get(f"/v1/villages/{village}/worklist?limit=1", headers=headers)

    assert one.status_code == 200, one.text
    body = one.json()
    assert (body["status"], body["probability"], body["tier"]) == ("data_check", None, None)
    assert body["data_check"] == "2025 head_age: at most 120"
    assert body["reasons"] == [] and body["on_worklist"] is True
    assert listed.status_code == 200, listed.text
    entries = {e["hh_id"]: e for e in listed.json()["households"]}
    assert entries[hh]["status"] == "data_check" and entries[hh]["probability"] is None
    assert entries[hh]["reasons_zh"] == "数据待核实：head_age: at most 120"


def _fresh_store(service, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(engine_for(db_url), "county")[0]
    settings = service["settings"].model_copy(update={"db_url": db_url})
    return db_url, settings, {"Authorization": f"Bearer {key}"}


def test_reads_serve_the_batch_of_the_model_in_service(service, training_county, tmp_path):
    import pandas as pd

    from riskmodel.registry import load_model

    db_url, settings, headers = _fresh_store(service, tmp_path)
    model, meta = load_model(settings.model_uri)
    panel = pd.read_parquet(training_county / "panel.parquet")
    villages = sorted(panel["village_id"].unique())
    (tmp_path / "part").mkdir()
    panel[panel["village_id"] == villages[0]].to_parquet(tmp_path / "part" / "panel.parquet")
    served = run_batch(tmp_path / "part", tmp_path / "s", db_url, model, meta["version"], "r1")
    run_batch(training_county, tmp_path / "o", db_url, model, "99", "r99")  # scored later
    own = served.rows["hh_id"].iloc[0]
    other = panel.loc[panel["village_id"] == villages[1], "hh_id"].iloc[0]

    with TestClient(create_app(settings)) as client:
        mine = client.get(f"/v1/households/{own}", headers=headers).json()
        theirs = client.get(f"/v1/households/{other}", headers=headers).json()
        listed = client.get(f"/v1/villages/{villages[0]}/worklist", headers=headers).json()
        elsewhere = client.get(f"/v1/villages/{villages[1]}/worklist", headers=headers).json()

    version = meta["version"]
    assert (mine["model_version"], mine["service_model_version"], mine["note"]) == (
        version,
        version,
        None,
    )
    assert theirs["model_version"] == "99" and theirs["service_model_version"] == version
    assert theirs["note"].startswith(f"scored by model v99; the service runs v{version}")
    assert listed["model_version"] == version and listed["note"] is None
    assert elsewhere["model_version"] == "99" and "v99" in elsewhere["note"]


def test_a_preview_run_changes_nothing_the_api_serves(service, training_county, tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app as cli
    from riskmodel.registry import load_model
    from riskmodel.store import preview_scores, read_batch, score_runs

    db_url, settings, headers = _fresh_store(service, tmp_path)
    model, meta = load_model(settings.model_uri)
    run_batch(
        training_county,
        tmp_path / "out",
        db_url,
        model,
        meta["version"],
        "r1",
        model_alias="champion",
    )
    engine = engine_for(db_url)
    before = read_batch(engine, 2025, meta["version"])
    hh = before["hh_id"].iloc[0]
    pinned = f"models:/{NAME}/{meta['version']}"  # the same model by another name: a preview

    run = CliRunner().invoke(
        cli,
        [
            "score",
            "--data",
            str(training_county),
            "--out",
            str(tmp_path / "out"),
            "--model-uri",
            pinned,
        ],
        env={"RISKMODEL_DB_URL": db_url, "RISKMODEL_MODEL_URI": settings.model_uri},
    )

    assert run.exit_code == 0, run.output
    assert "preview" in run.output and "the API does not serve this batch" in run.output
    after = read_batch(engine, 2025, meta["version"])
    assert after["scored_at"].tolist() == before["scored_at"].tolist()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(preview_scores)).scalar() == len(
            before
        )
    assert (tmp_path / "out" / "preview" / f"scores-2025-v{meta['version']}.parquet").exists()
    runs = score_runs(engine)
    assert runs[["area", "model_alias"]].values.tolist() == [
        ["service", "champion"],
        ["preview", ""],
    ]
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/households/{hh}", headers=headers).json()
    assert body["scored_at"] == before.loc[0, "scored_at"].isoformat()
