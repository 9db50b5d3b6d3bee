"""Opening the store: an engine whose database is at the newest migration (Alembic).

Every door that opens the store (`score`, `serve`, `keys`, the API) goes through `engine_for`,
which brings the database to the newest revision first, so a store written by an earlier release
is upgraded in place; `riskmodel db upgrade` does the same on its own. Upgrades are serialised
between processes (a PostgreSQL advisory lock; a lock file beside a SQLite file) and run in one
transaction where the database allows it (PostgreSQL).
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x7269736B6D6F64  # "riskmod": one advisory lock for the store's migrations


class StoreSchemaError(RuntimeError):
    """The store cannot be brought to this release's schema (an unknown or broken revision)."""


def engine_for(url: str) -> Engine:
    """An engine for the URL, its database brought to the newest revision (created when empty)."""
    engine = open_engine(url)
    upgrade_store(engine)
    return engine


def open_engine(url: str) -> Engine:
    """An engine for the URL as it is (`postgresql://` means psycopg); a SQLite file's folder is
    created."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the API read while a batch is written; NORMAL sync is safe with WAL."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    # Two connections switching a new file to WAL at once can both hold a shared lock and want
    # an exclusive one: SQLite answers one of them "database is locked" at once, without its
    # busy handler (it would wait forever). The switch is tried again for up to 10 s.
    for attempt in range(200):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    return cfg


@cache
def head_revision() -> str:
    """The newest revision this release knows (one head: the chain is linear)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's revision (None: empty, or created before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_store(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the store to `revision`; return (revision before, revision after)."""
    before = current_revision(engine)
    target = head_revision() if revision == "head" else revision
    if before == target:
        return before, before
    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if before is not None and before not in known:
        raise StoreSchemaError(
            f"the store is at revision {before}, which this release does not know (written by a "
            "newer release?); use that release, or a store of your own (RISKMODEL_DB_URL)"
        )
    with _migration_lock(engine) as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    after = current_revision(engine)
    log.info("store upgraded from revision %s to %s", before or "none", after)
    return before, after


@contextmanager
def _migration_lock(engine: Engine):
    """A connection in a transaction that holds the store's migration lock."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            yield conn
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.begin() as conn:
            yield conn
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
