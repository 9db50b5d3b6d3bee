"""Deployed copies of the champions: the model files of the version an alias points at, with that
version and a checksum, so that batch jobs and the API resolve a champion without importing
MLflow (about 1.3 s of imports and 0.7 s of queries before a row is read).

`promote`, `models rollback` and every load through MLflow (the API's hot reload included) write
the copy; a copy is used only when its files match their checksum and the tracking store's alias
still points at its version (read with one SQL query, not through MLflow). Otherwise the model is
loaded through MLflow and the copy rewritten. Layout, beside the tracking store's database:

    models/deployed/<name>/v<version>/      the model's files (never overwritten)
    models/deployed/<name>@<alias>.json     version, run id, checksum (replaced atomically)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from riskmodel.config import tracking_uri
from riskmodel.model import RelapseModel

log = logging.getLogger(__name__)


def deploy_root() -> Path:
    """RISKMODEL_DEPLOY_DIR, else `models/deployed` beside a SQLite tracking store's database,
    else `models/deployed` in the working directory."""
    if os.environ.get("RISKMODEL_DEPLOY_DIR"):
        return Path(os.environ["RISKMODEL_DEPLOY_DIR"])
    uri = tracking_uri()
    base = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else None
    return (base or Path.cwd()) / "models" / "deployed"


def parse_uri(uri: str) -> tuple[str, str, str] | None:
    """(name, alias, version) of `models:/name@alias` (version "") or `models:/name/N` (alias
    ""); None for other URIs."""
    if not uri.startswith("models:/"):
        return None
    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return (name, alias, "") if name and alias and "/" not in name else None
    name, _, version = rest.partition("/")
    return (name, "", version) if name and version.isdigit() else None


def checksum(folder: Path) -> str:
    """SHA-256 over the folder's files, names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _intact(folder: Path, manifest: Path) -> bool:
    """The folder's files match the checksum its manifest recorded."""
    try:
        return checksum(folder) == json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return False


def _write_json(path: Path, content: dict) -> None:
    """Write JSON to `path` atomically (a temporary file beside it, then renamed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(content, f, indent=1)
    os.replace(tmp, path)


def deploy(uri: str, version: str, run_id: str, files: Path, root: Path | None = None) -> Path:
    """Copy a version's model files under the deployed root (once per version, with a manifest
    of its checksum) and, for an alias URI, point the alias at them. Each step is atomic: a
    reader sees the old copy or the new one, whole."""
    parsed = parse_uri(uri)
    if parsed is None:
        raise ValueError(f"only registry URIs (models:/name@alias, models:/name/N), not {uri!r}")
    name, alias, _ = parsed
    root = root or deploy_root()
    folder = root / name / f"v{version}"
    manifest = root / name / f"v{version}.json"
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists() and not _intact(folder, manifest):
        broken = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".v{version}-broken-"))
        os.replace(folder, broken / "files")  # set aside whole, then removed
        manifest.unlink(missing_ok=True)
        shutil.rmtree(broken, ignore_errors=True)
    if not folder.exists():
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".v{version}-"))
        try:
            shutil.copytree(files, tmp, dirs_exist_ok=True)
            os.rename(tmp, folder)  # fails if another process finished first: theirs is kept
        except OSError:
            if not folder.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not manifest.exists():
        _write_json(
            manifest,
            {"name": name, "version": str(version), "run_id": run_id, "sha256": checksum(folder)},
        )
    if alias:
        _write_json(
            root / f"{name}@{alias}.json",
            {
                "name": name,
                "alias": alias,
                "version": str(version),
                "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
    log.info("deployed %s version %s to %s", uri, version, folder)
    return folder


def alias_version(name: str, alias: str) -> str | None:
    """The version the tracking store's alias points at, read with one SQL query (MLflow's own
    table); None when the alias does not exist. Raises LookupError when the tracking store is not
    a database this can read (an MLflow server over HTTP)."""
    uri = tracking_uri()
    query = "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"
    if uri.startswith("sqlite:///"):
        import sqlite3

        path = uri.removeprefix("sqlite:///")
        if not Path(path).exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            try:
                row = conn.execute(query, (name, alias)).fetchone()
            except sqlite3.OperationalError:  # a store without the registry tables yet
                return None
    elif uri.split(":", 1)[0].split("+")[0] in ("postgresql", "mysql", "mssql"):
        import sqlalchemy as sa

        engine = sa.create_engine(uri)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text(query.replace("?", ":n", 1).replace("?", ":a")),
                    {"n": name, "a": alias},
                ).first()
        finally:
            engine.dispose()
    else:
        raise LookupError(f"cannot read aliases from {uri} without MLflow")
    return None if row is None else str(row[0])


def read_deployed(uri: str, root: Path | None = None) -> tuple[RelapseModel, dict] | None:
    """The deployed copy a registry URI names when it is current (an alias still points at its
    version) and intact (its checksum), else None (and why, in the log)."""
    parsed = parse_uri(uri)
    if parsed is None:
        return None
    name, alias, version = parsed
    root = root or deploy_root()
    try:
        if alias:
            pointer = root / f"{name}@{alias}.json"
            if not pointer.exists():
                log.info("no deployed copy of %s", uri)
                return None
            version = json.loads(pointer.read_text())["version"]
            current = alias_version(name, alias)
            if current != version:
                log.info("deployed copy of %s is stale (v%s, alias at v%s)", uri, version, current)
                return None
        manifest_path = root / name / f"v{version}.json"
        if not manifest_path.exists():
            log.info("no deployed copy of %s", uri)
            return None
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError, KeyError, LookupError) as exc:
        log.info("deployed copy of %s not usable: %s", uri, exc)
        return None
    folder = root / name / f"v{version}"
    if not folder.is_dir() or checksum(folder) != manifest.get("sha256"):
        log.warning("deployed copy of %s at %s fails its checksum", uri, folder)
        return None
    meta = {"version": str(version), "run_id": manifest["run_id"], "source": "deployed"}
    return RelapseModel.load(folder), meta


def load(uri: str, alias_uri: str | None = None) -> tuple[RelapseModel, dict]:
    """The model a URI names with its version and run id: the deployed copy when current, else
    through MLflow, and then the copy is written for the next start. `alias_uri` (the alias a
    pinned `uri` was resolved from) is pointed at the version loaded."""
    found = read_deployed(uri)
    if found is None:
        from riskmodel.registry import load_model  # MLflow is imported only here

        model, meta = load_model(uri)
        found = model, meta | {"source": "mlflow"}
    model, meta = found
    writes = [uri] if meta["source"] == "mlflow" else []
    writes += [alias_uri] if alias_uri and alias_uri != uri else []
    for target in writes:
        if model.folder is None or parse_uri(target) is None:
            continue
        try:
            deploy(target, meta["version"], meta["run_id"], model.folder)
        except OSError as exc:  # a read-only deployment still serves
            log.warning("could not write the deployed copy of %s: %s", target, exc)
    return model, meta


def load_optional(uri: str) -> tuple[RelapseModel, dict] | None:
    """Like `load`, but None when the alias or registered model does not exist yet (the
    persistent model before its first promotion); other failures still raise."""
    if not uri:
        return None
    found = read_deployed(uri)
    if found is not None:
        return found
    parsed = parse_uri(uri)
    if parsed is not None and parsed[1]:
        with contextlib.suppress(LookupError):
            if alias_version(parsed[0], parsed[1]) is None:
                log.info("optional model not available: %s has no such alias", uri)
                return None
    from riskmodel.registry import RegistryError  # MLflow is imported only here

    try:
        return load(uri)
    except RegistryError as exc:
        log.info("optional model not available: %s", exc)
        return None


def resolve(uri: str) -> str:
    """The version a URI points at now: for alias URIs from the tracking store's table (no
    MLflow import), else through MLflow."""
    parsed = parse_uri(uri)
    if parsed is not None and parsed[1]:
        with contextlib.suppress(LookupError):
            version = alias_version(parsed[0], parsed[1])
            if version is not None:
                return version
    if parsed is not None and parsed[2]:
        return parsed[2]
    from riskmodel.registry import resolve_version

    return resolve_version(uri)
