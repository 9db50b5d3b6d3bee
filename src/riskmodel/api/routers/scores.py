"""POST /v1/scores: score households sent in the request."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError

from riskmodel.api.deps import ERRORS, Key, in_service
from riskmodel.api.errors import refuse
from riskmodel.api.schemas import RECORD_NAMES, Problem, ScoreRequest, ScoreResponse
from riskmodel.catalogue import MEASURE_FACTS
from riskmodel.records import (
    RecordError,
    records_from_facts,
)

router = APIRouter(tags=["scores"])


@router.post(
    "/v1/scores", response_model=ScoreResponse, responses={**ERRORS, 503: {"model": Problem}}
)
async def score(body: ScoreRequest, who: Key, request: Request) -> Response:
    """Score one to 1,000 households: status (monitored, meets_criteria, not_monitored), the
    criteria met, the population's probability and tier with the label of the model that gave
    it (none for a household that meets the criteria now: verify and enrol), rule flags, top
    reasons (Chinese and English) with the measures that fit, and protective factors. Send
    `households` (panel facts, optionally the two previous years' rows: every derived feature
    is computed here) or `records` (derived fields filled in; checked against the facts they
    carry)."""
    svc = request.app.state.service  # not a dependency: one resolution fewer per request
    loaded, context = in_service(svc)
    form = "households" if body.households is not None else "records"
    if body.households is not None:
        tows = [h.facts.township_id for h in body.households]
    else:
        tows = [r.township_id for r in body.records]
    for i, township in enumerate(tows):
        if not who.can_read(township):
            raise HTTPException(
                403,
                f"{form}[{i}].township_id: key may read only "
                f"township {who.township_id}, not {township}",
            )
    checked = None
    if body.households is not None:
        columns = await svc.scorer.call(columns_from_facts, body.households)
    else:
        rows = [r.__dict__ for r in body.records]
        columns = {name: [row[name] for row in rows] for name in RECORD_NAMES}
        with_line = [r.monitor_line for r in body.records]
        checked = {**columns, "monitor_line": with_line} if any(with_line) else columns
    # records are checked in the scoring thread, once for every request merged into a batch
    results = await svc.scorer.score(columns, context, checked)
    for r in results:
        r["run_id"] = loaded.run_id
    body = {"model_version": loaded.version, "run_id": loaded.run_id, "results": results}
    # built to ScoreResponse by score_columns (a test validates it): serialised once, without
    # FastAPI's second validation pass (which cost more than the request's own validation)
    return Response(orjson.dumps(body), media_type="application/json")


def columns_from_facts(households: list) -> dict[str, list]:
    """Model input columns from households' facts and history with the library's feature builder
    (history rows must be the same household's year-1 and year-2); 422 naming the field."""
    import pandas as pd

    rows, where, failures = [], [], []
    for i, h in enumerate(households):
        year = h.facts.year
        rows.append(h.facts.model_dump())
        where.append(["body", "households", i, "facts"])
        seen = set()
        for j, past in enumerate(h.history):
            loc = ["body", "households", i, "history", j]
            if past.hh_id != h.facts.hh_id:
                failures.append(([*loc, "hh_id"], "must be the household of facts.hh_id"))
            if past.year not in (year - 1, year - 2) or past.year in seen:
                failures.append(([*loc, "year"], f"must be {year - 1} or {year - 2}, once each"))
            seen.add(past.year)
            rows.append(past.model_dump())
            where.append(loc)
    if failures:
        raise RequestValidationError(
            [{"type": "value_error", "loc": loc, "msg": msg} for loc, msg in failures]
        )
    try:
        records = records_from_facts(pd.DataFrame(rows))
    except RecordError as exc:
        refuse(exc.failures, lambda row: where[row])
    order = {hh: i for i, hh in enumerate(h.facts.hh_id for h in households)}
    records = records.sort_values("hh_id", key=lambda s: s.map(order)).reset_index(drop=True)
    if len(records) != len(households):
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ["body", "households"],
                    "msg": "each household may appear once (facts.hh_id repeated)",
                }
            ]
        )
    records["village_monitored_share"] = [h.village_monitored_share for h in households]
    columns = {
        name: [None if v is None or v != v else v for v in records[name].astype(object)]
        for name in RECORD_NAMES
    }
    # facts that choose measures but are no model input (雨露计划: a vocational student)
    for name in MEASURE_FACTS:
        columns[name] = [getattr(h.facts, name) for h in households]
    return columns
