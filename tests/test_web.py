"""The cadres' web app and visits: accounts, sessions, CSRF, sign-in limits, scopes, pages in
Chinese, visits through the form and the API, kept across re-scoring, exported as a label."""

import html
import re
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskmodel.api import create_app
from riskmodel.api.accounts import AccountError, create_user
from riskmodel.api.limits import RateLimiter
from riskmodel.cli import app as cli
from riskmodel.privacy import mask_name
from riskmodel.store import (
    audit,
    latest_score,
    read_batch,
    replace_batch,
    village_places,
    visits,
)
from riskmodel.visits import visits_table

from .conftest import service_tracking

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.usefixtures("service_env")


@pytest.fixture(scope="module")
def web(service):
    """The app, and one account per scope: the county, the service's own township, one of its
    villages."""
    engine = service["engine"]
    rows = service["rows"]
    own = service["own"]
    village = rows.loc[rows["township_id"] == own, "village_id"].iloc[0]
    places = village_places(engine)
    for name, role, township, vil in (
        ("web-county", "county", None, None),
        ("web-township", "township", own, None),
        ("web-village", "village", None, village),
    ):
        create_user(engine, name, PASSWORD, role, township, vil, places)
    settings = service["settings"].model_copy(update={"sign_in_per_minute": 10_000})
    with service_tracking(service), TestClient(create_app(settings)) as client:
        yield {**service, "client": client, "village": village}


def sign_in(web, name: str) -> TestClient:
    """A fresh client signed in as `name` (its own cookies)."""
    c = TestClient(web["client"].app)
    form = c.get("/app/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = c.post("/app/login", data={"name": name, "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 200, r.text  # followed the redirect to the home page
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def household_of(web, township: str, status: str | None = None) -> str:
    rows = web["rows"]
    sel = rows["township_id"] == township
    if status is not None:
        sel &= rows["status"] == status
    return rows.loc[sel, "hh_id"].iloc[0]


# --- accounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "township", "village", "password", "message"),
    [
        ("mayor", None, None, PASSWORD, "--role must be one of"),
        ("township", None, None, PASSWORD, "needs --township"),
        ("township", "T999", None, PASSWORD, "does not exist"),
        ("village", None, "V-none", PASSWORD, "does not exist"),
        ("county", None, None, "short", "at least 10"),
    ],
)
def test_accounts_that_cannot_be_granted_are_refused(
    web, role, township, village, password, message
):
    places = village_places(web["engine"])
    with pytest.raises(AccountError, match=message):
        create_user(web["engine"], "someone", password, role, township, village, places)


def test_users_create_stores_an_argon2_hash_never_the_password(web, monkeypatch):
    monkeypatch.setenv("RISKMODEL_DB_URL", str(web["settings"].db_url))
    r = CliRunner().invoke(
        cli,
        ["users", "create", "--name", "cli-user", "--role", "township", "--township", web["own"]],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert r.exit_code == 0, r.output
    with web["engine"].connect() as conn:
        stored = conn.execute(
            sa.text("SELECT password_hash, township_id FROM users WHERE name = 'cli-user'")
        ).one()
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert stored.township_id == web["own"]


# --- sign-in, sessions, CSRF ------------------------------------------------------------------


def test_sign_in_sets_an_http_only_same_site_cookie_and_lands_on_the_users_township(web):
    c = TestClient(web["client"].app)
    csrf = csrf_of(c.get("/app/login").text)
    r = c.post(
        "/app/login",
        data={"name": "web-township", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )

    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "rm_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    home = c.get("/app")
    assert home.url.path == f"/app/townships/{web['own']}"
    assert '<html lang="zh-CN">' in home.text and "概览" in home.text


def test_session_cookie_is_secure_over_https(web):
    c = TestClient(web["client"].app, base_url="https://testserver")
    csrf = csrf_of(c.get("/app/login").text)
    r = c.post(
        "/app/login",
        data={"name": "web-county", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_wrong_password_and_unknown_name_get_the_same_answer(web):
    c = TestClient(web["client"].app)
    answers = []
    for name, password in (("web-county", "wrong password!"), ("nobody-here", PASSWORD)):
        csrf = csrf_of(c.get("/app/login").text)
        r = c.post("/app/login", data={"name": name, "password": password, "csrf": csrf})
        answers.append((r.status_code, "用户名或密码不正确" in r.text))
    assert answers == [(401, True), (401, True)]


def test_sign_in_attempts_are_rate_limited_per_account(web, monkeypatch):
    svc = web["client"].app.state.service
    monkeypatch.setattr(svc, "sign_in_per_name", RateLimiter(5 / 60, burst_s=60))
    c = TestClient(web["client"].app)
    codes = []
    for _ in range(7):
        csrf = csrf_of(c.get("/app/login").text)
        r = c.post("/app/login", data={"name": "web-village", "password": "nope" * 3, "csrf": csrf})
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    assert int(r.headers["Retry-After"]) >= 1


def test_forms_without_their_csrf_token_are_refused(web):
    c = sign_in(web, "web-township")
    hh = household_of(web, web["own"])
    anonymous = TestClient(web["client"].app)
    anonymous.get("/app/login")

    login = anonymous.post("/app/login", data={"name": "web-township", "password": PASSWORD})
    visit = c.post(f"/app/households/{hh}/visit", data={"verification": "confirmed"})
    forged = c.post(f"/app/households/{hh}/visit", data={"csrf": "forged"})
    logout = c.post("/app/logout")

    assert [r.status_code for r in (login, visit, forged, logout)] == [403] * 4
    assert "CSRF" in visit.text
    assert c.get("/app").status_code == 200  # still signed in


def test_sign_out_ends_the_session(web):
    c = sign_in(web, "web-county")
    page = c.get("/app/county")
    c.post("/app/logout", data={"csrf": csrf_of(page.text)})

    r = c.get("/app/county", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/login"


def test_pages_need_a_session(web):
    r = TestClient(web["client"].app).get(f"/app/villages/{web['village']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/login"


# --- scopes and pages ---------------------------------------------------------------------------


def test_township_user_sees_its_township_only(web):
    c = sign_in(web, "web-township")
    other_village = web["rows"].loc[web["rows"]["township_id"] == web["other"], "village_id"]

    own = c.get(f"/app/townships/{web['own']}")
    refused = [
        c.get(f"/app/townships/{web['other']}"),
        c.get(f"/app/villages/{other_village.iloc[0]}"),
        c.get(f"/app/households/{household_of(web, web['other'])}"),
        c.get("/app/households/H-does-not-exist"),
        c.get("/app/county"),
    ]

    assert own.status_code == 200
    villages = set(web["rows"].loc[web["rows"]["township_id"] == web["own"], "village_id"])
    shown = set(re.findall(r'href="/app/villages/([^"]+)"', own.text))
    assert shown == villages
    assert [r.status_code for r in refused] == [403] * 5
    assert all("只能查看乡镇" in r.text for r in refused)


def test_village_user_sees_its_village_only(web):
    c = sign_in(web, "web-village")
    rows = web["rows"]
    same_township = rows.loc[
        (rows["township_id"] == web["own"]) & (rows["village_id"] != web["village"]), "hh_id"
    ]

    assert c.get("/app").url.path == f"/app/villages/{web['village']}"
    assert c.get(f"/app/townships/{web['own']}").status_code == 403
    assert c.get(f"/app/households/{same_township.iloc[0]}").status_code == 403


def test_village_worklist_filters_by_status_and_tier(web):
    c = sign_in(web, "web-county")
    village = web["village"]
    stored = read_batch(web["engine"], int(web["rows"]["year"].iloc[0]), web["logged"].version)
    mine = stored[stored["village_id"] == village]

    def listed(query: str) -> set[str]:
        page = c.get(f"/app/villages/{village}?{query}")
        assert page.status_code == 200
        return set(re.findall(r'href="/app/households/([^"]+)"', page.text))

    assert listed("show=all") == set(mine["hh_id"])
    assert listed("") == set(mine.loc[mine["on_worklist"], "hh_id"])
    assert listed("show=all&tier=red") == set(mine.loc[mine["tier"] == "red", "hh_id"])
    assert listed("show=all&status=not_monitored") == set(
        mine.loc[mine["status"] == "not_monitored", "hh_id"]
    )


def test_household_card_shows_status_reasons_chart_history_and_is_audited(web):
    c = sign_in(web, "web-township")
    hh = household_of(web, web["own"])
    with web["engine"].connect() as conn:
        before = conn.execute(
            sa.select(sa.func.count())
            .select_from(audit)
            .where(audit.c.hh_id == hh, audit.c.user_id.is_not(None))
        ).scalar()

    page = c.get(f"/app/households/{hh}")

    assert page.status_code == 200
    for heading in ("监测状态与风险", "符合的纳入条件", "主要风险原因", "历年评分", "核实走访记录"):
        assert heading in page.text
    assert "<svg" in page.text and 'role="img"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    with web["engine"].connect() as conn:
        after = conn.execute(
            sa.select(audit.c.endpoint, audit.c.key_id).where(
                audit.c.hh_id == hh, audit.c.user_id.is_not(None)
            )
        ).all()
    assert len(after) == before + 1 and after[-1] == ("/app/households/{hh_id}", None)


def test_household_card_says_when_a_household_is_unusual(web):
    c = sign_in(web, "web-county")
    rows = web["rows"]
    unusual = rows[rows["unusual"]].iloc[0]
    ordinary = rows[~rows["unusual"] & rows["probability"].notna()].iloc[0]

    flagged = c.get(f"/app/households/{unusual['hh_id']}").text
    plain = c.get(f"/app/households/{ordinary['hh_id']}").text

    assert "该户情况少见，评分仅供参考" in flagged
    assert html.escape(unusual["unusual_zh"].split("；")[0]) in flagged
    assert "该户情况少见" not in plain
    village = c.get(f"/app/villages/{unusual['village_id']}?show=all").text
    assert "该户情况少见，评分仅供参考" in village
    low, high = ordinary["probability_low"], ordinary["probability_high"]
    assert f"（90%区间 {low * 100:.1f}%–{high * 100:.1f}%）" in plain


def test_card_and_village_page_show_the_head_masked_never_the_full_name(web, training_county):
    c = sign_in(web, "web-township")
    hh = household_of(web, web["own"])
    panel = pd.read_parquet(
        training_county / "panel.parquet", columns=["hh_id", "year", "head_name"]
    )
    full = panel[panel["year"] == 2025].set_index("hh_id")["head_name"]
    village = web["rows"].set_index("hh_id").loc[hh, "village_id"]

    card = c.get(f"/app/households/{hh}").text
    page = c.get(f"/app/villages/{village}?show=all").text

    masked = mask_name(full[hh])
    assert "*" in masked and f"<dt>户主</dt><dd>{masked}</dd>" in card
    assert f'<td data-label="户主">{masked}</td>' in page
    for text in (card, page):
        assert not any(name in text for name in full)


# --- visits -------------------------------------------------------------------------------------


def test_visit_recorded_in_the_form_appears_on_the_card_in_the_store_and_the_api(web):
    c = sign_in(web, "web-township")
    hh = household_of(web, web["own"], "not_monitored")
    form = c.get(f"/app/households/{hh}/visit")
    assert form.status_code == 200 and 'for="cadre"' in form.text

    r = c.post(
        f"/app/households/{hh}/visit",
        data={
            "csrf": csrf_of(form.text),
            "visited_on": date.today().isoformat(),
            "cadre": "黄干部",
            "verification": "confirmed",
            "outcome": "enrolled",
            "risk_types": ["illness", "labour"],
            "measures": ["健康帮扶", "医疗救助"],
            "note": "户主住院，已申请医疗救助",
        },
    )

    assert r.status_code == 200 and r.url.path == f"/app/households/{hh}"
    assert "黄干部" in r.text and "风险属实" in r.text and "纳入监测" in r.text
    with web["engine"].connect() as conn:
        stored = conn.execute(sa.select(visits).where(visits.c.hh_id == hh)).mappings().all()
    assert len(stored) == 1
    assert stored[0]["measures"] == "健康帮扶,医疗救助" and stored[0]["user_id"] is not None
    api = web["client"].get(
        f"/v1/households/{hh}/visits",
        headers={"Authorization": f"Bearer {web['keys']['county']}"},
    )
    assert api.status_code == 200
    assert [v["cadre"] for v in api.json()["visits"]] == ["黄干部"]
    rows = web["rows"]
    village = rows.loc[rows["hh_id"] == hh, "village_id"].iloc[0]
    listed = c.get(f"/app/villages/{village}?show=all").text
    assert f"{date.today().isoformat()} 风险属实，纳入监测" in listed


def test_visit_form_errors_name_the_field_in_chinese_and_keep_the_input(web):
    c = sign_in(web, "web-township")
    hh = household_of(web, web["own"], "not_monitored")
    form = c.get(f"/app/households/{hh}/visit")

    r = c.post(
        f"/app/households/{hh}/visit",
        data={
            "csrf": csrf_of(form.text),
            "visited_on": (date.today() + timedelta(days=3)).isoformat(),
            "cadre": "李干部",
            "outcome": "enrolled",
            "risk_eliminated": "yes",
            "note": "记" * 501,
        },
    )

    assert r.status_code == 422
    assert "日期：不能晚于今天" in r.text
    assert "核实情况：请选择一项" in r.text
    assert "备注：过长（最多 500 字）" in r.text
    assert 'value="李干部"' in r.text


def test_api_visit_is_validated_by_field_and_scoped(web):
    county = {"Authorization": f"Bearer {web['keys']['county']}"}
    township = {"Authorization": f"Bearer {web['keys']['township']}"}
    mine = household_of(web, web["own"], "not_monitored")
    other = household_of(web, web["other"])
    visit = {
        "visited_on": date.today().isoformat(),
        "cadre": "cadre A",
        "verification": "not_confirmed",
        "outcome": "not_enrolled",
    }
    c = web["client"]

    ok = c.post(f"/v1/households/{mine}/visits", json=visit, headers=township)
    eliminated = c.post(
        f"/v1/households/{mine}/visits", json={**visit, "risk_eliminated": True}, headers=county
    )
    bad_type = c.post(
        f"/v1/households/{mine}/visits", json={**visit, "risk_types": ["laziness"]}, headers=county
    )
    out_of_scope = c.post(f"/v1/households/{other}/visits", json=visit, headers=township)
    admin = c.post(
        f"/v1/households/{mine}/visits",
        json=visit,
        headers={"Authorization": f"Bearer {web['keys']['admin']}"},
    )

    assert ok.status_code == 201, ok.text
    assert ok.json()["year"] == int(web["rows"]["year"].iloc[0])
    assert eliminated.status_code == 422
    assert eliminated.json()["detail"][0]["loc"] == ["body", "risk_eliminated"]
    assert bad_type.status_code == 422 and bad_type.json()["detail"][0]["loc"] == [
        "body",
        "risk_types",
    ]
    assert out_of_scope.status_code == 403 and admin.status_code == 403


def test_visits_are_kept_when_the_batch_is_scored_again(web):
    hh = household_of(web, web["own"], "not_monitored")
    c = web["client"]
    county = {"Authorization": f"Bearer {web['keys']['county']}"}
    c.post(
        f"/v1/households/{hh}/visits",
        json={
            "visited_on": date.today().isoformat(),
            "cadre": "kept",
            "verification": "confirmed",
            "outcome": "enrolled",
        },
        headers=county,
    )
    year, version = int(web["rows"]["year"].iloc[0]), web["logged"].version
    batch = read_batch(web["engine"], year, version)

    features = latest_score(web["engine"], hh)["features"]

    replace_batch(web["engine"], batch, year, version, "run-again", features)

    listed = c.get(f"/v1/households/{hh}/visits", headers=county).json()["visits"]
    assert "kept" in [v["cadre"] for v in listed]


def test_visits_export_gives_verified_risk_per_household_and_year(web, tmp_path, monkeypatch):
    county = {"Authorization": f"Bearer {web['keys']['county']}"}
    rows = web["rows"]
    hh = rows.loc[rows["status"] == "not_monitored", "hh_id"].iloc[-1]
    today = date.today()
    for days, verification in ((5, "confirmed"), (1, "not_confirmed")):
        web["client"].post(
            f"/v1/households/{hh}/visits",
            json={
                "visited_on": (today - timedelta(days=days)).isoformat(),
                "cadre": "x",
                "verification": verification,
                "outcome": "not_enrolled",
            },
            headers=county,
        )
    monkeypatch.setenv("RISKMODEL_DB_URL", str(web["settings"].db_url))

    r = CliRunner().invoke(cli, ["visits", "export", "--out", str(tmp_path / "v.parquet")])

    assert r.exit_code == 0, r.output and "not a random sample" in r.output
    table = pd.read_parquet(tmp_path / "v.parquet")
    mine = table[table["hh_id"] == hh]
    assert len(mine) == 1 and mine["visits"].iloc[0] == 2
    assert not bool(mine["verified_risk"].iloc[0])  # the latest visit decides
    assert table.equals(visits_table(web["engine"]).astype(table.dtypes.to_dict()))
