import os
import subprocess
import sys

import pandas as pd
import pytest

from riskmodel import io


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_dead_processes_are_removed_at_the_next_write(tmp_path):
    stale = tmp_path / f".scores-2025-v1.parquet.{_dead_pid()}.abc123.tmp"
    live = tmp_path / f".worklist-2025-v1.xlsx.{os.getpid()}.def456.tmp"
    other = tmp_path / ".someone-elses.tmp"
    for p in (stale, live, other):
        p.write_text("partial")

    io.write_text("done", tmp_path / "note.txt")

    assert not stale.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "note.txt").read_text() == "done"


def test_file_and_folder_are_flushed_around_the_rename(tmp_path, monkeypatch):
    events = []
    real_replace = os.replace
    monkeypatch.setattr(
        io.os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
    )
    monkeypatch.setattr(
        io.os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))
    )
    target = tmp_path / "out.csv"

    io.write_csv(pd.DataFrame({"a": [1]}), target)

    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".out.csv."))
    assert events[1][1] == str(target) and events[2][1] == str(tmp_path)


def test_panel_file_finds_parquet_then_csv_and_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"panel\.parquet and panel\.csv"):
        io.panel_file(tmp_path)
    (tmp_path / "panel.csv").write_text("hh_id\n")
    assert io.panel_file(tmp_path) == tmp_path / "panel.csv"
    (tmp_path / "panel.parquet").write_text("")
    assert io.panel_file(tmp_path) == tmp_path / "panel.parquet"
    assert io.panel_file(tmp_path / "panel.csv") == tmp_path / "panel.csv"
