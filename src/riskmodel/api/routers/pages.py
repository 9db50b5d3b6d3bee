"""The cadres' web app under /app (Chinese, server-rendered): sign-in, township overview, village
worklist, household card and the visit form. Pages use the same store reads, scopes and audit as
the JSON API; forms carry CSRF tokens."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from riskmodel.api.accounts import authenticate, end_session, start_session
from riskmodel.api.deps import ServiceDep
from riskmodel.api.limits import retry_after
from riskmodel.api.schemas import criteria_list
from riskmodel.api.security import Principal, write_audit
from riskmodel.api.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Forbidden,
    SignedIn,
    check_csrf,
    new_token,
    render,
    secure,
)
from riskmodel.catalogue import RISK_TYPES
from riskmodel.criteria import STATUSES
from riskmodel.reasons import item_from_stored
from riskmodel.store import latest_score, score_history, township_overview, village_worklist
from riskmodel.visits import (
    VisitIn,
    VisitRefused,
    measure_names,
    record_visit,
    visits_by_household,
    visits_of,
)
from riskmodel.worklist import TIER_ZH

router = APIRouter(prefix="/app", include_in_schema=False)

FIELD_ZH = {
    "visited_on": "日期",
    "cadre": "核实人",
    "verification": "核实情况",
    "outcome": "处置结果",
    "risk_types": "发现的风险类型",
    "measures": "商定的帮扶措施",
    "risk_eliminated": "风险是否消除",
    "note": "备注",
}


def _refuse_scope(who: Principal) -> Forbidden:
    """The same answer whether or not the page exists elsewhere."""
    where = {"village": f"村 {who.village_id}", "township": f"乡镇 {who.township_id}"}
    return Forbidden(f"您的账号只能查看{where.get(who.role, '本县')}的数据。")


def _home(who: Principal) -> str:
    if who.role == "village":
        return f"/app/villages/{who.village_id}"
    if who.role == "township":
        return f"/app/townships/{who.township_id}"
    return "/app/county"


@router.get("")
def home(user: SignedIn) -> RedirectResponse:
    return RedirectResponse(_home(user.principal), status_code=303)


@router.get("/login")
def sign_in_form(request: Request, error: str | None = None, status_code: int = 200):
    token = new_token()
    response = render(request, "login.html", status_code, csrf=token, error=error)
    response.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=secure(request)
    )
    return response


@router.post("/login")
def sign_in(
    request: Request,
    svc: ServiceDep,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
):
    check_csrf(csrf, request.cookies.get(SIGN_IN_COOKIE, ""))
    address = request.client.host if request.client else "unknown"
    wait = max(svc.sign_in_per_name.take(name.strip()), svc.sign_in_per_address.take(address))
    if wait > 0:
        response = sign_in_form(
            request, f"登录尝试过于频繁，请 {retry_after(wait)} 秒后再试。", status_code=429
        )
        response.headers["Retry-After"] = retry_after(wait)
        return response
    user_id = authenticate(svc.engine, name, password)
    if user_id is None:
        return sign_in_form(request, "用户名或密码不正确。", status_code=401)
    token = start_session(svc.engine, user_id, svc.settings.session_hours)
    response = RedirectResponse("/app", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(svc.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/app",
    )
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.post("/logout")
def sign_out(
    request: Request, svc: ServiceDep, user: SignedIn, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_csrf(csrf, user.csrf_token)
    end_session(svc.engine, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/app/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/app")
    return response


@router.get("/county")
def county(request: Request, svc: ServiceDep, user: SignedIn):
    if user.principal.role != "county":
        raise _refuse_scope(user.principal)
    return _overview(request, svc, user, None)


@router.get("/townships/{township_id}")
def township(request: Request, svc: ServiceDep, user: SignedIn, township_id: str):
    if user.principal.role == "village" or not user.principal.can_read(township_id):
        raise _refuse_scope(user.principal)
    return _overview(request, svc, user, township_id)


def _overview(request: Request, svc, user, township_id: str | None):
    villages = township_overview(svc.engine, township_id, svc.version_in_service())
    write_audit(svc.engine, user.principal, "/app/townships/{township_id}")
    return render(
        request,
        "overview.html",
        user=user,
        township_id=township_id,
        villages=villages,
        statuses=list(STATUSES),
        tiers=[t for t in TIER_ZH if t != "verify"],
    )


@router.get("/villages/{village_id}")
def village(
    request: Request,
    svc: ServiceDep,
    user: SignedIn,
    village_id: str,
    status: Annotated[str | None, Query(max_length=20)] = None,
    tier: Annotated[str | None, Query(max_length=10)] = None,
    show: Annotated[str, Query(pattern="^(worklist|all)$")] = "worklist",
):
    rows = village_worklist(svc.engine, village_id, prefer_version=svc.version_in_service())
    if not rows or not user.principal.can_read(rows[0]["township_id"], village_id):
        raise _refuse_scope(user.principal)
    write_audit(
        svc.engine,
        user.principal,
        "/app/villages/{village_id}",
        village_id=village_id,
        model_version=rows[0]["model_version"],
    )
    shown = [
        r
        for r in rows
        if (show == "all" or r["on_worklist"])
        and (not status or r["status"] == status)
        and (not tier or r["tier"] == tier)
    ]
    return render(
        request,
        "village.html",
        user=user,
        village_id=village_id,
        township_id=rows[0]["township_id"],
        year=rows[0]["year"],
        rows=shown,
        visited=visits_by_household(svc.engine, village_id),
        total=len(rows),
        listed=sum(1 for r in rows if r["on_worklist"]),
        filters={"status": status or "", "tier": tier or "", "show": show},
        statuses=list(STATUSES),
        tiers=[t for t in TIER_ZH if t != "verify"],
    )


def _household(svc, user: SignedIn, hh_id: str) -> dict:
    row = latest_score(svc.engine, hh_id, prefer_version=svc.version_in_service())
    if row is None or not user.principal.can_read(row["township_id"], row["village_id"]):
        raise _refuse_scope(user.principal)
    return row


@router.get("/households/{hh_id}")
def household(request: Request, svc: ServiceDep, user: SignedIn, hh_id: str):
    row = _household(svc, user, hh_id)
    write_audit(
        svc.engine,
        user.principal,
        "/app/households/{hh_id}",
        hh_id=hh_id,
        model_version=row["model_version"],
    )
    item = item_from_stored(row["reasons_json"], row["contributions"], row["features"])
    bars = [(r["label_zh"], r["contribution"]) for r in item["reasons"]]
    bars += [(p["text_zh"], p["contribution"]) for p in item["protective"]]
    return render(
        request,
        "household.html",
        user=user,
        row=row,
        criteria=criteria_list(row["criteria"]),
        reasons=item["reasons"],
        protective=item["protective"],
        chart=contribution_chart(bars),
        history=score_history(svc.engine, hh_id),
        visits=visits_of(svc.engine, hh_id),
        risk_types={k: v[0] for k, v in RISK_TYPES.items()},
    )


def contribution_chart(bars: list[tuple[str, float]]) -> dict:
    """Geometry of a bar chart of contributions (log-odds), each bar under its label: risk to the
    right of the axis in red, protective factors to the left in green; drawn as SVG by the
    template, 320 units wide so that a phone shows it at about its own size."""
    scale = max((abs(v) for _, v in bars), default=0) or 1.0
    row_h, half, width = 46, 150, 320
    zero = width / 2
    return {
        "width": width,
        "height": row_h * len(bars) + 6,
        "zero": zero,
        "bars": [
            {
                "label": label,
                "value": value,
                "y": 4 + i * row_h,
                "x": zero + min(0.0, value / scale * half),
                "w": max(1.0, abs(value) / scale * half),
                "risk": value > 0,
            }
            for i, (label, value) in enumerate(bars)
        ],
    }


def _zh_error(e: dict) -> str:
    """A validation error in the form's language (the rule, never the value sent)."""
    ctx = e.get("ctx") or {}
    known = {
        "missing": "必填",
        "literal_error": "请选择一项",
        "date_from_datetime_parsing": "日期格式应为 年-月-日",
        "date_parsing": "日期格式应为 年-月-日",
        "string_too_short": "必填",
        "string_too_long": f"过长（最多 {ctx.get('max_length')} 字）",
        "too_long": f"最多选 {ctx.get('max_length')} 项",
    }
    if e["type"] in known:
        return known[e["type"]]
    msg = str(ctx.get("error", e["msg"]))
    return {
        "must not be in the future": "不能晚于今天",
        "each measure at most 40 characters, without commas": "每项措施最多 40 字，不含逗号",
    }.get(msg, msg)


def _visit_form(request, user, row, values: dict, errors: dict, status_code: int = 200):
    return render(
        request,
        "visit.html",
        status_code,
        user=user,
        row=row,
        values=values,
        errors=errors,
        risk_types={k: v[0] for k, v in RISK_TYPES.items()},
        measures=measure_names(),
        field_zh=FIELD_ZH,
    )


@router.get("/households/{hh_id}/visit")
def visit_form(request: Request, svc: ServiceDep, user: SignedIn, hh_id: str):
    row = _household(svc, user, hh_id)
    values = {"visited_on": date.today().isoformat(), "cadre": user.name, "note": ""}
    return _visit_form(request, user, row, values, {})


@router.post("/households/{hh_id}/visit")
def visit_submit(
    request: Request,
    svc: ServiceDep,
    user: SignedIn,
    hh_id: str,
    csrf: Annotated[str, Form(max_length=100)] = "",
    visited_on: Annotated[str, Form(max_length=20)] = "",
    cadre: Annotated[str, Form(max_length=200)] = "",
    verification: Annotated[str, Form(max_length=30)] = "",
    outcome: Annotated[str, Form(max_length=30)] = "",
    risk_types: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    measures: Annotated[list[str], Form()] = [],  # noqa: B006
    risk_eliminated: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
):
    check_csrf(csrf, user.csrf_token)
    row = _household(svc, user, hh_id)
    values = {
        "visited_on": visited_on,
        "cadre": cadre,
        "verification": verification,
        "outcome": outcome,
        "risk_types": risk_types,
        "measures": measures,
        "risk_eliminated": risk_eliminated,
        "note": note,
    }
    errors: dict[str, str] = {}
    try:
        visit = VisitIn.model_validate(
            {**values, "risk_eliminated": {"yes": True, "no": False}.get(risk_eliminated)}
        )
        record_visit(svc.engine, visit, row, user_id=user.principal.user_id)
    except ValidationError as exc:
        for e in exc.errors():
            errors.setdefault(str(e["loc"][0]), _zh_error(e))
    except VisitRefused as exc:
        errors[exc.field] = (
            "仅已纳入监测的户填写" if exc.field == "risk_eliminated" else exc.message
        )
    if errors:
        return _visit_form(request, user, row, values, errors, status_code=422)
    return RedirectResponse(f"/app/households/{hh_id}#visits", status_code=303)
