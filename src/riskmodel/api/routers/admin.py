"""Operations: model reload (admin keys), health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from riskmodel.api.deps import ERRORS, Key, Privileged, ServiceDep
from riskmodel.api.schemas import Problem, Ready, ReloadResult
from riskmodel.store import ping

router = APIRouter()


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResult,
    tags=["admin"],
    responses={**ERRORS, 502: {"model": Problem}},
)
async def reload(who: Key, svc: ServiceDep) -> dict:
    """Load the versions the champion aliases point at (the main model and, when promoted,
    the persistent one), warm each beside the one in service and swap with no failed
    request. On failure the old version keeps serving."""
    if who.role != "admin":
        raise HTTPException(403, "only admin keys may reload the model")
    holder, persistent = svc.holder, svc.persistent
    for which, step in (("main", holder.reload), ("persistent", svc.reload_persistent)):
        try:
            result = await run_in_threadpool(step)
        except Exception as exc:
            svc.sync_model_metrics()
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
    svc.sync_model_metrics()
    return {
        "status": status,
        "model_version": holder.current.version,
        "previous_version": previous,
        "persistent_status": extra_status,
        "persistent_model_version": (
            persistent.current.version if persistent and persistent.current else None
        ),
    }


@router.get("/health", tags=["operations"])
def health() -> dict:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Ready,
    tags=["operations"],
    responses={503: {"model": Ready}},
    openapi_extra={"security": [{}, {"APIKey": []}]},  # the key is optional here
)
async def ready(full: Privileged, svc: ServiceDep) -> JSONResponse:
    """Ready when a warmed model is serving and the store answers. Only an admin key (or the
    metrics token) sees the version, the store's state and the last reload error."""
    store_ok = await run_in_threadpool(ping, svc.engine)
    cur, persistent = svc.holder.current, svc.persistent
    body = {"ready": bool(cur) and store_ok}
    if full:
        body |= {
            "model_version": cur.version if cur else None,
            "persistent_model_version": (
                persistent.current.version if persistent and persistent.current else None
            ),
            "run_id": cur.run_id if cur else None,
            "store": store_ok,
            "last_reload_error": svc.holder.last_error,
        }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={401: {"model": Problem}},
)
def prometheus(full: Privileged, svc: ServiceDep) -> Response:
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

    svc.sync_model_metrics()
    svc.metrics.sync_monitoring(latest_monitoring(svc.engine))
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
