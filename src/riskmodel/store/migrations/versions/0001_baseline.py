"""Baseline: the schema of release 0.1.0 (scores, preview scores, batches, runs, keys, audit).

On an empty database it creates the tables; on a store release 0.1.0 created (its tables present,
no revision recorded) it checks each table has the columns below and adopts it as it is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

RULE_FLAGS = [
    "flag_income_below_line",
    "flag_guarantee_failure",
    "flag_medical_over_20k",
    "flag_new_severe_disability",
]


def _score_columns() -> list[sa.Column]:
    return [
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
        *(sa.Column(name, sa.Boolean, nullable=False) for name in RULE_FLAGS),
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
        sa.Column("data_check", sa.Text, nullable=False),
    ]


def _tables() -> dict[str, tuple[list[sa.Column], list[tuple[str, list[str]]]]]:
    """Each table's columns and indexes (name, columns)."""
    out = {}
    for name in ("scores", "preview_scores"):
        out[name] = (
            _score_columns(),
            [
                (f"ix_{name}_batch", ["year", "model_version"]),
                (f"ix_{name}_hh", ["hh_id", "year"]),
                (f"ix_{name}_village", ["village_id", "year"]),
            ],
        )
    out["score_batches"] = (
        [
            sa.Column("year", sa.Integer, primary_key=True),
            sa.Column("model_version", sa.String(32), primary_key=True),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("features", sa.Text, nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        ],
        [],
    )
    out["score_runs"] = (
        [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("year", sa.Integer, nullable=False),
            sa.Column("model_version", sa.String(32), nullable=False),
            sa.Column("model_alias", sa.String(64), nullable=False),
            sa.Column("area", sa.String(16), nullable=False),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("source_digest", sa.String(64), nullable=False),
            *(
                sa.Column(name, sa.Integer, nullable=False)
                for name in (
                    "households_scored",
                    "villages_scored",
                    "added",
                    "replaced",
                    "kept",
                    "dropped",
                    "batch_households",
                    "batch_villages",
                )
            ),
            sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        ],
        [("ix_score_runs_batch", ["year", "model_version", "area"])],
    )
    out["api_keys"] = (
        [
            sa.Column("key_id", sa.String(32), primary_key=True),
            sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("township_id", sa.String(64), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked", sa.Boolean, nullable=False),
        ],
        [],
    )
    out["audit_log"] = (
        [
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("key_id", sa.String(32), nullable=False),
            sa.Column("endpoint", sa.String(200), nullable=False),
            sa.Column("hh_id", sa.String(64), nullable=True),
            sa.Column("village_id", sa.String(64), nullable=True),
            sa.Column("model_version", sa.String(32), nullable=True),
        ],
        [],
    )
    return out


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (columns, indexes) in _tables().items():
        if name in existing:
            have = {c["name"] for c in inspector.get_columns(name)}
            missing = [c.name for c in columns if c.name not in have]
            if missing:
                from riskmodel.store.migrate import StoreSchemaError

                raise StoreSchemaError(
                    f"the store's {name} table lacks {', '.join(missing)} (created by a release "
                    f"before 0.1.0); move the old store aside or drop its {name} table, then "
                    "score again"
                )
            continue
        op.create_table(name, *columns)
        for index, cols in indexes:
            op.create_index(index, name, cols)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
