"""The web app's users and sessions: accounts created by `riskmodel users create`, passwords as
argon2 hashes, sessions as the SHA-256 of a random cookie token with a CSRF token each."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from riskmodel.api.security import Principal
from riskmodel.store import now, sessions, users

USER_ROLES = ("county", "township", "village")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """An account request that cannot be granted; the message says which field and why."""


@dataclass(frozen=True)
class Session:
    principal: Principal
    name: str
    csrf_token: str


def create_user(
    engine: Engine,
    name: str,
    password: str,
    role: str,
    township_id: str | None = None,
    village_id: str | None = None,
    places: dict[str, str] | None = None,
) -> int:
    """A new account; `places` (village -> township), when given, must hold its village or
    township. A village account's township is its village's."""
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("--name: 1 to 64 characters")
    if role not in USER_ROLES:
        raise AccountError(f"--role must be one of {', '.join(USER_ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if role == "county" and (township_id or village_id):
        raise AccountError("a county account has no --township or --village")
    if role == "township" and (not township_id or village_id):
        raise AccountError("a township account needs --township (and no --village)")
    if role == "village":
        if not village_id:
            raise AccountError("a village account needs --village")
        if places is not None:
            if village_id not in places:
                raise AccountError(f"--village {village_id!r} does not exist in the scores")
            if township_id and township_id != places[village_id]:
                raise AccountError(
                    f"--village {village_id} lies in township {places[village_id]}, not "
                    f"{township_id}"
                )
            township_id = places[village_id]
    if role == "township" and places is not None and township_id not in set(places.values()):
        raise AccountError(f"--township {township_id!r} does not exist in the scores")
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
            raise AccountError(f"--name: a user named {name!r} exists already")
        return conn.execute(
            users.insert().values(
                name=name,
                password_hash=_hasher.hash(password),
                role=role,
                township_id=township_id,
                village_id=village_id,
                created_at=now(),
                disabled=False,
            )
        ).inserted_primary_key[0]


def authenticate(engine: Engine, name: str, password: str) -> int | None:
    """The user's id when the name and password match an active account (constant work either
    way, so a wrong name is not told apart from a wrong password by time)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(users.c.id, users.c.password_hash, users.c.disabled).where(
                users.c.name == name.strip()
            )
        ).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return row.id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(engine: Engine, user_id: int, hours: float) -> str:
    """A new session's cookie token (only its digest is stored); expired sessions are removed."""
    token = secrets.token_urlsafe(32)
    at = now()
    with engine.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.expires_at < at))
        conn.execute(
            sessions.insert().values(
                token_hash=_digest(token),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=at,
                expires_at=at + timedelta(hours=hours),
            )
        )
    return token


def find_session(engine: Engine, token: str) -> Session | None:
    """The signed-in user of a cookie token, while the session lasts and the account is active."""
    if not token or len(token) > 100:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                users.c.id,
                users.c.name,
                users.c.role,
                users.c.township_id,
                users.c.village_id,
                sessions.c.csrf_token,
            )
            .join(users, users.c.id == sessions.c.user_id)
            .where(
                sessions.c.token_hash == _digest(token),
                sessions.c.expires_at > now(),
                users.c.disabled.is_(False),
            )
        ).first()
    if row is None:
        return None
    principal = Principal(
        key_id=None,
        role=row.role,
        township_id=row.township_id,
        village_id=row.village_id,
        user_id=row.id,
    )
    return Session(principal, row.name, row.csrf_token)


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.token_hash == _digest(token)))
