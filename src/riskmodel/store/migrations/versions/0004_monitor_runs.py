"""Monitoring rows: one per batch monitored, and per past batch re-checked once its labels arrived.

A store where `riskmodel monitor` created the table before migrations already has it: it is
created only where it is missing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    if "monitor_runs" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "monitor_runs",
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
    )
    op.create_index(
        "ix_monitor_runs_version_year", "monitor_runs", ["model_name", "model_version", "year"]
    )


def downgrade() -> None:
    op.drop_table("monitor_runs")
