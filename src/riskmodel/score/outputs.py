"""A batch's files: the scores' and the caseload's Parquet and the cadres' workbook, written
beside their targets and renamed into place only when the caller's work inside (the store) has
succeeded.

The workbook (a pure-Python writer, the batch's longest output) is written by a forked process
while the caller writes the store, so the machine's two cores share the batch's last stage."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd

from riskmodel.calibrate import caseload_table
from riskmodel.io import atomic_path
from riskmodel.store import SERVICE
from riskmodel.worklist import write_worklist

PREVIEW_FOLDER = "preview"
"""Preview runs write their files here, inside the output folder."""
STORE_ONLY = ["reasons_json", "contributions"]
"""Columns kept in the store but not in the Parquet file (the API reads them from the store)."""
FORK = sys.platform == "linux"
"""Write the workbook in a forked process (the parent's memory as it is, nothing copied or
pickled); elsewhere, in the caller's process."""


def output_paths(out: Path, year: int, model_version: str, area: str) -> tuple[Path, Path]:
    """The Parquet file and the workbook of a batch."""
    folder = Path(out) / PREVIEW_FOLDER if area != SERVICE else Path(out)
    stem = f"{year}-v{model_version}"
    return folder / f"scores-{stem}.parquet", folder / f"worklist-{stem}.xlsx"


def worklist_title(year: int, model_version: str, area: str) -> str:
    title = f"{year}年防止返贫监测工作清单（模型 v{model_version}）"
    if area != SERVICE:
        title += "（预览，未投入使用）"
    return title


def parquet_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=STORE_ONLY)


@contextmanager
def staged_outputs(
    rows: pd.DataFrame,
    parquet: Path,
    workbook: Path,
    title: str,
    places: dict[str, str] | None = None,
    visits: dict[str, dict] | None = None,
) -> Iterator[Callable[[], None]]:
    """Write the Parquet file and the workbook (township and village names from `places`) to
    temporary files, run the caller's block, then rename all into place; if anything raises,
    the previous files stay whole.

    The block receives `written`: it waits for the workbook (written meanwhile by a forked
    process) and raises if it failed. Call it before committing what the block writes, so a
    workbook that could not be written commits nothing."""
    with (
        atomic_path(parquet) as tmp_parquet,
        atomic_path(caseload_path(parquet)) as tmp_caseload,
        atomic_path(workbook) as tmp_book,
    ):
        caseload = caseload_table(rows)
        args = (rows, tmp_book, title, places, visits, caseload)
        book = Forked("the workbook", write_worklist, *args) if FORK else None
        try:
            parquet_rows(rows).to_parquet(tmp_parquet, index=False)
            caseload.to_parquet(tmp_caseload, index=False)
            if book is None:
                write_worklist(*args)
            written = book.wait if book else lambda: None
            yield written
            written()
        finally:
            if book is not None:
                book.stop()


class Forked:
    """`fn(*args)` in a forked process; `wait` raises what it raised (its type and message),
    naming `what` it was writing.

    The child only computes and writes its own file: it never touches the parent's open
    connections, and leaves with os._exit (no atexit handlers, no flushing the parent's
    buffers twice)."""

    def __init__(self, what: str, fn: Callable[..., object], *args: object):
        self.what = what
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(read)
                gc.disable()  # short-lived: its few cycles are freed at exit
                fn(*args)
                code = 0
            except BaseException as exc:
                os.write(write, f"{type(exc).__name__}: {exc}".encode()[:4000])
            finally:
                os._exit(code)
        os.close(write)
        self.pid: int | None = pid
        self._read = read
        self._failed: str | None = None

    def wait(self) -> None:
        """Wait for the child; raise if it failed (again at every call)."""
        if self.pid is not None:
            with os.fdopen(self._read, "rb") as pipe:
                message = pipe.read().decode(errors="replace")
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            code = os.waitstatus_to_exitcode(status)
            if code:
                self._failed = message or f"exited with {code}"
        if self._failed is not None:
            raise OutputError(f"{self.what} could not be written: {self._failed}")

    def stop(self) -> None:
        """End the child if it still runs (the caller's block failed) and reap it."""
        if self.pid is None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self._read)
        self.pid = None


class OutputError(RuntimeError):
    """A batch's file could not be written; nothing of the batch was committed."""


def caseload_path(parquet: Path) -> Path:
    """The batch's expected caseload per township and village, beside its scores."""
    return Path(parquet).with_name(Path(parquet).name.replace("scores-", "caseload-", 1))
