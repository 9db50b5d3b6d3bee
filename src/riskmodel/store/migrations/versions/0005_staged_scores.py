"""Staged scores: the partitions of a distributed run (`score --engine dask`), moved into their
batch in one transaction when every partition is in."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

RULE_FLAGS = [
    "flag_income_below_line",
    "flag_guarantee_failure",
    "flag_medical_over_20k",
    "flag_new_severe_disability",
]


def upgrade() -> None:
    op.create_table(
        "staged_scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
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
        sa.Column("warning_source", sa.String(32), nullable=False),
        sa.Column("household_type", sa.String(32), nullable=True),
        sa.Column("hh_size", sa.Integer, nullable=True),
        sa.Column("monitor_category", sa.String(32), nullable=True),
        sa.Column("identified_year", sa.Integer, nullable=True),
        sa.Column("net_income_pc", sa.Float, nullable=True),
        sa.Column("monitor_line", sa.Float, nullable=True),
        sa.Column("recorded_risk_type", sa.String(32), nullable=True),
    )
    op.create_index("ix_staged_scores_job", "staged_scores", ["job", "township_id"])


def downgrade() -> None:
    op.drop_table("staged_scores")
