"""The store: batch scores, API keys and the audit trail (SQLAlchemy; SQLite or PostgreSQL).

A batch for (year, model version) is replaced inside one transaction, so readers see the old batch
or the new one, never half of either, and re-running never duplicates rows. Every scoring run is
recorded in `score_runs` with what it covered and changed. Preview runs (a model other than the
one in service) go to `preview_scores`, which the API never reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from riskmodel.rules import RULES

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

metadata = sa.MetaData()

SERVICE, PREVIEW = "service", "preview"


def _scores_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_score_columns(),
        sa.Index(f"ix_{name}_batch", "year", "model_version"),
        sa.Index(f"ix_{name}_hh", "hh_id", "year"),
        sa.Index(f"ix_{name}_village", "village_id", "year"),
    )


def _score_columns() -> list[sa.Column]:
    return [
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
        sa.Column("data_check", sa.Text, nullable=False, default=""),
        sa.Column("warning_source", sa.String(32), nullable=False, default=""),
        sa.Column("household_type", sa.String(32), nullable=True),
        sa.Column("hh_size", sa.Integer, nullable=True),
        sa.Column("monitor_category", sa.String(32), nullable=True),
        sa.Column("identified_year", sa.Integer, nullable=True),
        sa.Column("net_income_pc", sa.Float, nullable=True),
        sa.Column("monitor_line", sa.Float, nullable=True),
        sa.Column("recorded_risk_type", sa.String(32), nullable=True),
    ]


scores = _scores_table("scores")
preview_scores = _scores_table("preview_scores")
TABLES = {SERVICE: scores, PREVIEW: preview_scores}

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

runs = sa.Table(
    "score_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("model_alias", sa.String(64), nullable=False),
    sa.Column("area", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_digest", sa.String(64), nullable=False),
    sa.Column("households_scored", sa.Integer, nullable=False),
    sa.Column("villages_scored", sa.Integer, nullable=False),
    sa.Column("added", sa.Integer, nullable=False),
    sa.Column("replaced", sa.Integer, nullable=False),
    sa.Column("kept", sa.Integer, nullable=False),
    sa.Column("dropped", sa.Integer, nullable=False),
    sa.Column("batch_households", sa.Integer, nullable=False),
    sa.Column("batch_villages", sa.Integer, nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_score_runs_batch", "year", "model_version", "area"),
)
"""One row per scoring run: its source, model, what it covered and what it changed."""

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
NULLABLE_INTEGERS = [c for c in NULLABLE if isinstance(scores.c[c].type, sa.Integer)]
"""Read back with NULLs they are floats (2025.0): written as integers again."""


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
    inspector = sa.inspect(engine)
    for table in TABLES.values():
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in SCORE_COLUMNS if c not in have]
        if missing:
            raise StoreSchemaError(
                f"the store's {table.name} table lacks {', '.join(missing)} (created by an "
                f"earlier release); move the old store aside (SQLite: the file of "
                f"{url.split('?')[0]}) or drop its scores and score_batches tables, then score "
                "again"
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
    area: str = SERVICE,
    run: dict | None = None,
) -> int:
    """Replace the batch for (year, model_version) in `area` in one transaction, recording the
    run (a `score_runs` row) in the same transaction; return rows written.

    `before_commit` runs inside the transaction: if it raises, nothing is committed.
    """
    table = TABLES[area]
    data = _tuples(rows)
    scored_at = data[0][SCORE_COLUMNS.index("scored_at")] if data else now()
    with engine.begin() as conn:
        conn.execute(
            table.delete().where(table.c.year == year, table.c.model_version == model_version)
        )
        conn.execute(
            batches.delete().where(batches.c.year == year, batches.c.model_version == model_version)
        )
        _bulk_insert(conn, table.name, SCORE_COLUMNS, data)
        conn.execute(
            batches.insert(),
            [
                {
                    "year": year,
                    "model_version": model_version,
                    "run_id": run_id,
                    "features": ",".join(features),
                    "rows": len(data),
                    "scored_at": scored_at,
                }
            ],
        )
        if run is not None:
            conn.execute(
                runs.insert(),
                [
                    {
                        "year": year,
                        "model_version": model_version,
                        "area": area,
                        "run_id": run_id,
                        "scored_at": scored_at,
                        **run,
                    }
                ],
            )
        before_commit()
    return len(data)


def batch_households(engine: Engine, year: int, model_version: str, area: str = SERVICE) -> set:
    """The households a stored batch holds (cheap: ids only)."""
    table = TABLES[area]
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(table.c.hh_id).where(
                    table.c.year == year, table.c.model_version == model_version
                )
            ).scalars()
        )


def score_runs(engine: Engine, year: int | None = None) -> pd.DataFrame:
    """The scoring runs, oldest first (optionally of one year)."""
    import pandas as pd

    q = sa.select(runs).order_by(runs.c.id)
    if year is not None:
        q = q.where(runs.c.year == year)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.name for c in runs.c])


def _tuples(rows: pd.DataFrame) -> list[tuple]:
    """Rows as plain Python values in SCORE_COLUMNS order (what every driver accepts)."""
    import pandas as pd

    cols = []
    for name in SCORE_COLUMNS:
        col = rows[name]
        if name == "scored_at":
            cols.append([ts.to_pydatetime() for ts in pd.to_datetime(col, utc=True)])
        elif name in NULLABLE_INTEGERS:
            cols.append([None if pd.isna(v) else int(v) for v in col.tolist()])
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


def read_batch(engine: Engine, year: int, model_version: str, area: str = SERVICE) -> pd.DataFrame:
    import pandas as pd

    table = TABLES[area]
    with engine.connect() as conn:
        q = sa.select(*[table.c[c] for c in SCORE_COLUMNS]).where(
            table.c.year == year, table.c.model_version == model_version
        )
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=SCORE_COLUMNS)


def _newest_first(q, prefer_version: str | None):
    """Rows of the preferred model version first, then the latest year, then the latest run."""
    order = [scores.c.year.desc(), scores.c.scored_at.desc()]
    if prefer_version is not None:
        order.insert(0, sa.case((scores.c.model_version == prefer_version, 0), else_=1))
    return q.order_by(*order)


def latest_score(engine: Engine, hh_id: str, prefer_version: str | None = None) -> dict | None:
    """A household's batch row in service: of `prefer_version` (the model in service) when that
    version scored it, else the most recent (latest year, then latest scoring)."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                _newest_first(
                    sa.select(scores).where(scores.c.hh_id == hh_id), prefer_version
                ).limit(1)
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


def village_worklist(
    engine: Engine, village_id: str, prefer_version: str | None = None
) -> list[dict]:
    """A village's batch in service (of `prefer_version` when it has one, else the most recent):
    every household, best rank first."""
    with engine.connect() as conn:
        latest = conn.execute(
            _newest_first(
                sa.select(scores.c.year, scores.c.model_version, scores.c.scored_at).where(
                    scores.c.village_id == village_id
                ),
                prefer_version,
            ).limit(1)
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
