"""The MLflow tracking store, apart from the models: the client pointed at the configured URI,
a SQLite store's artifacts kept beside it, experiments found or created. Imports MLflow but not
the model, pandas or numba, so a process that only logs (the monitoring run) starts light."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from riskmodel.config import tracking_uri

log = logging.getLogger(__name__)


def connect() -> MlflowClient:
    """Point MLflow at the configured tracking URI (done at call time, never at import)."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        anchor_artifacts(Path(uri.removeprefix("sqlite:///")))
    return MlflowClient()


# MLflow stores absolute artifact locations; these columns hold them (experiments, runs, logged
# models, registered versions).
_LOCATION_COLUMNS = {
    "experiments": ["artifact_location"],
    "runs": ["artifact_uri"],
    "logged_models": ["artifact_location"],
    "model_versions": ["source", "storage_location"],
}


def anchor_artifacts(db: Path) -> int:
    """Keep a SQLite tracking store's artifacts in the `mlartifacts/` folder beside it.

    MLflow records absolute artifact locations, so a copy of `mlflow.db` and `mlartifacts/` would
    read and write the original's artifacts. When the experiments' `.../mlartifacts` location is
    not the one beside this database, every recorded location under it is moved to this one (the
    copy then reads its own files and new runs write into it). Returns the rows changed."""
    import sqlalchemy as sa

    if not db.exists():
        return 0
    here = artifact_root().as_uri()
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            if "experiments" not in tables:
                return 0
            roots = {
                loc
                for (loc,) in conn.execute(sa.text("SELECT artifact_location FROM experiments"))
                if loc and loc.rstrip("/").endswith("/mlartifacts") and loc.rstrip("/") != here
            }
            changed = 0
            for old in (r.rstrip("/") for r in roots):
                for table, columns in _LOCATION_COLUMNS.items():
                    if table not in tables:
                        continue
                    for col in columns:
                        changed += conn.execute(
                            sa.text(
                                f"UPDATE {table} SET {col} = :new || substr({col}, :n) "
                                f"WHERE {col} = :old OR substr({col}, 1, :n) = :old || '/'"
                            ),
                            {"new": here, "old": old, "n": len(old) + 1},
                        ).rowcount
            if changed:
                log.warning(
                    "tracking store %s was copied: %d artifact locations moved to %s",
                    db,
                    changed,
                    here,
                )
            return changed
    finally:
        engine.dispose()


def _experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root().as_uri())


def artifact_root() -> Path:
    """Artifacts beside the SQLite tracking database (`mlartifacts/`), else in the working dir."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts"
    return Path.cwd() / "mlartifacts"
