"""The FastAPI app: scores with reasons, stored batch results, worklists, keys, hot model swap."""

import asyncio
import gc
import logging
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from riskmodel.api.lifecycle import Loaded, ModelHolder
from riskmodel.api.middleware import GuardAndMeasure, Metrics
from riskmodel.api.schemas import (
    EXAMPLE_RECORD,
    RECORD_NAMES,
    Problem,
    Ready,
    ReloadResult,
    ScoreRequest,
    ScoreResponse,
    StoredHousehold,
    Worklist,
    criteria_list,
)
from riskmodel.api.security import KeyRing, Principal, write_audit
from riskmodel.catalogue import DIMENSIONS
from riskmodel.config import Settings
from riskmodel.criteria import CRITERIA, DATA_CHECK
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.reasons import item_from_stored
from riskmodel.rules import RULES
from riskmodel.score import assess
from riskmodel.store import engine_for, latest_score, ping, village_worklist

log = logging.getLogger(__name__)

# Requests with at most this many records are scored on the event loop (each costs ~0.1 ms
# more per record); larger ones go to the thread pool so they do not hold up other requests.
INLINE_RECORDS = 8

ERRORS = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    403: {"model": Problem, "description": "the key may not read this township"},
    413: {"model": Problem, "description": "request body too large"},
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
    from riskmodel.registry import resolve_version  # MLflow is imported only when needed

    return resolve_version(uri)


def _loader(uri: str):
    from riskmodel.registry import load_model

    return load_model(uri)


def create_app(
    settings: Settings | None = None,
    holder: ModelHolder | None = None,
    persistent_holder: ModelHolder | None = None,
) -> FastAPI:
    """Build the app; the model is loaded and warmed at start-up, not here."""
    settings = settings or Settings()
    engine = engine_for(settings.db_url)
    keys = KeyRing(engine)
    holder = holder or ModelHolder(settings.model_uri, _loader, _resolver, warm_up)
    persistent = persistent_holder or (
        ModelHolder(settings.persistent_model_uri, _loader, _resolver, warm_up, required=False)
        if settings.persistent_model_uri
        else None
    )
    metrics = Metrics()

    def reload_persistent() -> tuple[str, str | None]:
        """Follow the persistent champion: absent until one is promoted, then like the main one."""
        if persistent is None:
            return "absent", None
        if persistent.current is None:
            persistent.load()
            return ("swapped" if persistent.current else "absent"), None
        return persistent.reload()

    def in_service() -> tuple[Loaded, dict[str, RelapseModel], dict[str, str]]:
        """The models a request uses to its end (taken once, so a swap never mixes versions)."""
        loaded = serving()
        extra = persistent.current if persistent else None
        models = {MAIN_LABEL: loaded.model}
        versions = {MAIN_LABEL: loaded.version}
        if extra is not None:
            models[extra.model.meta.label] = extra.model
            versions[extra.model.meta.label] = extra.version
        return loaded, models, versions

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
        yield
        if task:
            task.cancel()
        engine.dispose()

    app = FastAPI(
        title="riskmodel",
        summary="Next-year relapse-into-poverty risk for households that left poverty, with "
        "reasons in the six checks' terms and the assistance measures that fit.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(GuardAndMeasure, metrics=metrics, max_body=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each field path and rule; submitted values are not echoed back."""
        detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    app.state.holder, app.state.engine, app.state.metrics = holder, engine, metrics
    app.state.persistent = persistent

    async def principal(request: Request) -> Principal:
        """On the event loop: a cached lookup and a hash (the store is read at most every 30 s
        per key), cheaper than a thread hop on every request."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise HTTPException(
                401,
                "send an API key as 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = keys.verify(key.strip())
        if found is None:
            raise HTTPException(
                401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    Key = Annotated[Principal, Depends(principal)]

    def serving() -> Loaded:
        loaded = holder.current
        if loaded is None:
            raise HTTPException(503, f"no model is serving: {holder.last_error}")
        return loaded

    @app.post(
        "/v1/scores",
        response_model=ScoreResponse,
        tags=["scores"],
        responses={**ERRORS, 503: {"model": Problem}},
    )
    async def score(body: ScoreRequest, who: Key) -> dict:
        """Score one to 1,000 model input records: status (monitored, meets_criteria,
        not_monitored), the criteria met, the population's probability and tier with the label of
        the model that gave it (none for a household that meets the criteria now: verify and
        enrol), rule flags, top reasons (Chinese and English) with the measures that fit, and
        protective factors."""
        loaded, models, versions = in_service()
        records = body.records
        for i, r in enumerate(records):
            if not who.can_read(r.township_id):
                raise HTTPException(
                    403,
                    f"records[{i}].township_id: key may read only "
                    f"township {who.township_id}, not {r.township_id}",
                )
        columns = {name: [getattr(r, name) for r in records] for name in RECORD_NAMES}
        if len(records) <= INLINE_RECORDS:
            # a few households cost well under a millisecond: scoring on the event loop is
            # cheaper than a thread hop and the GIL hand-offs that come with it
            results = score_columns(columns, models, versions)
        else:
            results = await run_in_threadpool(score_columns, columns, models, versions)
        for r in results:
            r["run_id"] = loaded.run_id
        return {"model_version": loaded.version, "run_id": loaded.run_id, "results": results}

    @app.get(
        "/v1/households/{hh_id}",
        response_model=StoredHousehold,
        tags=["households"],
        responses={**ERRORS, 404: {"model": Problem}},
    )
    def household(
        who: Key,
        hh_id: Annotated[str, Path(min_length=1, max_length=64)],
        explain_: Annotated[str | None, Query(alias="explain", pattern="^full$")] = None,
    ) -> dict:
        """The batch score of a household from the model in service (else the latest, with a note
        naming its version): status, criteria met, the population's probability with its label,
        reasons; `?explain=full` adds every feature's contribution."""
        in_service = holder.current.version if holder.current is not None else None
        row = latest_score(engine, hh_id, prefer_version=in_service)
        if row is None:
            raise HTTPException(
                404,
                f"household {hh_id!r} has no batch score; run `riskmodel score` or check the id",
            )
        if not who.can_read(row["township_id"]):
            raise HTTPException(403, f"key may read only township {who.township_id}")
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
    def worklist(
        who: Key,
        village_id: Annotated[str, Path(min_length=1, max_length=64)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> dict:
        """A village's worklist from the model in service (else the latest, with a note):
        households that meet the criteria now first (verify and enrol, with the criteria met),
        then households ranked by risk: the top `limit`, every household with a rule flag
        whatever its rank (policy forbids quotas) and every household whose data must be
        verified (数据待核实)."""
        in_service = holder.current.version if holder.current is not None else None
        rows = village_worklist(engine, village_id, prefer_version=in_service)
        if not rows:
            raise HTTPException(404, f"village {village_id!r} has no batch scores")
        if not who.can_read(rows[0]["township_id"]):
            raise HTTPException(403, f"key may read only township {who.township_id}")
        write_audit(
            engine,
            who,
            "/v1/villages/{village_id}/worklist",
            village_id=village_id,
            model_version=rows[0]["model_version"],
        )
        listed = [
            r
            for r in rows
            if r["rank_in_village"] <= limit
            or r["any_rule"]
            or r["status"] in ("meets_criteria", DATA_CHECK)
        ]
        return {
            "village_id": village_id,
            "township_id": rows[0]["township_id"],
            "year": rows[0]["year"],
            "model_version": rows[0]["model_version"],
            **_service_note(rows[0]["model_version"], in_service),
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

    @app.get("/ready", response_model=Ready, tags=["operations"], responses={503: {"model": Ready}})
    def ready() -> JSONResponse:
        """Ready when a warmed model is serving and the store answers."""
        store_ok = ping(engine)
        cur = holder.current
        body = {
            "ready": bool(cur) and store_ok,
            "model_version": cur.version if cur else None,
            "persistent_model_version": (
                persistent.current.version if persistent and persistent.current else None
            ),
            "run_id": cur.run_id if cur else None,
            "store": store_ok,
            "last_reload_error": holder.last_error,
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus metrics: requests and latency by route and status, model version, reloads."""
        sync_model_metrics()
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


def _flags(row: dict) -> dict[str, bool]:
    return {**{k: bool(row[f"flag_{k}"]) for k in RULES}, "any_rule": bool(row["any_rule"])}
