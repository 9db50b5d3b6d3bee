"""Users and sessions of the web app, verification visits; audit rows name a key or a user."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("township_id", sa.String(64), nullable=True),
        sa.Column("village_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_table(
        "visits",
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
    )
    op.create_index("ix_visits_hh", "visits", ["hh_id", "year"])
    op.create_index("ix_visits_village", "visits", ["village_id", "year"])
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("user_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("user_id")
        batch.alter_column("key_id", existing_type=sa.String(32), nullable=False)
    op.drop_table("visits")
    op.drop_table("web_sessions")
    op.drop_table("users")
