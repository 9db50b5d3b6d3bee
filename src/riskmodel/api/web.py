"""The web app's session and form plumbing: the signed-in user from the session cookie, CSRF
tokens, sign-in rate limits, templates and the labels pages show."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from riskmodel.api.accounts import Session, find_session
from riskmodel.api.deps import ServiceDep
from riskmodel.criteria import CRITERIA, STATUSES
from riskmodel.interval import WIDE, WIDE_ZH
from riskmodel.support import UNUSUAL_ZH
from riskmodel.visits import OUTCOMES, VERIFICATION
from riskmodel.worklist import TIER_ZH

SESSION_COOKIE = "rm_session"
SIGN_IN_COOKIE = "rm_signin"
"""Double-submit CSRF token of the sign-in form (there is no session yet)."""

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals |= {
    "STATUS_ZH": {k: v[0] for k, v in STATUSES.items()},
    "TIER_ZH": {**TIER_ZH, None: "—"},
    "CRITERIA_ZH": {k: v[0] for k, v in CRITERIA.items()},
    "VERIFICATION_ZH": {k: v[0] for k, v in VERIFICATION.items()},
    "OUTCOMES_ZH": {k: v[0] for k, v in OUTCOMES.items()},
    "UNUSUAL_ZH": UNUSUAL_ZH,
    "WIDE": WIDE,
    "WIDE_ZH": WIDE_ZH,
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """No valid session: the page handler sends the browser to the sign-in form."""


class Forbidden(Exception):
    """A page outside the user's scope, or a form without its CSRF token."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def session(request: Request, svc: ServiceDep) -> Session:
    found = find_session(svc.engine, request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        raise SignInRequired
    return found


SignedIn = Annotated[Session, Depends(session)]


def check_csrf(sent: str | None, expected: str) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("表单已过期或缺少校验码（CSRF），请返回重新提交。")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def secure(request: Request) -> bool:
    """Cookies are marked Secure when the app is reached over HTTPS."""
    return request.url.scheme == "https"


def render(request: Request, name: str, status_code: int = 200, **context):
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(HEADERS)
    return response
