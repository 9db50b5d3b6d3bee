"""The FastAPI app: scores with reasons, stored batch results, worklists, keys, hot model swap."""

import asyncio
import gc
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from importlib.resources import files
from typing import Annotated

import numpy as np
import orjson
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from riskmodel.api.lifecycle import Loaded, ModelHolder
from riskmodel.api.limits import RateLimiter, retry_after
from riskmodel.api.middleware import GuardAndMeasure, Metrics
from riskmodel.api.schemas import (
    EXAMPLE_RECORD,
    MAX_RECORDS,
    RECORD_NAMES,
    Identifier,
    Problem,
    Ready,
    ReloadResult,
    ScoreRequest,
    ScoreResponse,
    StoredHousehold,
    Worklist,
    criteria_list,
)
from riskmodel.api.scoring import Scorer
from riskmodel.api.security import KeyRing, Principal, write_audit
from riskmodel.calibrate import caseload
from riskmodel.catalogue import DIMENSIONS
from riskmodel.config import Settings
from riskmodel.criteria import CRITERIA
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.reasons import item_from_stored
from riskmodel.records import (
    RecordError,
    cross_column_failures,
    derived_failures,
    records_from_facts,
)
from riskmodel.rules import RULES
from riskmodel.score import assess
from riskmodel.store import engine_for, latest_score, ping, village_worklist

log = logging.getLogger(__name__)

ERRORS = {
    401: {"model": Problem, "description": "missing, unknown or revoked API key"},
    403: {"model": Problem, "description": "the key may not read this township"},
    413: {"model": Problem, "description": "request body too large (says how to split it)"},
    429: {"model": Problem, "description": "rate limit of the key or address; see Retry-After"},
}
KEY_HEADER = "Authorization: Bearer <key>"
DOCS_ASSETS = "/docs/assets"
_JSON_TYPE = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
_TYPE_ERRORS = {
    "int_type",
    "float_type",
    "bool_type",
    "string_type",
    "int_parsing",
    "float_parsing",
}


def score_columns(
    columns: dict[str, Sequence], models: Mapping[str, RelapseModel], versions: Mapping[str, str]
) -> list[dict]:
    """Status, criteria met, the population's probability and tier, rule flags, reasons and
    protective factors for records given column-wise."""
    a = assess(columns, models)
    out = []
    for i in range(len(a.probability)):
        item = a.explanations.item(i)
        label = a.label[i]
        out.append(
            {
                "hh_id": columns["hh_id"][i],
                "year": int(columns["year"][i]),
                "village_id": columns["village_id"][i],
                "township_id": columns["township_id"][i],
                "status": str(a.status[i]),
                "label": label,
                "probability": None if label is None else float(a.probability[i]),
                "tier": None if label is None else str(a.tier[i]),
                "criteria": criteria_list(
                    ",".join(k for k in CRITERIA if k in a.criteria and a.criteria[k][i])
                ),
                "rule_flags": {k: bool(v[i]) for k, v in a.flags.items()},
                "reasons": item["reasons"],
                "protective": item["protective"],
                "dimensions": item["dimensions"],
                "model_version": versions[label or MAIN_LABEL],
            }
        )
    return out


def warm_up(model: RelapseModel) -> None:
    """Exercise the whole scoring path (single rows and batches) before serving, on a record of
    the population the model serves."""
    label = model.meta.label
    record = {**EXAMPLE_RECORD, **WARM_RECORD, "is_monitored": label != MAIN_LABEL}
    for n in (1, 300):
        cols = {k: [v] * n for k, v in record.items()}
        scored = score_columns(cols, {label: model}, {label: ""})
        if not all(s["label"] == label and np.isfinite(s["probability"]) for s in scored):
            raise ValueError("warm-up produced no finite probability")


WARM_RECORD = {"income_to_line": 1.6, "oop_medical": 2000.0, "oop_to_income": 0.06}
"""Changes to the example record so that it meets no criterion (the example itself does)."""


def _resolver(uri: str) -> str:
    from riskmodel.deploy import resolve  # MLflow is imported only when needed

    return resolve(uri)


def _loader(alias_uri: str) -> Callable[[str], tuple]:
    """Load a pinned version (the deployed copy when there is one), and point the deployed
    alias the holder follows at it."""

    def load_version(uri: str):
        from riskmodel.deploy import load

        return load(uri, alias_uri)

    return load_version


def _sent_type(value: object) -> str:
    """The JSON type of a value, to say what was sent without echoing it."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _position(text: bytes, pos: int) -> str:
    """'line L, column C (character P)' of a position in a JSON body."""
    before = text[:pos].decode("utf-8", "replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"line {line}, column {column} (character {pos + 1})"


def _size_advice() -> tuple[int, int]:
    """Bytes per record in a request body: compact JSON, and pretty-printed with indent 4."""
    one = {"records": [EXAMPLE_RECORD]}
    compact = len(json.dumps(one).encode()) - len(json.dumps({"records": []}).encode()) + 2
    pretty = len(json.dumps(one, indent=4).encode()) - len(json.dumps({"records": []}).encode())
    return compact, pretty


def create_app(
    settings: Settings | None = None,
    holder: ModelHolder | None = None,
    persistent_holder: ModelHolder | None = None,
    on_ready: Callable[[Loaded | None, str | None], None] | None = None,
) -> FastAPI:
    """Build the app; the model is loaded and warmed at start-up, not here.

    `on_ready(loaded, error)` is called once start-up is done (the CLI prints its ready line)."""
    settings = settings or Settings()
    engine = engine_for(settings.db_url)
    keys = KeyRing(engine, settings.key_cache_ttl_s, settings.key_cache_size)
    per_key = RateLimiter(settings.rate_per_key, settings.rate_burst_s)
    per_address = RateLimiter(settings.rate_per_address, settings.rate_burst_s)
    holder = holder or ModelHolder(
        settings.model_uri, _loader(settings.model_uri), _resolver, warm_up
    )
    persistent = persistent_holder or (
        ModelHolder(
            settings.persistent_model_uri,
            _loader(settings.persistent_model_uri),
            _resolver,
            warm_up,
            required=False,
        )
        if settings.persistent_model_uri
        else None
    )
    scorer = Scorer(score_columns, record_failures, _refusal)
    metrics = Metrics()
    compact, pretty = _size_advice()
    advice = (
        f"a record takes about {compact:,} bytes as compact JSON and {pretty:,} pretty-printed: "
        f"send at most {min(MAX_RECORDS, settings.max_body_bytes // compact):,} compact or "
        f"{min(MAX_RECORDS, settings.max_body_bytes // pretty):,} pretty-printed records per request"
    )

    def reload_persistent() -> tuple[str, str | None]:
        """Follow the persistent champion: absent until one is promoted, then like the main one."""
        if persistent is None:
            return "absent", None
        if persistent.current is None:
            persistent.load()
            return ("swapped" if persistent.current else "absent"), None
        return persistent.reload()

    served: list = [None, None, None]  # (main Loaded, persistent Loaded, (models, versions))

    def in_service() -> tuple[Loaded, tuple[dict[str, RelapseModel], dict[str, str]]]:
        """The models a request uses to its end (taken once, so a swap never mixes versions).
        The same object while nothing is swapped, so concurrent requests are scored together."""
        loaded = serving()
        extra = persistent.current if persistent else None
        if served[0] is not loaded or served[1] is not extra:
            models = {MAIN_LABEL: loaded.model}
            versions = {MAIN_LABEL: loaded.version}
            if extra is not None:
                models[extra.model.meta.label] = extra.model
                versions[extra.model.meta.label] = extra.version
            served[:] = [loaded, extra, (models, versions)]
        return loaded, served[2]

    def sync_model_metrics() -> None:
        metrics.model.clear()
        if holder.current:
            metrics.model.labels(holder.current.version, holder.current.run_id).set(1)
        metrics.ready.set(1 if holder.current else 0)
        metrics.reload_failures.set(holder.reload_failures)
        metrics.reloads.set(holder.reloads)

    async def poll() -> None:
        while True:
            await asyncio.sleep(settings.reload_interval_s)
            with suppress(Exception):  # a failed reload is recorded by the holder
                await run_in_threadpool(holder.reload)
            with suppress(Exception):
                await run_in_threadpool(reload_persistent)
            sync_model_metrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if holder.current is None:
            await run_in_threadpool(holder.load)
        if persistent is not None and persistent.current is None:
            await run_in_threadpool(persistent.load)
        gc.freeze()  # start-up objects (libraries, the model) leave the collector's work
        sync_model_metrics()
        task = asyncio.create_task(poll()) if settings.reload_interval_s > 0 else None
        if on_ready is not None:
            on_ready(holder.current, holder.last_error)
        yield
        if task:
            task.cancel()
        scorer.close()
        engine.dispose()

    app = FastAPI(
        title="riskmodel",
        summary="Next-year relapse-into-poverty risk for households that left poverty, with "
        "reasons in the six checks' terms and the assistance measures that fit.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.add_middleware(
        GuardAndMeasure,
        metrics=metrics,
        max_body=settings.max_body_bytes,
        limiter=per_address,
        advice=advice,
    )
    _docs(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each field path and rule, with the position of malformed JSON and the type
        that was sent; submitted values are not echoed back."""
        detail = []
        for e in exc.errors():
            msg = e["msg"]
            if e["type"] == "json_invalid":
                pos = e["loc"][-1] if isinstance(e["loc"][-1], int) else 0
                body = await request.body()
                reason = (e.get("ctx") or {}).get("error", "")
                msg = f"malformed JSON at {_position(body, pos)}: {reason}".rstrip(": ")
            elif e["type"] in _TYPE_ERRORS or e["type"].endswith("_type"):
                msg = f"{msg} ({_sent_type(e.get('input'))} was sent)"
            detail.append({"type": e["type"], "loc": list(e["loc"]), "msg": msg})
        return JSONResponse({"detail": detail}, status_code=422)

    app.state.holder, app.state.engine, app.state.metrics = holder, engine, metrics
    app.state.persistent = persistent
    app.state.keys, app.state.scorer = keys, scorer

    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="APIKey",
        description=f"An API key from `riskmodel keys create`, sent as the header `{KEY_HEADER}`.",
    )
    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

    async def principal(credentials: Credentials) -> Principal:
        """The key's principal: verified keys come from memory; others are checked against the
        store in a worker thread, never on the event loop. Then the key's rate limit."""
        if credentials is None or not credentials.credentials.strip():
            raise HTTPException(
                401, f"send an API key as '{KEY_HEADER}'", headers={"WWW-Authenticate": "Bearer"}
            )
        found = await keys.verify_async(credentials.credentials.strip())
        if found is None:
            raise HTTPException(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        wait = per_key.take(found.key_id)
        if wait > 0:
            raise HTTPException(
                429,
                f"rate limit of {settings.rate_per_key:g} requests per second for this key",
                headers={"Retry-After": retry_after(wait)},
            )
        return found

    Key = Annotated[Principal, Depends(principal)]

    async def privileged(credentials: Credentials) -> bool:
        """An admin key or the metrics token: may see /ready in full and /metrics."""
        if credentials is None:
            return False
        token = credentials.credentials.strip()
        if settings.metrics_token and hmac.compare_digest(
            token.encode(), settings.metrics_token.encode()
        ):
            return True
        found = await keys.verify_async(token)
        return found is not None and found.role == "admin"

    Privileged = Annotated[bool, Depends(privileged)]

    def serving() -> Loaded:
        loaded = holder.current
        if loaded is None:
            raise HTTPException(503, "no model is serving yet; an admin can see why in /ready")
        return loaded

    def out_of_scope(who: Principal, what: str) -> HTTPException:
        """The same answer whether or not the id exists in another township."""
        return HTTPException(403, f"key may read only {what} of township {who.township_id}")

    @app.post(
        "/v1/scores",
        response_model=ScoreResponse,
        tags=["scores"],
        responses={**ERRORS, 503: {"model": Problem}},
    )
    async def score(body: ScoreRequest, who: Key) -> Response:
        """Score one to 1,000 households: status (monitored, meets_criteria, not_monitored), the
        criteria met, the population's probability and tier with the label of the model that gave
        it (none for a household that meets the criteria now: verify and enrol), rule flags, top
        reasons (Chinese and English) with the measures that fit, and protective factors. Send
        `households` (panel facts, optionally the two previous years' rows: every derived feature
        is computed here) or `records` (derived fields filled in; checked against the facts they
        carry)."""
        loaded, context = in_service()
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
            columns = await scorer.call(columns_from_facts, body.households)
        else:
            columns = {name: [getattr(r, name) for r in body.records] for name in RECORD_NAMES}
            with_line = [r.monitor_line for r in body.records]
            checked = {**columns, "monitor_line": with_line} if any(with_line) else columns
        # records are checked in the scoring thread, once for every request merged into a batch
        results = await scorer.score(columns, context, checked)
        for r in results:
            r["run_id"] = loaded.run_id
        body = {"model_version": loaded.version, "run_id": loaded.run_id, "results": results}
        # built to ScoreResponse by score_columns (a test validates it): serialised once, without
        # FastAPI's second validation pass (which cost more than the request's own validation)
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get(
        "/v1/households/{hh_id}",
        response_model=StoredHousehold,
        tags=["households"],
        responses={**ERRORS, 404: {"model": Problem}},
    )
    def household(
        who: Key,
        hh_id: Annotated[Identifier, Path()],
        explain_: Annotated[str | None, Query(alias="explain", pattern="^full$")] = None,
    ) -> dict:
        """The batch score of a household from the model in service (else the latest, with a note
        naming its version): status, criteria met, the population's probability with its label,
        reasons; `?explain=full` adds every feature's contribution."""
        in_service = holder.current.version if holder.current is not None else None
        row = latest_score(engine, hh_id, prefer_version=in_service)
        if row is None or not who.can_read(row["township_id"]):
            if who.township_id is not None:
                raise out_of_scope(who, "households")
            raise HTTPException(
                404,
                f"household {hh_id!r} has no batch score; run `riskmodel score` or check the id",
            )
        write_audit(
            engine, who, "/v1/households/{hh_id}", hh_id=hh_id, model_version=row["model_version"]
        )
        item = item_from_stored(
            row["reasons_json"], row["contributions"], row["features"], full=explain_ == "full"
        )
        return {
            **{
                k: row[k]
                for k in (
                    "hh_id",
                    "year",
                    "village_id",
                    "township_id",
                    "status",
                    "label",
                    "probability",
                    "tier",
                    "rank_in_village",
                    "on_worklist",
                    "run_id",
                    "data_check",
                )
            },
            "model_version": row["label_version"] or row["model_version"],
            "criteria": criteria_list(row["criteria"]),
            "rule_flags": _flags(row),
            "reasons": item["reasons"],
            "protective": item["protective"],
            "dimensions": item.get("dimensions", dict.fromkeys(DIMENSIONS, 0.0)),
            "contributions": item.get("contributions"),
            "scored_at": row["scored_at"].isoformat(),
            **_service_note(row["model_version"], in_service),
        }

    @app.get(
        "/v1/villages/{village_id}/worklist",
        response_model=Worklist,
        tags=["households"],
        responses={**ERRORS, 404: {"model": Problem}},
    )
    def worklist(who: Key, village_id: Annotated[Identifier, Path()]) -> dict:
        """A village's worklist from the model in service (else the latest, with a note), as the
        batch decided it (`on_worklist`, one definition in the library, the same list as the
        workbook): households that meet the criteria now first (verify and enrol, with the
        criteria met), every household with a rule flag (policy forbids quotas), every household
        whose data must be verified (数据待核实) and the village's capacity share of the others."""
        in_service = holder.current.version if holder.current is not None else None
        rows = village_worklist(engine, village_id, prefer_version=in_service)
        if not rows or not who.can_read(rows[0]["township_id"]):
            if who.township_id is not None:
                raise out_of_scope(who, "villages")
            raise HTTPException(404, f"village {village_id!r} has no batch scores")
        write_audit(
            engine,
            who,
            "/v1/villages/{village_id}/worklist",
            village_id=village_id,
            model_version=rows[0]["model_version"],
        )
        listed = [r for r in rows if r["on_worklist"]]
        load = caseload(pd.DataFrame(rows), "village_id").iloc[0].to_dict()
        return {
            "village_id": village_id,
            "township_id": rows[0]["township_id"],
            "year": rows[0]["year"],
            "model_version": rows[0]["model_version"],
            **_service_note(rows[0]["model_version"], in_service),
            "caseload": {k: v for k, v in load.items() if k not in ("village_id", "township_id")},
            "households": [
                {
                    "rank_in_village": r["rank_in_village"],
                    "hh_id": r["hh_id"],
                    "status": r["status"],
                    "label": r["label"],
                    "probability": r["probability"],
                    "tier": r["tier"],
                    "criteria": criteria_list(r["criteria"]),
                    "data_check": r["data_check"],
                    "rule_flags": _flags(r),
                    **{k: r[k] for k in ("reasons_zh", "reasons_en", "measures_zh", "measures_en")},
                }
                for r in listed
            ],
        }

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResult,
        tags=["admin"],
        responses={**ERRORS, 502: {"model": Problem}},
    )
    async def reload(who: Key) -> dict:
        """Load the versions the champion aliases point at (the main model and, when promoted,
        the persistent one), warm each beside the one in service and swap with no failed
        request. On failure the old version keeps serving."""
        if who.role != "admin":
            raise HTTPException(403, "only admin keys may reload the model")
        for which, step in (("main", holder.reload), ("persistent", reload_persistent)):
            try:
                result = await run_in_threadpool(step)
            except Exception as exc:
                sync_model_metrics()
                failed = holder if which == "main" else persistent
                raise HTTPException(
                    502,
                    f"{which} model: {failed.last_error}; still serving version "
                    f"{failed.current.version if failed.current else None}",
                ) from exc
            if which == "main":
                status, previous = result
            else:
                extra_status = result[0]
        sync_model_metrics()
        return {
            "status": status,
            "model_version": holder.current.version,
            "previous_version": previous,
            "persistent_status": extra_status,
            "persistent_model_version": (
                persistent.current.version if persistent and persistent.current else None
            ),
        }

    @app.get("/health", tags=["operations"])
    def health() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=Ready,
        tags=["operations"],
        responses={503: {"model": Ready}},
        openapi_extra={"security": [{}, {"APIKey": []}]},  # the key is optional here
    )
    async def ready(full: Privileged) -> JSONResponse:
        """Ready when a warmed model is serving and the store answers. Only an admin key (or the
        metrics token) sees the version, the store's state and the last reload error."""
        store_ok = await run_in_threadpool(ping, engine)
        cur = holder.current
        body = {"ready": bool(cur) and store_ok}
        if full:
            body |= {
                "model_version": cur.version if cur else None,
                "persistent_model_version": (
                    persistent.current.version if persistent and persistent.current else None
                ),
                "run_id": cur.run_id if cur else None,
                "store": store_ok,
                "last_reload_error": holder.last_error,
            }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={401: {"model": Problem}},
    )
    def prometheus(full: Privileged) -> Response:
        """Prometheus metrics (admin key or the metrics token): requests and latency by route
        and status, model version, reloads; the latest monitored batch's largest PSI, estimated
        AUC and alarm."""
        if not full:
            raise HTTPException(
                401,
                "metrics need an admin key or the metrics token (RISKMODEL_METRICS_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        from riskmodel.monitor.run import latest as latest_monitoring

        sync_model_metrics()
        metrics.sync_monitoring(latest_monitoring(engine))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _service_note(stored_version: str, in_service: str | None) -> dict:
    """Which model the service runs, and a plain note when the stored score is another's."""
    note = None
    if in_service is not None and stored_version != in_service:
        note = (
            f"scored by model v{stored_version}; the service runs v{in_service}, which has not "
            "scored this batch yet (run `riskmodel score`)"
        )
    return {"service_model_version": in_service, "note": note}


def record_failures(columns: dict[str, list]) -> list[tuple[int, str, str]]:
    """The panel's cross-column rules and the derived fields' agreement with the facts (on the
    columns themselves: a DataFrame per request cost ten times the scoring)."""
    return sorted(set(cross_column_failures(columns) + derived_failures(columns)))


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
        _refuse(exc.failures, lambda row: where[row])
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
    return {
        name: [None if v is None or v != v else v for v in records[name].astype(object)]
        for name in RECORD_NAMES
    }


def _refusal(failures: list[tuple[int, str, str]]) -> RequestValidationError:
    """422 for a request's records that fail their checks (rows within the request)."""
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ["body", "records", row, field], "msg": rule}
            for row, field, rule in sorted(set(failures))
        ]
    )


def _refuse(failures: list[tuple[int, str, str]], loc: Callable[[int], list]) -> None:
    """422 naming each field and rule (values are not echoed)."""
    if failures:
        raise RequestValidationError(
            [
                {"type": "value_error", "loc": [*loc(row), field], "msg": rule}
                for row, field, rule in failures
            ]
        )


def _docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from assets shipped in the fastapi-offline package (no CDN)."""
    assets = files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def _flags(row: dict) -> dict[str, bool]:
    return {**{k: bool(row[f"flag_{k}"]) for k in RULES}, "any_rule": bool(row["any_rule"])}
