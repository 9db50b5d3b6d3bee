"""The store's migrations: an empty store and a store of release 0.1.0 reach this release's schema
(checked against `riskmodel.store.schema` with Alembic's compare) on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.store import (
    StoreSchemaError,
    current_revision,
    engine_for,
    head_revision,
    metadata,
    open_engine,
)
from riskmodel.store.migrate import MIGRATIONS, _config

RELEASE_0_1_0 = Path(__file__).parent / "data" / "store_0.1.0.{dialect}.sql"
"""The DDL release 0.1.0 ran (metadata.create_all), one file per dialect."""


def _differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def _create_release_0_1_0(engine) -> None:
    ddl = RELEASE_0_1_0.with_name(
        RELEASE_0_1_0.name.format(dialect=engine.dialect.name)
    ).read_text()
    with engine.begin() as conn:
        for statement in ddl.split(";\n"):
            lines = [ln for ln in statement.splitlines() if not ln.startswith("--")]
            if "".join(lines).strip():
                conn.exec_driver_sql("\n".join(lines))
        at = datetime(2025, 12, 1, tzinfo=UTC)
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (key_id, key_hash, role, township_id, created_at, revoked) "
                "VALUES ('k1', 'h1', 'township', 'T01', :at, false)"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, key_id, endpoint, hh_id) "
                "VALUES (:at, 'k1', '/v1/households/{hh_id}', 'H1')"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO score_batches (year, model_version, run_id, features, rows, "
                "scored_at) VALUES (2025, '3', 'r1', 'a,b', 0, :at)"
            ),
            {"at": at},
        )


def test_empty_store_is_created_at_the_newest_revision(db_url):
    engine = engine_for(db_url)

    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []


def test_store_of_release_0_1_0_is_upgraded_keeping_its_rows(db_url, monkeypatch):
    old = open_engine(db_url)
    _create_release_0_1_0(old)
    assert current_revision(old) is None
    monkeypatch.setenv("RISKMODEL_DB_URL", db_url)

    first = CliRunner().invoke(app, ["db", "upgrade"])
    again = CliRunner().invoke(app, ["db", "upgrade"])

    assert first.exit_code == 0, first.output
    assert f"from revision none to {head_revision()}" in first.output
    assert again.exit_code == 0 and "is at revision" in again.output
    assert current_revision(old) == head_revision()
    assert _differences(old) == []
    with old.connect() as conn:
        assert conn.execute(sa.text("SELECT role, township_id FROM api_keys")).all() == [
            ("township", "T01")
        ]
        assert conn.execute(sa.text("SELECT hh_id FROM audit_log")).scalars().all() == ["H1"]
        assert conn.execute(sa.text("SELECT run_id FROM score_batches")).scalars().all() == ["r1"]


def test_store_older_than_release_0_1_0_is_refused_naming_the_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scores (id INTEGER PRIMARY KEY, hh_id VARCHAR(64))")

    with pytest.raises(StoreSchemaError, match=r"scores table lacks village_id, .*data_check"):
        engine_for(url)


def test_store_of_an_unknown_revision_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(StoreSchemaError, match="revision 9999, which this release does not know"):
        engine_for(url)


def test_processes_opening_a_new_store_at_once_migrate_it_once(db_url):
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            engine_for(db_url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert current_revision(open_engine(db_url)) == head_revision()


def test_migration_chain_is_linear_and_numbered():
    script = ScriptDirectory.from_config(_config())
    revisions = list(reversed(list(script.walk_revisions())))

    assert len(script.get_heads()) == 1
    assert [r.revision for r in revisions] == [f"{i:04d}" for i in range(1, len(revisions) + 1)]
    for rev in revisions:
        assert Path(rev.path).name.startswith(f"{rev.revision}_")
        assert Path(rev.path).parent == MIGRATIONS / "versions"
