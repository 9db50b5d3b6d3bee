"""Verification visits: POST and GET /v1/households/{hh_id}/visits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.exceptions import RequestValidationError

from riskmodel.api.deps import ERRORS, Key, ServiceDep, out_of_scope
from riskmodel.api.schemas import Identifier, Problem, Visit, Visits
from riskmodel.api.security import Principal, write_audit
from riskmodel.store import latest_score
from riskmodel.visits import VisitIn, VisitRefused, record_visit, visits_of

router = APIRouter(tags=["visits"])


def household_in_scope(svc, who: Principal, hh_id: str) -> dict:
    """The household's latest stored score row, or 403 (outside the scope, whether or not it
    exists) / 404."""
    row = latest_score(svc.engine, hh_id, prefer_version=svc.version_in_service())
    if row is None or not who.can_read(row["township_id"], row["village_id"]):
        if who.township_id is not None:
            raise out_of_scope(who, "households")
        raise HTTPException(404, f"household {hh_id!r} has no batch score; check the id")
    return row


@router.post(
    "/v1/households/{hh_id}/visits",
    response_model=Visit,
    status_code=201,
    responses={**ERRORS, 404: {"model": Problem}},
)
def add_visit(
    body: VisitIn, who: Key, svc: ServiceDep, hh_id: Annotated[Identifier, Path()]
) -> dict:
    """Record a verification visit (核实): date, cadre, 核实情况, 处置结果, risk types found,
    measures agreed, 风险是否消除 (monitored households only) and a note. Kept by household and
    year: re-scoring never removes it."""
    if who.role == "admin":
        raise HTTPException(
            403, "admin keys manage the service; a county or township key records visits"
        )
    row = household_in_scope(svc, who, hh_id)
    try:
        return record_visit(svc.engine, body, row, key_id=who.key_id, user_id=who.user_id)
    except VisitRefused as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ["body", exc.field], "msg": exc.message}]
        ) from None


@router.get(
    "/v1/households/{hh_id}/visits",
    response_model=Visits,
    responses={**ERRORS, 404: {"model": Problem}},
)
def list_visits(who: Key, svc: ServiceDep, hh_id: Annotated[Identifier, Path()]) -> dict:
    """A household's verification visits, newest first."""
    household_in_scope(svc, who, hh_id)
    write_audit(svc.engine, who, "/v1/households/{hh_id}/visits", hh_id=hh_id)
    return {"hh_id": hh_id, "visits": visits_of(svc.engine, hh_id)}
