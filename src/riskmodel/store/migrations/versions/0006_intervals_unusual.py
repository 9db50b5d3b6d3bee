"""Probabilities a county can plan with: each score's 90% interval (riskmodel.interval) and the
unusual-household flag with its reasons (riskmodel.support). Rows scored before have neither."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TABLES = ("scores", "preview_scores", "staged_scores")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("probability_low", sa.Float, nullable=True))
            batch.add_column(sa.Column("probability_high", sa.Float, nullable=True))
            batch.add_column(
                sa.Column("unusual", sa.Boolean, nullable=False, server_default=sa.false())
            )
            batch.add_column(sa.Column("unusual_zh", sa.Text, nullable=False, server_default=""))
            batch.add_column(sa.Column("unusual_en", sa.Text, nullable=False, server_default=""))
        with op.batch_alter_table(table) as batch:  # the defaults served the rows already there
            batch.alter_column("unusual", existing_type=sa.Boolean, server_default=None)
            batch.alter_column("unusual_zh", existing_type=sa.Text, server_default=None)
            batch.alter_column("unusual_en", existing_type=sa.Text, server_default=None)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name in (
                "unusual_en",
                "unusual_zh",
                "unusual",
                "probability_high",
                "probability_low",
            ):
                batch.drop_column(name)
