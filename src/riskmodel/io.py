"""Atomic file output: write beside the target, flush it to disk, then rename, so readers never
see half a file and a crash never leaves a renamed file whose data is not on disk.

Temporary files are hidden and carry the writing process's id (`.NAME.PID.XXXX.tmp`); those of a
process that no longer runs (a killed run) are removed by the next write into the same folder.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success flush it to disk and rename it
    onto the target (then flush the folder, so the rename itself survives a crash)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o644)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, target)
        _fsync(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove our hidden temporary files in `folder` whose writing process is gone."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        m = _TEMPORARY.match(path.name)
        if m and not _running(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d temporary files left by killed runs in %s", len(removed), folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write(target: Path, writer: Callable[[Path], None]) -> Path:
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_parquet(df: pd.DataFrame, target: Path) -> Path:
    return _write(target, lambda p: df.to_parquet(p, index=False))


def write_csv(df: pd.DataFrame, target: Path) -> Path:
    return _write(target, lambda p: df.to_csv(p, index=False))


def write_text(text: str, target: Path) -> Path:
    return _write(target, lambda p: p.write_text(text, encoding="utf-8"))


PANEL_NAMES = ("panel.parquet", "panel.csv")


def panel_file(data: Path) -> Path:
    """The panel a `--data` argument means: the file itself, or a folder's panel.parquet (else
    panel.csv)."""
    data = Path(data)
    if not data.is_dir():
        if not data.exists():
            raise FileNotFoundError(f"no such file or folder: {data}")
        return data
    for name in PANEL_NAMES:
        if (data / name).exists():
            return data / name
    raise FileNotFoundError(
        f"no panel in {data} (looked for {' and '.join(PANEL_NAMES)}); "
        "run `riskmodel simulate` or put a county export there"
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_panel(path: Path, first_year: int | None = None) -> pd.DataFrame:
    """Read a panel from Parquet or CSV (a county export), by extension; with `first_year`,
    its rows from that year on only (a Parquet file with integer years filters them as it reads,
    before they become a data frame)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".parquet":
        panel = pd.read_parquet(path, filters=_from_year(path, first_year))
    elif path.suffix == ".csv":
        panel = pd.read_csv(path, dtype={"hh_id": str, "township_id": str, "village_id": str})
    else:
        raise ValueError(f"{path}: expected a .parquet or .csv file")
    if first_year is None:
        return panel
    return panel[panel["year"].astype(int) >= first_year].reset_index(drop=True)


def _from_year(path: Path, first_year: int | None) -> list[tuple] | None:
    """Parquet's row filter for `first_year` on, where the file's years are integers."""
    import pyarrow.parquet as pq
    import pyarrow.types as pt

    if first_year is None:
        return None
    schema = pq.read_schema(path)
    if "year" not in schema.names or not pt.is_integer(schema.field("year").type):
        return None
    return [("year", ">=", first_year)]
