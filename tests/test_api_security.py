"""Hardening of the API: scopes that leak nothing, bounded key cache, revocation, rate limits,
chunked bodies, clear messages for bad input, version-pinned loads, batched scoring."""

import asyncio
import json
import secrets
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from riskmodel.api import create_app
from riskmodel.api.lifecycle import ModelHolder, pinned_uri
from riskmodel.api.limits import RateLimiter
from riskmodel.api.schemas import EXAMPLE_RECORD
from riskmodel.api.security import KeyError_, KeyRing, create_key, list_keys, revoke_key
from riskmodel.store import api_keys

from .test_api import a_household, a_village, api, auth  # noqa: F401

pytestmark = pytest.mark.usefixtures("service_env")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# --- scopes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["households", "villages"])
def test_out_of_scope_answer_is_the_same_for_existing_and_unknown_ids(api, service, kind):  # noqa: F811
    h = auth(service, "township")
    if kind == "households":
        existing, unknown = a_household(service, service["other"]), "H999999"
        urls = [f"/v1/households/{existing}", f"/v1/households/{unknown}"]
    else:
        existing, unknown = a_village(service, service["other"]), "V999"
        urls = [f"/v1/villages/{existing}/worklist", f"/v1/villages/{unknown}/worklist"]

    other, missing = (api.get(u, headers=h) for u in urls)

    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()
    assert existing not in other.text and unknown not in missing.text


def test_county_key_still_gets_404_for_unknown_ids(api, service):  # noqa: F811
    h = auth(service, "county")

    assert api.get("/v1/households/H999999", headers=h).status_code == 404
    assert api.get("/v1/villages/V999/worklist", headers=h).status_code == 404


# --- keys: cache, revocation, creation -------------------------------------------------------------


def test_unknown_key_ids_never_enter_the_cache(service):
    ring = KeyRing(service["engine"], ttl_s=60, size=100)

    for _ in range(2000):
        assert ring.verify(f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(8)}") is None
    ring.verify(service["keys"]["county"].replace("_", "_x", 1))  # right shape, wrong id

    assert len(ring) == 0


def test_cache_holds_at_most_size_verified_keys(service):
    engine = service["engine"]
    ring = KeyRing(engine, ttl_s=60, size=3)
    fresh = [create_key(engine, "county")[0] for _ in range(5)]

    assert all(ring.verify(k) is not None for k in fresh)
    assert len(ring) == 3
    assert ring.cached(fresh[-1]) is not None and ring.cached(fresh[0]) is None


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(service):
    engine, clock = service["engine"], Clock()
    ring = KeyRing(engine, ttl_s=10, clock=clock)
    key, key_id = create_key(engine, "county")
    assert ring.verify(key).key_id == key_id

    assert revoke_key(engine, key_id) is True
    clock.t += 9.9
    still = ring.verify(key)  # within the stated bound the cached verdict may stand
    clock.t += 0.2
    after = ring.verify(key)

    assert still is not None and after is None
    assert revoke_key(engine, key_id) is False  # already revoked


def test_a_revoked_key_gets_401_from_a_server_without_a_cache(service):
    key, key_id = create_key(service["engine"], "county")
    settings = service["settings"].model_copy(update={"key_cache_ttl_s": 0})
    with TestClient(create_app(settings)) as c:
        url = f"/v1/households/{a_household(service, service['own'])}"
        before = c.get(url, headers={"Authorization": f"Bearer {key}"})
        revoke_key(service["engine"], key_id)
        after = c.get(url, headers={"Authorization": f"Bearer {key}"})

    assert before.status_code == 200
    assert after.status_code == 401 and "revoked" in after.json()["detail"]


def test_revoking_an_unknown_key_says_so(service):
    with pytest.raises(KeyError_, match="no API key with id 'nope'"):
        revoke_key(service["engine"], "nope")


def test_list_keys_shows_roles_and_states_but_no_secrets(service):
    key, key_id = create_key(service["engine"], "township", service["own"])
    revoke_key(service["engine"], key_id)

    listed = {k.key_id: k for k in list_keys(service["engine"])}

    assert listed[key_id].role == "township" and listed[key_id].township_id == service["own"]
    assert listed[key_id].revoked is True
    secret = key.split("_", 2)[2]  # the secret itself may contain "_"
    assert key not in repr(listed) and secret not in repr(listed)


@pytest.mark.parametrize(
    ("role", "township", "message"),
    [
        ("township", "T99", "township 'T99' does not exist"),
        ("township", None, "needs --township"),
        ("county", "T01", "only township keys"),
        ("root", None, "role must be one of"),
    ],
)
def test_key_creation_is_validated(service, role, township, message):
    engine = service["engine"]
    known = set(service["rows"]["township_id"])
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar()

    with pytest.raises(KeyError_, match=message):
        create_key(engine, role, township, known)

    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar() == before


# --- rate limits -----------------------------------------------------------------------------------


def test_rate_limiter_refills_and_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(rate=2, burst_s=1, clients=10, clock=clock)

    got = [limiter.take("a") for _ in range(3)]
    clock.t += 0.5
    refilled = limiter.take("a")
    for i in range(100):
        limiter.take(f"addr{i}")

    assert got[:2] == [0, 0] and got[2] == pytest.approx(0.5)
    assert refilled == 0
    assert len(limiter) == 10


@pytest.mark.parametrize("which", ["rate_per_key", "rate_per_address"])
def test_over_the_rate_limit_gets_429_with_retry_after(service, which):
    settings = service["settings"].model_copy(update={which: 0.01, "rate_burst_s": 200})
    h = auth(service, "county")
    with TestClient(create_app(settings)) as c:
        got = [
            c.post("/v1/scores", json={"records": [EXAMPLE_RECORD]}, headers=h) for _ in range(3)
        ]

    assert [r.status_code for r in got] == [200, 200, 429]
    assert int(got[2].headers["retry-after"]) == 100  # one token at 0.01 per second
    assert "retry" in got[2].json()["detail"] or "rate limit" in got[2].json()["detail"]


# --- bodies and messages ---------------------------------------------------------------------------


def _chunks(payload: bytes, size: int = 65536):
    for i in range(0, len(payload), size):
        yield payload[i : i + size]


def test_chunked_body_over_the_limit_gets_413(api, service):  # noqa: F811
    big = b'{"records": [' + b" " * 3_000_000 + b"]}"

    r = api.post(
        "/v1/scores",
        content=_chunks(big),
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    assert r.status_code == 413
    assert "larger than the limit of 2,000,000 bytes" in r.json()["detail"]


def test_chunked_body_within_the_limit_is_scored(api, service):  # noqa: F811
    body = json.dumps({"records": [EXAMPLE_RECORD] * 3}).encode()

    r = api.post(
        "/v1/scores",
        content=_chunks(body, 500),
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 3


def test_too_large_body_says_how_to_split_it(api, service):  # noqa: F811
    body = json.dumps({"records": [EXAMPLE_RECORD] * 1000}, indent=4).encode()
    assert len(body) > 2_000_000  # 1,000 pretty-printed records

    r = api.post(
        "/v1/scores",
        content=body,
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    detail = r.json()["detail"]
    assert r.status_code == 413
    assert "split it into at least 2 requests" in detail
    assert "compact" in detail and "records per request" in detail
    compact = json.dumps({"records": [EXAMPLE_RECORD] * 1000}).encode()
    assert len(compact) <= 2_000_000  # the advice holds: compact JSON fits


def test_malformed_json_names_the_position(api, service):  # noqa: F811
    text = '{"records": [\n  {"hh_id": "H1",, }\n]}'

    r = api.post(
        "/v1/scores",
        content=text,
        headers={**auth(service, "county"), "content-type": "application/json"},
    )

    with pytest.raises(json.JSONDecodeError) as ref:  # Python's own parser as the reference
        json.loads(text)
    assert r.status_code == 422
    msg = r.json()["detail"][0]["msg"]
    where = f"line {ref.value.lineno}, column {ref.value.colno} (character {ref.value.pos + 1})"
    assert (ref.value.lineno, ref.value.colno) == (2, 18)
    assert msg == f"malformed JSON at {where}: {ref.value.msg}"


@pytest.mark.parametrize(
    ("field", "value", "sent"),
    [
        ("hh_size", "4", "a string was sent"),
        ("relocated", "no", "a string was sent"),
        ("net_income_pc", True, "a boolean was sent"),
        ("hh_id", 123, "a number was sent"),
    ],
)
def test_type_mismatch_says_what_was_sent(api, service, field, value, sent):  # noqa: F811
    r = api.post(
        "/v1/scores",
        json={"records": [{**EXAMPLE_RECORD, field: value}]},
        headers=auth(service, "county"),
    )

    assert r.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in r.json()["detail"]}
    assert sent in errors[("body", "records", 0, field)]


@pytest.mark.parametrize("bad", ["H00\x001", "H\u202e100", "H1\u200b", "V\n1"])
def test_control_characters_are_refused_in_identifiers(api, service, bad):  # noqa: F811
    h = auth(service, "county")

    posted = api.post("/v1/scores", json={"records": [{**EXAMPLE_RECORD, "hh_id": bad}]}, headers=h)
    got = api.get(f"/v1/households/{quote(bad)}", headers=h)

    assert posted.status_code == 422
    assert posted.json()["detail"][0]["loc"] == ["body", "records", 0, "hh_id"]
    assert "control or formatting characters" in posted.json()["detail"][0]["msg"]
    assert bad not in posted.text
    assert got.status_code in (404, 422) and bad not in got.text
    if got.status_code == 422:
        assert got.json()["detail"][0]["loc"] == ["path", "hh_id"]


# --- model loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "version", "pinned"),
    [
        ("models:/m@champion", "3", "models:/m/3"),
        ("models:/m/3", "3", "models:/m/3"),
        ("models:/relapse-risk@challenger", "12", "models:/relapse-risk/12"),
        ("runs:/abc/model", "", "runs:/abc/model"),
    ],
)
def test_pinned_uri(uri, version, pinned):
    assert pinned_uri(uri, version) == pinned


@pytest.mark.parametrize("uri", ["models:/m/3", "models:/m@champion"])
def test_after_a_failed_first_load_exactly_the_resolved_version_is_loaded(uri):
    loads: list[str] = []

    def loader(u):
        loads.append(u)
        if len(loads) == 1:
            raise OSError("store unreachable")
        return object(), {"version": "3", "run_id": "r"}

    holder = ModelHolder(uri, loader, lambda _: "3", lambda _: None)
    holder.load()
    assert holder.current is None and "store unreachable" in holder.last_error

    status, previous = holder.reload()

    assert loads == ["models:/m/3", "models:/m/3"]
    assert (status, previous, holder.current.version) == ("swapped", None, "3")


def test_load_model_downloads_the_version_it_resolved(service, monkeypatch):
    """The alias is resolved once and that version's files are read, not the alias again."""
    import mlflow

    from riskmodel import registry

    seen = []
    real = mlflow.artifacts.download_artifacts

    def spy(artifact_uri, **kw):
        seen.append(artifact_uri)
        return real(artifact_uri=artifact_uri, **kw)

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", spy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{service['root'] / 'mlflow.db'}")
    version = service["logged"].version

    _, meta = registry.load_model("models:/relapse-risk@champion")

    assert seen == [f"models:/relapse-risk/{version}"] and meta["version"] == version


# --- scoring off the event loop --------------------------------------------------------------------


def test_concurrent_requests_are_scored_together_with_identical_results(service):
    """Many single-record requests at once: fewer scoring calls than requests, and each answer
    equals the one the same record gets alone."""
    import httpx2 as httpx

    def at_ratio(ratio: float, i: int) -> dict:
        """The example household's facts against a line that gives it this income ratio."""
        r = EXAMPLE_RECORD
        spend = (r["oop_medical"] + r["edu_spend"]) / r["hh_size"] * ratio / r["net_income_pc"]
        return {
            **r,
            "hh_id": f"H{i:06d}",
            "income_to_line": ratio,
            "income_to_line_change": ratio - r["income_to_line_lag1"],
            "rigid_spend_to_line": spend,
            "rigid_income_to_line": ratio - spend,
            "market_income_to_line": ratio * (1 - r["transfer_share"]),
            "transfer_to_line": ratio * r["transfer_share"],
        }

    records = [at_ratio(1.2 + 0.03 * i, i) for i in range(24)]
    app = create_app(service["settings"])
    h = auth(service, "county")

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            alone = []
            for rec in records:
                r = await c.post("/v1/scores", json={"records": [rec]}, headers=h)
                assert r.status_code == 200, r.text
                alone.append(r.json()["results"][0])
            before = app.state.scorer.batches
            together = await asyncio.gather(
                *(c.post("/v1/scores", json={"records": [rec]}, headers=h) for rec in records)
            )
            return (
                alone,
                [r.json()["results"][0] for r in together],
                app.state.scorer.batches - before,
            )

    with TestClient(app):  # lifespan: load and warm the model
        alone, together, calls = asyncio.run(scenario())

    assert together == alone
    assert len({(r["status"], r["probability"]) for r in alone}) >= 4  # the records differ
    assert calls < len(records)
    # every scoring call is on the metrics, with its records
    samples = {
        s.name: s.value for m in app.state.metrics.batch_records.collect() for s in m.samples
    }
    assert samples["riskmodel_scoring_batch_records_count"] == app.state.scorer.batches
    assert samples["riskmodel_scoring_batch_records_sum"] == 2 * len(records)


def test_a_refused_record_fails_only_its_own_request_in_a_merged_batch(service):
    """Records are checked once per merged batch: a request whose record breaks a rule gets 422
    naming its own row, and the requests merged with it are scored as if alone."""
    import httpx2 as httpx

    good = [{**EXAMPLE_RECORD, "hh_id": f"H{i:06d}"} for i in range(6)]
    bad = {**EXAMPLE_RECORD, "hh_id": "H999999", "labour_total": 7}
    app = create_app(service["settings"])
    h = auth(service, "county")

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            alone = await c.post("/v1/scores", json={"records": good[:1]}, headers=h)
            before = app.state.scorer.batches
            answers = await asyncio.gather(
                *(c.post("/v1/scores", json={"records": [r]}, headers=h) for r in good[:3]),
                c.post("/v1/scores", json={"records": [good[3], bad]}, headers=h),
                *(c.post("/v1/scores", json={"records": [r]}, headers=h) for r in good[4:]),
            )
            return alone, answers, app.state.scorer.batches - before

    with TestClient(app):
        alone, answers, calls = asyncio.run(scenario())

    refused = answers[3]
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "records", 1, "labour_total"]]
    scored = [a for i, a in enumerate(answers) if i != 3]
    assert all(a.status_code == 200 for a in scored)
    assert [a.json()["results"][0]["hh_id"] for a in scored] == [
        r["hh_id"] for r in good[:3] + good[4:]
    ]
    first = scored[0].json()["results"][0]
    assert first["probability"] == alone.json()["results"][0]["probability"]
    assert calls < len(answers)


# --- operator commands -----------------------------------------------------------------------------


def test_keys_commands_create_list_and_revoke(service, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from riskmodel.cli import app as cli

    monkeypatch.setenv("RISKMODEL_DB_URL", service["settings"].db_url)
    monkeypatch.chdir(tmp_path)  # no panel here: the store's batch decides which townships exist
    run = CliRunner().invoke

    refused = run(cli, ["keys", "create", "--role", "township", "--township", "T99"])
    made = run(cli, ["keys", "create", "--role", "township", "--township", service["own"]])
    key = made.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    listed = run(cli, ["keys", "list"], terminal_width=200)
    revoked = run(cli, ["keys", "revoke", key_id])
    again = run(cli, ["keys", "revoke", key_id])
    unknown = run(cli, ["keys", "revoke", "nope"])
    listed_after = run(cli, ["keys", "list"], terminal_width=200)

    assert refused.exit_code == 2 and "township 'T99' does not exist" in refused.output
    assert service["own"] in refused.output  # lists the townships that do
    assert made.exit_code == 0 and key.startswith("rk_")
    row = next(ln for ln in listed.output.splitlines() if key_id in ln)
    assert "township" in row and service["own"] in row and "active" in row
    assert key not in listed.output
    assert revoked.exit_code == 0 and "within 10 s" in revoked.output
    assert again.exit_code == 0 and "already revoked" in again.output
    assert unknown.exit_code == 2 and "no API key with id 'nope'" in unknown.output
    assert "revoked" in next(ln for ln in listed_after.output.splitlines() if key_id in ln)
    assert KeyRing(service["engine"]).verify(key) is None
