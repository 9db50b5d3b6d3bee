"""Scored batches in the store: written whole, read by household and by village.

A batch for (year, model version) is replaced inside one transaction, so readers see the old batch
or the new one, never half of either, and re-running never duplicates rows. Every scoring run is
recorded in `score_runs` with what it covered and changed. Preview runs (a model other than the
one in service) go to `preview_scores`, which the API never reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    import pandas as pd

from riskmodel.store.schema import (
    NULLABLE,
    NULLABLE_INTEGERS,
    SCORE_COLUMNS,
    SERVICE,
    TABLES,
    batches,
    runs,
    scores,
)

log = logging.getLogger(__name__)


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


def previous_batch(
    engine: Engine, year: int, model_version: str, area: str = SERVICE
) -> tuple[int, str] | None:
    """The batch a new one is compared with: for a preview, the service's batch of the same year
    (the model it would replace); else the service batch scored most recently before, other than
    this one. None when there is none."""
    q = sa.select(runs.c.year, runs.c.model_version).where(runs.c.area == SERVICE)
    if area != SERVICE:
        q = q.where(runs.c.year == year)
    else:
        q = q.where(sa.or_(runs.c.year != year, runs.c.model_version != model_version))
    with engine.connect() as conn:
        row = conn.execute(q.order_by(runs.c.id.desc()).limit(1)).first()
    return None if row is None else (int(row.year), str(row.model_version))


def batch_tiers(engine: Engine, year: int, model_version: str, area: str = SERVICE) -> pd.DataFrame:
    """hh_id, village_id, tier and on_worklist of a stored batch (what stability compares)."""
    import pandas as pd

    table = TABLES[area]
    columns = ["hh_id", "village_id", "tier", "on_worklist"]
    with engine.connect() as conn:
        q = sa.select(*[table.c[c] for c in columns]).where(
            table.c.year == year, table.c.model_version == model_version
        )
        return pd.DataFrame(conn.execute(q).all(), columns=columns)


def score_runs(engine: Engine, year: int | None = None) -> pd.DataFrame:
    """The scoring runs, oldest first (optionally of one year)."""
    import pandas as pd

    q = sa.select(runs).order_by(runs.c.id)
    if year is not None:
        q = q.where(runs.c.year == year)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.name for c in runs.c])


def _tuples(rows: pd.DataFrame) -> list[tuple]:
    """Rows as plain Python values in SCORE_COLUMNS order (what every driver accepts). Missing
    values are found column-wise (`isna` per value cost more than the insert's conversions)."""
    import pandas as pd

    cols = []
    for name in SCORE_COLUMNS:
        col = rows[name]
        if name == "scored_at":
            cols.append(pd.DatetimeIndex(pd.to_datetime(col, utc=True)).to_pydatetime().tolist())
        elif name in NULLABLE:
            missing = col.isna().to_numpy(bool).tolist()
            values = col.tolist()
            if name in NULLABLE_INTEGERS:
                values = [None if m else int(v) for v, m in zip(values, missing, strict=True)]
            else:
                values = [None if m else v for v, m in zip(values, missing, strict=True)]
            cols.append(values)
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


def village_places(engine: Engine) -> dict[str, str]:
    """Every village in the scores in service, with its township."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(scores.c.village_id, scores.c.township_id).distinct())
        return {v: t for v, t in rows}


def township_overview(
    engine: Engine, township_id: str | None = None, prefer_version: str | None = None
) -> list[dict]:
    """Per village (of one township, or all): its latest batch's year and model version and the
    households by status and tier, and how many are on the worklist."""
    q = sa.select(
        scores.c.township_id,
        scores.c.village_id,
        scores.c.year,
        scores.c.model_version,
        scores.c.status,
        scores.c.tier,
        scores.c.on_worklist,
        sa.func.count().label("n"),
    ).group_by(
        scores.c.township_id,
        scores.c.village_id,
        scores.c.year,
        scores.c.model_version,
        scores.c.status,
        scores.c.tier,
        scores.c.on_worklist,
    )
    if township_id is not None:
        q = q.where(scores.c.township_id == township_id)
    with engine.connect() as conn:
        groups = conn.execute(q).mappings().all()
    batches_of: dict[str, tuple] = {}
    for g in groups:
        key = (g["model_version"] == prefer_version, g["year"], g["model_version"])
        if g["village_id"] not in batches_of or key > batches_of[g["village_id"]]:
            batches_of[g["village_id"]] = key
    out: dict[str, dict] = {}
    for g in groups:
        if batches_of[g["village_id"]][1:] != (g["year"], g["model_version"]):
            continue
        v = out.setdefault(
            g["village_id"],
            {
                "village_id": g["village_id"],
                "township_id": g["township_id"],
                "year": g["year"],
                "model_version": g["model_version"],
                "households": 0,
                "on_worklist": 0,
                "status": {},
                "tier": {},
            },
        )
        v["households"] += g["n"]
        v["on_worklist"] += g["n"] if g["on_worklist"] else 0
        v["status"][g["status"]] = v["status"].get(g["status"], 0) + g["n"]
        if g["tier"] is not None:
            v["tier"][g["tier"]] = v["tier"].get(g["tier"], 0) + g["n"]
    return sorted(out.values(), key=lambda v: (v["township_id"], v["village_id"]))


def score_history(engine: Engine, hh_id: str) -> list[dict]:
    """A household's stored scores over the years (one per year: the latest scoring)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                scores.c.year,
                scores.c.model_version,
                scores.c.status,
                scores.c.label,
                scores.c.probability,
                scores.c.tier,
                scores.c.scored_at,
            )
            .where(scores.c.hh_id == hh_id)
            .order_by(scores.c.year, scores.c.scored_at)
        ).mappings()
        by_year = {r["year"]: dict(r) for r in rows}
    return [by_year[y] for y in sorted(by_year)]
