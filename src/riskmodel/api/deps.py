"""What routes share: the app's service, the caller's principal (API key) and its scope, the models
in service, and the answers common to several routes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from riskmodel.api.lifecycle import Loaded
from riskmodel.api.limits import retry_after
from riskmodel.api.schemas import Problem
from riskmodel.api.security import Principal
from riskmodel.api.service import Service
from riskmodel.rules import RULES

ERRORS = {
    401: {"model": Problem, "description": "missing, unknown or revoked API key"},
    403: {"model": Problem, "description": "the key may not read this township"},
    413: {"model": Problem, "description": "request body too large (says how to split it)"},
    429: {"model": Problem, "description": "rate limit of the key or address; see Retry-After"},
}
KEY_HEADER = "Authorization: Bearer <key>"


async def get_service(request: Request) -> Service:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a hop that
    cost a third of a single-record request's time on the event loop."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIKey",
    description=f"An API key from `riskmodel keys create`, sent as the header `{KEY_HEADER}`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def principal(request: Request, credentials: Credentials) -> Principal:
    """The key's principal: verified keys come from memory; others are checked against the store
    in a worker thread, never on the event loop. Then the key's rate limit. (The service is
    read from the app, not through `ServiceDep`: each dependency costs FastAPI a resolution on
    every scoring request.)"""
    svc: Service = request.app.state.service
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(
            401, f"send an API key as '{KEY_HEADER}'", headers={"WWW-Authenticate": "Bearer"}
        )
    found = await svc.keys.verify_async(credentials.credentials.strip())
    if found is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    spend_key_token(svc, found)
    return found


def spend_key_token(svc: Service, who: Principal) -> None:
    """The key's rate limit: one token a request, else 429 with Retry-After."""
    wait = svc.per_key.take(who.key_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"rate limit of {svc.settings.rate_per_key:g} requests per second for this key",
            headers={"Retry-After": retry_after(wait)},
        )


Key = Annotated[Principal, Depends(principal)]


async def privileged(credentials: Credentials, svc: ServiceDep) -> bool:
    """An admin key or the metrics token: may see /ready in full and /metrics."""
    if credentials is None:
        return False
    token = credentials.credentials.strip()
    if svc.settings.metrics_token and hmac.compare_digest(
        token.encode(), svc.settings.metrics_token.encode()
    ):
        return True
    found = await svc.keys.verify_async(token)
    return found is not None and found.role == "admin"


Privileged = Annotated[bool, Depends(privileged)]


def in_service(svc: Service) -> tuple[Loaded, tuple]:
    """The models in service for this request, or 503."""
    served = svc.in_service()
    if served is None:
        raise HTTPException(503, "no model is serving yet; an admin can see why in /ready")
    return served


def out_of_scope(who: Principal, what: str) -> HTTPException:
    """The same answer whether or not the id exists in another township."""
    return HTTPException(403, f"key may read only {what} of {who.scope}")


def service_note(stored_version: str, in_service: str | None) -> dict:
    """Which model the service runs, and a plain note when the stored score is another's."""
    note = None
    if in_service is not None and stored_version != in_service:
        note = (
            f"scored by model v{stored_version}; the service runs v{in_service}, which has not "
            "scored this batch yet (run `riskmodel score`)"
        )
    return {"service_model_version": in_service, "note": note}


def rule_flags(row: dict) -> dict[str, bool]:
    """A stored row's rule flags as the API names them."""
    return {**{k: bool(row[f"flag_{k}"]) for k in RULES}, "any_rule": bool(row["any_rule"])}
