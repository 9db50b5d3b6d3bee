"""The store (SQLAlchemy; SQLite by default, PostgreSQL in production): scored batches, scoring
runs, API keys and the audit trail.

`schema` holds the tables, `migrations/` the Alembic revisions that create and change them,
`migrate` opens a store at the newest revision, `queries` writes and reads scored batches.
"""

from riskmodel.store.migrate import (
    StoreSchemaError,
    current_revision,
    engine_for,
    head_revision,
    open_engine,
    ping,
    upgrade_store,
)
from riskmodel.store.queries import (
    batch_households,
    latest_score,
    now,
    read_batch,
    replace_batch,
    score_runs,
    village_worklist,
)
from riskmodel.store.schema import (
    NULLABLE,
    NULLABLE_INTEGERS,
    PREVIEW,
    SCORE_COLUMNS,
    SERVICE,
    TABLES,
    api_keys,
    audit,
    batches,
    metadata,
    preview_scores,
    runs,
    scores,
)

__all__ = [
    "NULLABLE",
    "NULLABLE_INTEGERS",
    "PREVIEW",
    "SCORE_COLUMNS",
    "SERVICE",
    "TABLES",
    "StoreSchemaError",
    "api_keys",
    "audit",
    "batch_households",
    "batches",
    "current_revision",
    "engine_for",
    "head_revision",
    "latest_score",
    "metadata",
    "now",
    "open_engine",
    "ping",
    "preview_scores",
    "read_batch",
    "replace_batch",
    "runs",
    "score_runs",
    "scores",
    "upgrade_store",
    "village_worklist",
]
