"""POST /v1/scores: score households sent in the request."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from operator import itemgetter

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from riskmodel.api.deps import ERRORS, Key, in_service, spend_key_token
from riskmodel.api.errors import refuse
from riskmodel.api.middleware import replay_body
from riskmodel.api.schemas import HistorySource, Problem, ScoreRequest, ScoreResponse
from riskmodel.api.scoring import Rows
from riskmodel.api.security import Principal
from riskmodel.api.service import Service
from riskmodel.catalogue import MEASURE_FACTS, feature_inputs
from riskmodel.history import PanelHistory
from riskmodel.records import NEEDED, RecordError, record_columns, records_from_facts


class _FastJsonRequest(Request):
    """The body parsed with orjson (a 50-record body: 0.11 against 0.38 ms with the standard
    library); a body orjson refuses is parsed again by the standard library, which gives the
    usual error and position (or reads what only it accepts)."""

    async def json(self):
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class _FastJsonRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            # read through the route's own request, which the exception handlers are given
            # (a 422 for malformed JSON reads the body again to name the position)
            body = await request.body()

            async def replay() -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            return await handler(_FastJsonRequest(request.scope, replay))

        return route


router = APIRouter(tags=["scores"], route_class=_FastJsonRoute)


@router.post(
    "/v1/scores", response_model=ScoreResponse, responses={**ERRORS, 503: {"model": Problem}}
)
async def score(body: ScoreRequest, who: Key, request: Request) -> Response:
    """Score one to 1,000 households: status (monitored, meets_criteria, not_monitored), the
    criteria met, the population's probability and tier with the label of the model that gave
    it (none for a household that meets the criteria now: verify and enrol), rule flags, top
    reasons (Chinese and English) with the measures that fit, and protective factors. Send
    `households` (panel facts, optionally the two previous years' rows, else taken from the
    service's panel when it has them: every derived feature is computed here) or `records`
    (derived fields filled in; checked against the facts they carry). Only the fields the model
    in service reads are needed (422 names any that is missing)."""
    # the service is not a dependency: one resolution fewer per request
    answer = await score_request(request.app.state.service, who, body)
    return Response(answer, media_type="application/json")


async def score_request(svc: Service, who: Principal, body: ScoreRequest) -> bytes:
    """The JSON answer to a validated request from a verified key (the route's and
    `ScoreFastPath`'s work); HTTPException or RequestValidationError for the app's handlers to
    answer."""
    loaded, context = in_service(svc)
    features = loaded.model.features
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
    names, required, values_of, required_of = record_fields(tuple(features))
    if body.households is not None:
        columns, history = await svc.scorer.call(
            columns_from_facts, body.households, features, names, svc.history
        )
    else:
        rows = [values_of(r.__dict__) for r in body.records]
        refuse_absent(rows, required, required_of)
        line = [r.monitor_line for r in body.records]
        columns = Rows(names, rows, line if any(line) else None)
    # records are checked in the scoring thread, once for every request merged into a batch
    results = await svc.scorer.score(columns, context, checked=body.households is None)
    if body.households is None:
        history = [(None, None)] * len(results)
    for r, (source, years) in zip(results, history, strict=True):
        r["run_id"], r["history_source"], r["history_years"] = loaded.run_id, source, years
    body = {"model_version": loaded.version, "run_id": loaded.run_id, "results": results}
    # built to ScoreResponse by score_columns (a test validates it): serialised once, without
    # FastAPI's second validation pass (which cost more than the request's own validation)
    return orjson.dumps(body)


class ScoreFastPath:
    """POST /v1/scores without FastAPI's routing and dependency solving, for the requests that
    need nothing else: a JSON body that validates as `ScoreRequest`, from a key verified less
    than `KEY_CACHE_TTL_S` ago. Every other request (no key or one to look up in the store,
    another content type, malformed JSON, a body that fails validation) goes on to the app, which
    answers as it always does; so does every other route. Refusals after validation (403, 429,
    422 of the record checks, 503) come from the app's own exception handlers: the answers are
    the same bytes either way. Routing and dependency solving took about 40% of the event
    loop's time of a single-record request, besides validating the body."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.route: APIRoute | None = None
        self.handlers: dict = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        token = content_type = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's headers read
            if name == b"authorization" and token is None:
                token = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        json_body = content_type is not None and (
            content_type == b"application/json" or content_type.startswith(b"application/json;")
        )
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replay = replay_body(body, receive)
        app = scope["app"]
        svc: Service = app.state.service
        who = _cached_principal(svc, token) if json_body else None
        request = None
        if who is not None:
            try:
                request = ScoreRequest.model_validate(orjson.loads(body))
            except Exception:  # the app answers with the usual 422 (or parses what orjson refused)
                request = None
        if request is None:
            await self.app(scope, replay, send)
            return
        if self.route is None:
            self.route = next(r for r in router.routes if r.path == PATH)
            self.handlers = app.exception_handlers
        scope["route"] = self.route  # metrics by route template, as for routed requests
        try:
            spend_key_token(svc, who)
            answer = await score_request(svc, who, request)
        except (HTTPException, RequestValidationError) as exc:
            handler = next(self.handlers[c] for c in type(exc).__mro__ if c in self.handlers)
            response = await handler(Request(scope, replay), exc)
            await response(scope, replay, send)
            return
        # the headers and messages the route's Response sends, without building one
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


PATH = "/v1/scores"


def _cached_principal(svc: Service, authorization: bytes | None) -> Principal | None:
    """The principal of a bearer key verified less than `KEY_CACHE_TTL_S` ago (as `HTTPBearer`
    and `deps.principal` read the header), else None."""
    if not authorization:
        return None
    scheme, key = get_authorization_scheme_param(authorization.decode("latin-1"))
    if not scheme or not key or scheme.lower() != "bearer":
        return None
    return svc.keys.cached(key)


@lru_cache(maxsize=8)
def record_fields(
    features: tuple[str, ...],
) -> tuple[list[str], list[str], Callable[[dict], tuple], Callable[[tuple], tuple]]:
    """The record fields a model reads (identifiers and its features), those a record must
    carry (the ones that cannot be null), a function giving a record's values of the first in
    their order (a record's columns in one C call: a dict lookup per field cost a sixth of the
    request on the event loop), and one picking the required values out of those; one entry
    per model in service."""
    columns = record_columns(list(features))
    names = [c.name for c in columns]
    required = [c.name for c in columns if not c.nullable]
    at = [names.index(name) for name in required]
    pick = itemgetter(*at) if len(at) > 1 else lambda row: tuple(row[j] for j in at)
    return names, required, itemgetter(*names), pick


def refuse_absent(
    rows: list[tuple], required: list[str], required_of: Callable[[tuple], tuple]
) -> None:
    """422 naming each record field the model reads that a record left out (the schema lets
    fields that some model does not read be left out; they are None then, never sent as null)."""
    if not any(None in required_of(row) for row in rows):
        return
    values = [required_of(row) for row in rows]
    absent = [
        (["body", "records", i, name], NEEDED)
        for j, name in enumerate(required)
        for i, row in enumerate(values)
        if row[j] is None
    ]
    raise RequestValidationError(
        [{"type": "missing", "loc": loc, "msg": msg} for loc, msg in absent]
    )


def columns_from_facts(
    households: list, features: list[str], names: list[str], panel: PanelHistory | None = None
) -> tuple[dict[str, list], list[tuple[HistorySource, list[int]]]]:
    """Model input columns (`names`) from households' facts and history with the library's
    feature builder (history rows must be the same household's year-1 and year-2; a household
    sent without them takes the rows `panel` has), and where each household's history came from;
    422 naming the field."""
    import pandas as pd

    reads = feature_inputs(features)
    rows, where, failures, history = [], [], [], []
    for i, h in enumerate(households):
        year = h.facts.year
        rows.append(h.facts.model_dump(exclude_unset=True))
        where.append(["body", "households", i, "facts"])
        if h.village_monitored_share is None and "village_monitored_share" in features:
            failures.append((["body", "households", i, "village_monitored_share"], NEEDED))
        seen = set()
        for j, past in enumerate(h.history):
            loc = ["body", "households", i, "history", j]
            if past.hh_id != h.facts.hh_id:
                failures.append(([*loc, "hh_id"], "must be the household of facts.hh_id"))
            if past.year not in (year - 1, year - 2) or past.year in seen:
                failures.append(([*loc, "year"], f"must be {year - 1} or {year - 2}, once each"))
            seen.add(past.year)
            rows.append(past.model_dump(exclude_unset=True))
            where.append(loc)
        past_rows = [] if h.history or panel is None else panel.before(h.facts.hh_id, year, reads)
        for past in past_rows:
            rows.append(past)
            where.append(["body", "households", i, "history", f"panel row of {past['year']}"])
        if h.history:
            history.append(("request", sorted(seen, reverse=True)))
        else:
            history.append(("panel" if past_rows else "none", [int(r["year"]) for r in past_rows]))
    if failures:
        raise RequestValidationError(
            [{"type": "value_error", "loc": loc, "msg": msg} for loc, msg in failures]
        )
    try:
        records = records_from_facts(pd.DataFrame(rows), features=features)
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
    if "village_monitored_share" in features:
        records["village_monitored_share"] = [h.village_monitored_share for h in households]
    columns = {
        name: [None if v is None or v != v else v for v in records[name].astype(object)]
        for name in names
    }
    # facts that choose measures but are no model input (雨露计划: a vocational student)
    for name in MEASURE_FACTS:
        columns[name] = [getattr(h.facts, name) for h in households]
    return columns, history
