"""Alembic environment: migrations run on the connection `riskmodel.store.migrate` passes in
(inside its lock and transaction); there is no alembic.ini and no offline mode."""

from alembic import context

from riskmodel.store.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
