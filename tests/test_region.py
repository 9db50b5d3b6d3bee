"""The province-size region: townships simulated in parallel into a hive-partitioned dataset."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.dataset as ds
import pytest

from riskmodel.simulate import SimulationConfig, simulate
from riskmodel.simulate.region import (
    MANIFEST,
    RegionConfig,
    partitions,
    read_partition,
    write_region,
)
from riskmodel.validate import validate_panel


def test_the_panel_is_the_same_without_the_oracle():
    cfg = SimulationConfig(
        households=150, first_year=2019, townships=2, villages=4, poor_villages=1, seed=11
    )

    with_oracle, without = simulate(cfg), simulate(cfg, oracle=False)

    pd.testing.assert_frame_equal(with_oracle.panel, without.panel)
    assert len(with_oracle.oracle) > 0 and len(without.oracle) == 0


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    cfg = RegionConfig(households=330, townships=3, first_year=2022, seed=5)
    out = tmp_path_factory.mktemp("region")
    return cfg, out, write_region(cfg, out, workers=2)


def test_region_is_a_hive_dataset_of_valid_townships(region):
    cfg, out, manifest = region

    panel = ds.dataset(out / "panel", partitioning="hive").to_table().to_pandas()

    assert sorted(panel["township_id"].astype(str).unique()) == ["T0001", "T0002", "T0003"]
    assert not panel.duplicated(["hh_id", "year"]).any()
    exited = panel.drop_duplicates("hh_id")["household_type"].eq("exited").sum()
    assert exited == cfg.households
    assert manifest["household_years"] == len(panel)
    assert json.loads((out / MANIFEST).read_text())["households"] == panel["hh_id"].nunique()
    assert len(validate_panel(panel).quarantined) == 0
    oracle = ds.dataset(out / "oracle", partitioning="hive").to_table().to_pandas()
    assert set(oracle["hh_id"]) <= set(panel["hh_id"]) and len(oracle) > 0


def test_region_does_not_depend_on_the_number_of_processes(region, tmp_path):
    cfg, out, _ = region

    write_region(cfg.model_copy(update={"oracle": False}), tmp_path, workers=1)

    for township, files in partitions(out).items():
        again = partitions(tmp_path)[township]
        pd.testing.assert_frame_equal(
            read_partition(files, township), read_partition(again, township)
        )
    assert not (tmp_path / "oracle").exists()


def test_a_township_partition_reads_back_with_its_township(region):
    _, out, _ = region

    parts = partitions(out)
    t2 = read_partition(parts["T0002"], "T0002")

    assert list(parts) == ["T0001", "T0002", "T0003"]
    assert (t2["township_id"] == "T0002").all()
    assert t2["village_id"].str.startswith("T0002-").all()
    assert list(t2.columns[:4]) == ["hh_id", "year", "township_id", "village_id"]


def test_too_many_townships_for_the_households_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fewer than 50 per township"):
        write_region(RegionConfig(households=100, townships=3), tmp_path)
