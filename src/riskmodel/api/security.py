"""API keys: created by `riskmodel keys create`, stored hashed, checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from riskmodel.store import api_keys, audit, now

Role = Literal["county", "township", "admin"]
ROLES: tuple[Role, ...] = ("county", "township", "admin")
PREFIX = "rk"


class KeyError_(ValueError):
    """A key request that cannot be granted (for example a township key without a township)."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    township_id: str | None

    def can_read(self, township_id: str) -> bool:
        return self.role in ("county", "admin") or township_id == self.township_id


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, role: str, township_id: str | None = None) -> tuple[str, str]:
    """A new key (shown once) and its id; only the SHA-256 of the key is stored."""
    if role not in ROLES:
        raise KeyError_(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "township" and not township_id:
        raise KeyError_("a township key needs --township")
    if role != "township" and township_id:
        raise KeyError_("only township keys are scoped to a township")
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    with engine.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                key_hash=_digest(key),
                role=role,
                township_id=township_id,
                created_at=now(),
                revoked=False,
            )
        )
    return key, key_id


class KeyRing:
    """Checks presented keys against the store, caching what it has read for a short while."""

    def __init__(self, engine: Engine, ttl_s: float = 30.0):
        self.engine, self.ttl_s = engine, ttl_s
        self._cache: dict[str, tuple[float, tuple | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> Principal | None:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        key_id = parts[1]
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(
                        api_keys.c.key_hash,
                        api_keys.c.role,
                        api_keys.c.township_id,
                        api_keys.c.revoked,
                    ).where(api_keys.c.key_id == key_id)
                ).first()
            hit = (time.monotonic(), tuple(row) if row else None)
            with self._lock:
                self._cache[key_id] = hit
        row = hit[1]
        if row is None or row[3] or not hmac.compare_digest(row[0], _digest(key)):
            return None
        return Principal(key_id=key_id, role=row[1], township_id=row[2])


def write_audit(
    engine: Engine,
    principal: Principal,
    endpoint: str,
    *,
    hh_id: str | None = None,
    village_id: str | None = None,
    model_version: str | None = None,
) -> None:
    """One audit row per household- or village-level read."""
    with engine.begin() as conn:
        conn.execute(
            audit.insert().values(
                at=now(),
                key_id=principal.key_id,
                endpoint=endpoint,
                hh_id=hh_id,
                village_id=village_id,
                model_version=model_version,
            )
        )
