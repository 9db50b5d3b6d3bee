"""The store's tables as this release uses them (SQLAlchemy Core).

The database itself is changed only by the migrations in `migrations/versions/` (Alembic); a
change here comes with a migration that makes the same change, and `tests/test_store.py` checks
that a store migrated from the first revision matches these tables exactly.
"""

from __future__ import annotations

import sqlalchemy as sa

from riskmodel.rules import RULES

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
        sa.Column("probability_low", sa.Float, nullable=True),
        sa.Column("probability_high", sa.Float, nullable=True),
        sa.Column("unusual", sa.Boolean, nullable=False, default=False),
        sa.Column("unusual_zh", sa.Text, nullable=False, default=""),
        sa.Column("unusual_en", sa.Text, nullable=False, default=""),
        sa.Column("head_name", sa.String(32), nullable=True),  # masked only (privacy.mask_name)
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

staged = sa.Table(
    "staged_scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    *_score_columns(),
    sa.Index("ix_staged_scores_job", "job", "township_id"),
)
"""Partitions of a distributed run, written one by one (each replaced whole when retried) and
moved into its batch in one transaction when every partition is in; the API never reads them."""

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
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("hh_id", sa.String(64), nullable=True),
    sa.Column("village_id", sa.String(64), nullable=True),
    sa.Column("model_version", sa.String(32), nullable=True),
    sa.Column("user_id", sa.Integer, nullable=True),
)
"""Every household- or village-level read: by an API key (`key_id`) or a signed-in user."""

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("township_id", sa.String(64), nullable=True),
    sa.Column("village_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
)
"""The web app's accounts (`riskmodel users create`); passwords stored as argon2 hashes."""

sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_web_sessions_user", "user_id"),
)
"""Signed-in sessions: the SHA-256 of the cookie's token, and the session's CSRF token."""

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hh_id", sa.String(64), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("village_id", sa.String(64), nullable=False),
    sa.Column("township_id", sa.String(64), nullable=False),
    sa.Column("visited_on", sa.Date, nullable=False),
    sa.Column("cadre", sa.String(64), nullable=False),
    sa.Column("verification", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("risk_types", sa.String(200), nullable=False),
    sa.Column("measures", sa.Text, nullable=False),
    sa.Column("risk_eliminated", sa.Boolean, nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_visits_hh", "hh_id", "year"),
    sa.Index("ix_visits_village", "village_id", "year"),
)
"""Verification visits, keyed to household and year (kept across re-scoring, never in a batch)."""

monitor_runs = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("quick", sa.Boolean, nullable=False),
    sa.Column("households", sa.Integer, nullable=False),
    sa.Column("psi_max", sa.Float, nullable=False),
    sa.Column("psi_max_feature", sa.String(64), nullable=False),
    sa.Column("score_psi", sa.Float, nullable=False),
    sa.Column("estimated_auc", sa.Float, nullable=True),
    sa.Column("estimated_auc_low", sa.Float, nullable=True),
    sa.Column("estimated_auc_high", sa.Float, nullable=True),
    sa.Column("estimated_recall", sa.Float, nullable=True),
    sa.Column("expected_positives", sa.Float, nullable=True),
    sa.Column("realised_auc", sa.Float, nullable=True),
    sa.Column("realised_recall", sa.Float, nullable=True),
    sa.Column("observed_positives", sa.Integer, nullable=True),
    sa.Column("alarm", sa.Boolean, nullable=False),
    sa.Column("recommendation", sa.Text, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("mlflow_run_id", sa.String(64), nullable=True),
    sa.Index("ix_monitor_runs_version_year", "model_name", "model_version", "year"),
)
"""One row per batch monitored (and per past batch re-checked once its labels arrived)."""

SCORE_COLUMNS = [c.name for c in scores.columns if c.name != "id"]
NULLABLE = [c.name for c in scores.columns if c.nullable and c.name != "id"]
"""Columns whose missing values (NaN, None) are written as NULL."""
NULLABLE_INTEGERS = [c for c in NULLABLE if isinstance(scores.c[c].type, sa.Integer)]
"""Read back with NULLs they are floats (2025.0): written as integers again."""
