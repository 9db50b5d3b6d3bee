"""The store: batch scores, API keys and the audit trail (SQLAlchemy; SQLite or PostgreSQL).

A batch for (year, model version) is replaced inside one transaction, so readers see the old batch
or the new one, never half of either, and re-running never duplicates rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from riskmodel.rules import RULES

log = logging.getLogger(__name__)

metadata = sa.MetaData()

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hh_id", sa.String(64), nullable=False),
    sa.Column("village_id", sa.String(64), nullable=False),
    sa.Column("township_id", sa.String(64), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("label", sa.String(32), nullable=True),
    sa.Column("probability", sa.Float, nullable=True),
    sa.Column("tier", sa.String(8), nullable=True),
    sa.Column("criteria", sa.String(100), nullable=False),
    sa.Column("rank_in_village", sa.Integer, nullable=False),
    sa.Column("on_worklist", sa.Boolean, nullable=False),
    *(sa.Column(f"flag_{rule}", sa.Boolean, nullable=False) for rule in RULES),
    sa.Column("any_rule", sa.Boolean, nullable=False),
    sa.Column("top_risk_types", sa.String(200), nullable=False),
    sa.Column("reasons_zh", sa.Text, nullable=False),
    sa.Column("reasons_en", sa.Text, nullable=False),
    sa.Column("measures_zh", sa.Text, nullable=False),
    sa.Column("measures_en", sa.Text, nullable=False),
    sa.Column("protective_zh", sa.Text, nullable=False),
    sa.Column("protective_en", sa.Text, nullable=False),
    sa.Column("reasons_json", sa.Text, nullable=False),
    sa.Column("contributions", sa.LargeBinary, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("label_version", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_scores_batch", "year", "model_version"),
    sa.Index("ix_scores_hh", "hh_id", "year"),
    sa.Index("ix_scores_village", "village_id", "year"),
)

batches = sa.Table(
    "score_batches",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("model_version", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("township_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

audit = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("hh_id", sa.String(64), nullable=True),
    sa.Column("village_id", sa.String(64), nullable=True),
    sa.Column("model_version", sa.String(32), nullable=True),
)

SCORE_COLUMNS = [c.name for c in scores.columns if c.name != "id"]
NULLABLE = [c.name for c in scores.columns if c.nullable and c.name != "id"]
"""Columns whose missing values (NaN, None) are written as NULL."""


def engine_for(url: str) -> Engine:
    """An engine for the URL; the SQLite file's folder is created, tables exist afterwards."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    _check_schema(engine, url)
    return engine


class StoreSchemaError(RuntimeError):
    """The store was created by an earlier release and lacks columns this one writes."""


def _check_schema(engine: Engine, url: str) -> None:
    have = {c["name"] for c in sa.inspect(engine).get_columns("scores")}
    missing = [c for c in SCORE_COLUMNS if c not in have]
    if missing:
        raise StoreSchemaError(
            f"the store's scores table lacks {', '.join(missing)} (created by an earlier "
            f"release); move the old store aside (SQLite: the file of {url.split('?')[0]}) or "
            "drop its scores and score_batches tables, then score again"
        )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the API read while a batch is written; NORMAL sync is safe with WAL."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def now() -> datetime:
    return datetime.now(UTC)


def replace_batch(
    engine: Engine,
    rows: pd.DataFrame,
    year: int,
    model_version: str,
    run_id: str,
    features: list[str],
    before_commit: Callable[[], object] = lambda: None,
) -> int:
    """Replace the batch for (year, model_version) in one transaction; return rows written.

    `before_commit` runs inside the transaction: if it raises, nothing is committed.
    """
    data = _tuples(rows)
    with engine.begin() as conn:
        conn.execute(
            scores.delete().where(scores.c.year == year, scores.c.model_version == model_version)
        )
        conn.execute(
            batches.delete().where(batches.c.year == year, batches.c.model_version == model_version)
        )
        _bulk_insert(conn, "scores", SCORE_COLUMNS, data)
        conn.execute(
            batches.insert(),
            [
                {
                    "year": year,
                    "model_version": model_version,
                    "run_id": run_id,
                    "features": ",".join(features),
                    "rows": len(data),
                    "scored_at": data[0][SCORE_COLUMNS.index("scored_at")] if data else now(),
                }
            ],
        )
        before_commit()
    return len(data)


def _tuples(rows: pd.DataFrame) -> list[tuple]:
    """Rows as plain Python values in SCORE_COLUMNS order (what every driver accepts)."""
    cols = []
    for name in SCORE_COLUMNS:
        col = rows[name]
        if name == "scored_at":
            cols.append([ts.to_pydatetime() for ts in pd.to_datetime(col, utc=True)])
        elif name in NULLABLE:
            cols.append([None if pd.isna(v) else v for v in col.tolist()])
        else:
            cols.append(col.tolist())
    return list(zip(*cols, strict=True))


def _bulk_insert(conn, table: str, columns: list[str], data: list[tuple]) -> None:
    """COPY on PostgreSQL, executemany elsewhere; inside the caller's transaction."""
    if not data:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join([mark] * len(columns))})", data
    )


def read_batch(engine: Engine, year: int, model_version: str) -> pd.DataFrame:
    with engine.connect() as conn:
        q = sa.select(*[scores.c[c] for c in SCORE_COLUMNS]).where(
            scores.c.year == year, scores.c.model_version == model_version
        )
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=SCORE_COLUMNS)


def latest_score(engine: Engine, hh_id: str) -> dict | None:
    """The most recent batch row for a household (latest year, then latest scoring)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(scores)
                .where(scores.c.hh_id == hh_id)
                .order_by(scores.c.year.desc(), scores.c.scored_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        feats = conn.execute(
            sa.select(batches.c.features).where(
                batches.c.year == row["year"], batches.c.model_version == row["model_version"]
            )
        ).scalar_one_or_none()
    out = dict(row)
    out["features"] = feats.split(",") if feats else []
    return out


def village_worklist(engine: Engine, village_id: str) -> list[dict]:
    """The latest batch of a village: every household, best rank first."""
    with engine.connect() as conn:
        latest = conn.execute(
            sa.select(scores.c.year, scores.c.model_version, scores.c.scored_at)
            .where(scores.c.village_id == village_id)
            .order_by(scores.c.year.desc(), scores.c.scored_at.desc())
            .limit(1)
        ).first()
        if latest is None:
            return []
        rows = (
            conn.execute(
                sa.select(scores)
                .where(
                    scores.c.village_id == village_id,
                    scores.c.year == latest.year,
                    scores.c.model_version == latest.model_version,
                )
                .order_by(scores.c.rank_in_village)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
