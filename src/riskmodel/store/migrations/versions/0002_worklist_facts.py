"""The 台账's facts on every score row: warning source, household type and size, monitoring
category, year identified, income and the year's line, the recorded risk type.

A store created after these columns were added but before migrations already has them: each
column is added only where it is missing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

COLUMNS = [
    ("warning_source", sa.String(32), False),
    ("household_type", sa.String(32), True),
    ("hh_size", sa.Integer, True),
    ("monitor_category", sa.String(32), True),
    ("identified_year", sa.Integer, True),
    ("net_income_pc", sa.Float, True),
    ("monitor_line", sa.Float, True),
    ("recorded_risk_type", sa.String(32), True),
]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in ("scores", "preview_scores"):
        have = {c["name"] for c in inspector.get_columns(table)}
        with op.batch_alter_table(table) as batch:
            for name, kind, nullable in COLUMNS:
                if name in have:
                    continue
                batch.add_column(
                    sa.Column(
                        name, kind, nullable=nullable, server_default=None if nullable else ""
                    )
                )
        if "warning_source" not in have:  # the default served the rows already there
            with op.batch_alter_table(table) as batch:
                batch.alter_column(
                    "warning_source", existing_type=sa.String(32), server_default=None
                )


def downgrade() -> None:
    for table in ("scores", "preview_scores"):
        with op.batch_alter_table(table) as batch:
            for name, _, _ in reversed(COLUMNS):
                batch.drop_column(name)
