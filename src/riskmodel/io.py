"""Atomic file output: write beside the target, then rename, so readers never see half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto the target on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


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


def read_panel(path: Path) -> pd.DataFrame:
    """Read a panel from Parquet or CSV (a county export), by extension."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"hh_id": str, "township_id": str, "village_id": str})
    raise ValueError(f"{path}: expected a .parquet or .csv file")
