"""API keys: created by `riskmodel keys create`, stored hashed, checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.to_thread
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
    """Who is asking: an API key (`key_id`) or a signed-in user (`user_id`), with its scope."""

    key_id: str | None
    role: str
    township_id: str | None
    village_id: str | None = None
    user_id: int | None = None

    def can_read(self, township_id: str, village_id: str | None = None) -> bool:
        """County and admin read everything, a township its township, a village its village."""
        if self.role in ("county", "admin"):
            return True
        if self.role == "village":
            return village_id is not None and village_id == self.village_id
        return township_id == self.township_id

    @property
    def scope(self) -> str:
        """The scope in words, for refusals."""
        if self.role == "village":
            return f"village {self.village_id}"
        return f"township {self.township_id}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    engine: Engine,
    role: str,
    township_id: str | None = None,
    known_townships: Iterable[str] | None = None,
) -> tuple[str, str]:
    """A new key (shown once) and its id; only the SHA-256 of the key is stored.

    With `known_townships`, a township key for any other township is refused."""
    if role not in ROLES:
        raise KeyError_(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "township" and not township_id:
        raise KeyError_("a township key needs --township")
    if role != "township" and township_id:
        raise KeyError_("only township keys are scoped to a township")
    if township_id and known_townships is not None:
        known = sorted(set(known_townships))
        if township_id not in known:
            shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
            raise KeyError_(
                f"township {township_id!r} does not exist in the data; "
                f"known townships: {shown or '(none)'}"
            )
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
    """Checks presented keys. Only keys that verified are cached (LRU of `size`, each for `ttl_s`
    seconds, the bound on how long a revoked key keeps working); an unknown or wrong key is never
    remembered, so random key ids cannot grow memory. The store is read off the event loop."""

    def __init__(
        self,
        engine: Engine,
        ttl_s: float = 10.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        lookups: int = 4,
    ):
        self.engine, self.ttl_s, self.size, self.clock = engine, ttl_s, size, clock
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        self._lookups = lookups
        self._limiter = None

    def __len__(self) -> int:
        return len(self._verified)

    def cached(self, key: str) -> Principal | None:
        """The principal of a key verified less than `ttl_s` ago (memory only, no I/O)."""
        digest = _digest(key)
        with self._lock:
            hit = self._verified.get(digest)
            if hit is None:
                return None
            if self.clock() >= hit[0]:
                del self._verified[digest]
                return None
            self._verified.move_to_end(digest)
            return hit[1]

    def lookup(self, key: str) -> Principal | None:
        """Check a key against the store (blocking); cache it only when it verifies."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isalnum() or len(parts[1]) > 32:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    api_keys.c.key_hash, api_keys.c.role, api_keys.c.township_id, api_keys.c.revoked
                ).where(api_keys.c.key_id == parts[1])
            ).first()
        digest = _digest(key)
        if row is None or row.revoked or not hmac.compare_digest(row.key_hash, digest):
            return None
        found = Principal(key_id=parts[1], role=row.role, township_id=row.township_id)
        if self.ttl_s > 0:
            with self._lock:
                self._verified[digest] = (self.clock() + self.ttl_s, found)
                self._verified.move_to_end(digest)
                while len(self._verified) > self.size:
                    self._verified.popitem(last=False)
        return found

    def verify(self, key: str) -> Principal | None:
        """Blocking check: the cache, else the store."""
        return self.cached(key) or self.lookup(key)

    async def verify_async(self, key: str) -> Principal | None:
        """For async code: the cache on the loop, a store read in a worker thread."""
        found = self.cached(key)
        if found is not None:
            return found
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._lookups)
        return await anyio.to_thread.run_sync(self.lookup, key, limiter=self._limiter)


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    role: str
    township_id: str | None
    created_at: str
    revoked: bool


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every key's id, role, township, creation time and state (never the key or its hash)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                api_keys.c.key_id,
                api_keys.c.role,
                api_keys.c.township_id,
                api_keys.c.created_at,
                api_keys.c.revoked,
            ).order_by(api_keys.c.created_at)
        ).all()
    return [
        KeyInfo(
            r.key_id, r.role, r.township_id, r.created_at.isoformat(timespec="seconds"), r.revoked
        )
        for r in rows
    ]


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Mark a key revoked; False when it was already revoked. Unknown ids raise KeyError_."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(api_keys.c.revoked).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise KeyError_(f"no API key with id {key_id!r}; `riskmodel keys list` shows them")
        if row.revoked:
            return False
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(revoked=True))
    return True


def write_audit(
    engine: Engine,
    principal: Principal,
    endpoint: str,
    *,
    hh_id: str | None = None,
    village_id: str | None = None,
    model_version: str | None = None,
) -> None:
    """One audit row per household- or village-level read (API or page)."""
    with engine.begin() as conn:
        conn.execute(
            audit.insert().values(
                at=now(),
                key_id=principal.key_id,
                user_id=principal.user_id,
                endpoint=endpoint,
                hh_id=hh_id,
                village_id=village_id,
                model_version=model_version,
            )
        )


def known_townships(engine: Engine) -> set[str]:
    """Townships that appear in the store's scored batches."""
    from riskmodel.store import scores

    with engine.connect() as conn:
        return set(conn.execute(sa.select(scores.c.township_id).distinct()).scalars())
