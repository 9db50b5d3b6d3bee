"""Stable ranks (riskmodel.stability): tier changes and worklist overlaps against direct counts,
between two stored batches, and between a challenger and its champion at training time."""

import numpy as np
import pandas as pd
import pytest

from riskmodel.score import run_batch
from riskmodel.stability import compare


def _batch(rng, n: int, villages: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hh_id": [f"H{i:05d}" for i in range(n)],
            "village_id": [f"V{i % villages}" for i in range(n)],
            "tier": rng.choice(["red", "amber", "green", None], n, p=[0.1, 0.2, 0.6, 0.1]),
            "on_worklist": rng.random(n) < 0.15,
        }
    )


def _direct(before: pd.DataFrame, after: pd.DataFrame) -> tuple[float, dict, dict]:
    """Tier change share, changes by kind and each village's overlap, by plain loops and sets."""
    b = {r.hh_id: r for r in before.itertuples()}
    same = changed = 0
    kinds: dict[str, int] = {}
    lists: dict[str, tuple[set, set]] = {}
    for r in after.itertuples():
        if r.hh_id not in b:
            continue
        old = b[r.hh_id]
        if pd.notna(old.tier) and pd.notna(r.tier):
            if old.tier == r.tier:
                same += 1
            else:
                changed += 1
                kinds[f"{old.tier}->{r.tier}"] = kinds.get(f"{old.tier}->{r.tier}", 0) + 1
        first, second = lists.setdefault(r.village_id, (set(), set()))
        if old.on_worklist:
            first.add(r.hh_id)
        if r.on_worklist:
            second.add(r.hh_id)
    overlap = {v: len(a & c) / len(a | c) for v, (a, c) in lists.items() if a | c}
    return changed / (same + changed), kinds, overlap


def test_tier_changes_and_worklist_overlaps_match_a_direct_count():
    rng = np.random.default_rng(4)
    before = _batch(rng, 3000, 40)
    after = _batch(rng, 3000, 40).iloc[200:]  # households gone and (below) new ones
    after = pd.concat([after, _batch(rng, 3300, 40).iloc[3000:]])
    after.loc[after.index[:1500], "tier"] = (
        before.set_index("hh_id").loc[after["hh_id"].iloc[:1500], "tier"].to_numpy()
    )  # half keep their tier

    got = compare(before, after)

    share, kinds, overlap = _direct(before, after)
    assert got["tier_changed_share"] == pytest.approx(share)
    assert got["tier_changes"] == kinds
    assert got["households"] == 2800 + 0  # the new ones have no earlier batch row
    assert got["worklist_overlap_mean"] == pytest.approx(np.mean(list(overlap.values())))
    assert got["worklist_overlap_min"] == pytest.approx(min(overlap.values()))
    assert got["villages_below"] == sum(v < 0.5 for v in overlap.values())


def test_a_batch_against_itself_is_perfectly_stable():
    b = _batch(np.random.default_rng(1), 500, 7)
    got = compare(b, b)
    assert got["tier_changed_share"] == 0 and got["worklist_overlap_min"] == 1


def test_each_batch_is_compared_with_the_previous_one_in_the_store(
    trained, training_county, tmp_path, db_url
):
    model, _ = trained
    first = run_batch(training_county, tmp_path / "a", db_url, model, "7", "r1", year=2024)
    second = run_batch(training_county, tmp_path / "b", db_url, model, "7", "r2", year=2025)

    assert first.stability is None
    (year, version), got = second.stability
    assert (year, version) == (2024, "7")
    share, _, overlap = _direct(first.rows, second.rows)
    assert got["tier_changed_share"] == pytest.approx(share)
    assert got["worklist_overlap_mean"] == pytest.approx(np.mean(list(overlap.values())))
    assert 0 < got["tier_changed_share"] < 0.5


def test_training_reports_what_replacing_the_champion_would_change(trained, fast_config):
    from riskmodel.train import evaluate, labelled_records, load_panel, split_by_year

    model, _ = trained
    panel, _ = load_panel(fast_config.data)
    split = split_by_year(labelled_records(panel, "meets_criteria"), None)

    itself = evaluate(model, split, panel, fast_config, champion=model).metrics

    assert itself["champion_tier_changed_share"] == 0
    assert itself["champion_worklist_overlap_min"] == 1
