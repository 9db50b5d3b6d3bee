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


@pytest.mark.parametrize("year_type", ["int32", "int64", "str"])
def test_a_panel_from_a_year_on_is_the_rows_of_those_years(tmp_path, year_type):
    # given a panel with years of the type a county export may carry
    panel = pd.DataFrame(
        {
            "hh_id": ["a", "b", "a", "b", "c", "a"],
            "year": pd.Series([2021, 2021, 2022, 2022, 2023, 2023]).astype(year_type),
            "township_id": pd.Categorical(["T1", "T2", "T1", "T2", "T3", "T1"]),
            "net_income_pc": [1.0, 2.0, 3.0, None, 5.0, 6.0],
        }
    )
    parquet, csv = tmp_path / "panel.parquet", tmp_path / "panel.csv"
    panel.to_parquet(parquet)
    panel.to_csv(csv, index=False)

    # when reading it from 2022 on
    from_parquet = io.read_panel(parquet, first_year=2022)
    from_csv = io.read_panel(csv, first_year=2022)

    # then the rows are those of 2022 and 2023, in order, typed as a full read types them
    expected = io.read_panel(parquet).iloc[2:].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_parquet, expected, check_exact=True)
    assert from_csv["hh_id"].tolist() == ["a", "b", "c", "a"]
    assert from_csv["year"].astype(int).tolist() == [2022, 2022, 2023, 2023]
