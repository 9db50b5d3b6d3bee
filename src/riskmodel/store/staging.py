"""Partitions of a distributed run: each township's rows staged (replaced whole when its task is
retried), then moved into the batch in one transaction when every township is in. Readers never
see staged rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from riskmodel.store.queries import _bulk_insert, _tuples, now
from riskmodel.store.schema import SCORE_COLUMNS, SERVICE, TABLES, batches, runs, staged


@dataclass(frozen=True)
class StagedRows:
    """What a job's tasks staged: households, villages, and the latest time a row was scored."""

    households: int
    villages: int
    scored_at: datetime | None


def stage_partition(engine: Engine, job: str, township: str, rows: pd.DataFrame) -> int:
    """Write one partition of `job`, replacing what an earlier attempt of it wrote."""
    data = [(job, *row) for row in _tuples(rows)]
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":  # other workers' partitions hold the lock meanwhile
            conn.exec_driver_sql("PRAGMA busy_timeout=600000")
        conn.execute(staged.delete().where(staged.c.job == job, staged.c.township_id == township))
        _bulk_insert(conn, staged.name, ["job", *SCORE_COLUMNS], data)
    return len(data)


def staged_counts(engine: Engine, job: str) -> dict[str, int]:
    """Rows staged by `job`, by township."""
    with engine.connect() as conn:
        q = (
            sa.select(staged.c.township_id, sa.func.count())
            .where(staged.c.job == job)
            .group_by(staged.c.township_id)
        )
        return {t: int(n) for t, n in conn.execute(q)}


def drop_staged(engine: Engine, year: int, model_version: str) -> None:
    """Forget the staged partitions of every unfinished run of a batch (killed runs)."""
    with engine.begin() as conn:
        conn.execute(
            staged.delete().where(staged.c.year == year, staged.c.model_version == model_version)
        )


def commit_staged(
    engine: Engine,
    job: str,
    year: int,
    model_version: str,
    run_id: str,
    features: list[str],
    staged_rows: StagedRows,
    area: str = SERVICE,
    run: dict | None = None,
) -> dict[str, int]:
    """Make the staged rows of `job` the batch for (year, model_version) in `area`, in one
    transaction (readers see the old batch or the new one), recording the run; return what
    changed: households scored and in the batch, replaced, added and dropped. `staged_rows`
    says what the job staged (its tasks counted it; the caller has checked the counts)."""
    table = TABLES[area]
    names = ", ".join(SCORE_COLUMNS)
    old = (table.c.year == year) & (table.c.model_version == model_version)
    scored, villages = staged_rows.households, staged_rows.villages
    with engine.begin() as conn:
        stored = conn.execute(sa.select(sa.func.count()).where(old)).scalar_one()
        replaced = 0
        if stored:
            new = sa.select(staged.c.hh_id).where(staged.c.job == job)
            both = sa.intersect(new, sa.select(table.c.hh_id).where(old)).subquery()
            replaced = conn.execute(sa.select(sa.func.count()).select_from(both)).scalar_one()
        scored_at = staged_rows.scored_at
        conn.execute(table.delete().where(old))
        conn.execute(
            batches.delete().where(batches.c.year == year, batches.c.model_version == model_version)
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staged.name} "
                "WHERE job = :job ORDER BY id"
            ),
            {"job": job},
        )
        conn.execute(staged.delete().where(staged.c.job == job))
        scored_at = scored_at or now()
        conn.execute(
            batches.insert(),
            [
                {
                    "year": year,
                    "model_version": model_version,
                    "run_id": run_id,
                    "features": ",".join(features),
                    "rows": scored,
                    "scored_at": scored_at,
                }
            ],
        )
        change = {
            "households_scored": scored,
            "villages_scored": villages,
            "added": scored - replaced,
            "replaced": replaced,
            "kept": 0,
            "dropped": stored - replaced,
            "batch_households": scored,
            "batch_villages": villages,
        }
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
                        **change,
                    }
                ],
            )
    return change
