import pandas as pd
from typer.testing import CliRunner

from riskmodel.cli import app

runner = CliRunner()


def test_simulate_writes_panel_oracle_and_datacard(tmp_path):
    result = runner.invoke(
        app, ["simulate", "--out", str(tmp_path), "--seed", "5", "--households", "300"]
    )

    assert result.exit_code == 0, result.output
    for name in ("panel.parquet", "oracle.parquet", "DATACARD.md"):
        assert (tmp_path / name).stat().st_size > 0
    card = (tmp_path / "DATACARD.md").read_text()
    assert "serious illness" in card and "S16" in card
    assert not list(tmp_path.glob(".*.tmp"))


def test_validate_accepts_clean_and_rejects_corrupted_panel(tmp_path, small_county):
    clean = tmp_path / "clean.parquet"
    small_county.panel.to_parquet(clean)
    bad = small_county.panel.copy()
    bad.loc[10, "hh_size"] = -1
    bad_path = tmp_path / "bad.parquet"
    bad.to_parquet(bad_path)

    ok = runner.invoke(app, ["validate", str(clean)])
    rejected = runner.invoke(app, ["validate", str(bad_path)])

    assert ok.exit_code == 0, ok.output
    assert rejected.exit_code == 1
    assert "row 10" in rejected.output and bad.loc[10, "hh_id"] in rejected.output


def test_validate_quarantines_bad_rows_and_passes_good_ones(tmp_path, small_county):
    bad = small_county.panel.copy()
    bad.loc[[4, 9], "head_age"] = 150
    src = tmp_path / "bad.parquet"
    bad.to_parquet(src)

    result = runner.invoke(app, ["validate", str(src), "--quarantine", str(tmp_path / "q.parquet")])

    assert result.exit_code == 0, result.output
    q = pd.read_parquet(tmp_path / "q.parquet")
    good = pd.read_parquet(tmp_path / "q.valid.parquet")
    assert list(q["hh_id"]) == list(bad.loc[[4, 9], "hh_id"])
    assert q["reasons"].str.contains("head_age").all()
    assert len(q) + len(good) == len(bad)


def test_missing_file_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.parquet")])

    assert result.exit_code == 2
    assert "no such file" in result.output
