"""Our TreeSHAP against shap.TreeExplainer (the reference) and against the model's own score."""

import lightgbm as lgb
import numpy as np
import pytest
import shap

from riskmodel.treeshap import TreeShap


def _booster(params: dict, seed: int = 0) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3000
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 6, n).astype(float),
            rng.exponential(size=n),
            rng.integers(0, 2, n).astype(float),
            np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n)),
        ]
    )
    X[rng.random(n) < 0.1, 0] = np.nan
    logit = X[:, 0] * 0.8 + (X[:, 1] == 3) * 1.2 - X[:, 2] + 0.5 * X[:, 3] * X[:, 4]
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit)))).astype(int)
    data = lgb.Dataset(X, y, categorical_feature=[1], free_raw_data=False)
    base = {"objective": "binary", "verbosity": -1, "seed": seed, "num_threads": 1}
    return lgb.train(base | params, data, num_boost_round=60), X


SPLITS = [
    {"num_leaves": 7},
    {"num_leaves": 31, "max_depth": 8, "min_data_in_leaf": 5},
    {"num_leaves": 15, "zero_as_missing": True},
    {"num_leaves": 15, "max_cat_to_onehot": 1, "min_data_per_group": 5, "cat_smooth": 1},
    {"num_leaves": 4, "use_missing": False},
]
"""Boosters whose splits exercise every kind of node: numeric, missing as zero, categorical."""


def _hard_rows(X: np.ndarray) -> np.ndarray:
    """500 rows with the categorical column's edge cases in the first five."""
    X_test = X[:500].copy()
    X_test[0, 1] = 9  # a category never seen in training
    X_test[1, 1] = np.nan
    X_test[2:5, 1] = -1, -0.5, 2.7  # negative goes right; -0.5 and 2.7 truncate to 0 and 2
    return X_test


@pytest.mark.parametrize("params", SPLITS)
def test_contributions_equal_shap_tree_explainer(params):
    booster, X = _booster(params)
    X_test = _hard_rows(X)

    ours = TreeShap(booster).contributions(X_test)
    few = TreeShap(booster).contributions(X_test[:20])  # the serial kernel
    reference = np.asarray(shap.TreeExplainer(booster).shap_values(X_test))

    np.testing.assert_allclose(ours[:, :-1], reference, atol=1e-6)
    np.testing.assert_allclose(few[:, :-1], reference[:20], atol=1e-6)


def test_contributions_plus_base_equal_the_raw_score():
    booster, X = _booster({"num_leaves": 15})

    ours = TreeShap(booster).contributions(X)

    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [*SPLITS, {"num_leaves": 7, "min_data_in_leaf": 2000}],  # one leaf: the constant alone
)
def test_walking_the_trees_gives_lightgbm_raw_score(params, tmp_path):
    booster, X = _booster(params)
    X_test = _hard_rows(X)
    TreeShap(booster).save(tmp_path / "t.npz")

    loaded = TreeShap.load(tmp_path / "t.npz")
    ours = loaded.raw_score(X_test)  # the parallel kernel
    few = loaded.raw_score(X_test[:20])  # the serial one

    reference = booster.predict(X_test, raw_score=True)
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    np.testing.assert_allclose(few, reference[:20], atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [*SPLITS, {"num_leaves": 7, "min_data_in_leaf": 2000}],  # one leaf: the constant alone
)
def test_the_explaining_pass_gives_the_walks_raw_score_to_the_bit(params):
    booster, X = _booster(params)
    X_test = _hard_rows(X)
    ts = TreeShap(booster)

    for rows in (X_test, X_test[:20]):  # the parallel kernel, then the serial one
        contrib, _, raw = ts.explained(rows)

        np.testing.assert_array_equal(raw, ts.raw_score(rows))
        np.testing.assert_allclose(raw, contrib.sum(axis=1), atol=1e-9)


def test_single_rows_and_batches_agree():
    booster, X = _booster({"num_leaves": 7})
    ts = TreeShap(booster)

    batch = ts.contributions(X[:300])
    singles = np.vstack([ts.contributions(X[i : i + 1]) for i in range(300)])

    np.testing.assert_allclose(singles, batch, atol=1e-12)


def test_saved_tables_give_the_same_values(tmp_path):
    booster, X = _booster({"num_leaves": 7})
    ts = TreeShap(booster)
    ts.save(tmp_path / "t.npz")

    again = TreeShap.load(tmp_path / "t.npz")

    np.testing.assert_array_equal(again.contributions(X[:200]), ts.contributions(X[:200]))


def test_wrong_width_is_refused():
    booster, X = _booster({"num_leaves": 7})

    with pytest.raises(ValueError, match="columns"):
        TreeShap(booster).contributions(X[:, :3])


def test_champion_style_model_matches_shap(trained):
    model, panel = trained
    from riskmodel.features import build_features

    records = build_features(panel[panel["year"] >= 2023])
    X = model.matrix(records[records["year"] == 2025])

    ours = model.contributions(X)
    reference = np.asarray(shap.TreeExplainer(model.booster).shap_values(X))

    np.testing.assert_allclose(ours[:, :-1], reference, atol=1e-6)
    np.testing.assert_allclose(
        ours.sum(axis=1), model.booster.predict(X, raw_score=True), atol=1e-6
    )


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 7, "lambda_l2": 1.0, "learning_rate": 0.05},
        {"num_leaves": 15, "learning_rate": 0.1},
    ],
)
def test_raw_score_variance_sums_the_reached_leaves_as_lightgbm_places_the_rows(params):
    """Each row's variance against LightGBM's own leaf placement (pred_leaf) and the leaves'
    hessian sums from its JSON dump: sum over trees of lr^2 H / (H + l2)^2."""
    booster, X = _booster(params)
    X_test = X[:400].copy()
    X_test[0, 1], X_test[1, 0] = 9, np.nan

    _, ours = TreeShap(booster).contributions_and_variance(X_test)

    leaves = booster.predict(X_test, pred_leaf=True)
    l2 = params.get("lambda_l2", 0.0)
    expected = np.zeros(len(X_test))
    for t, tree in enumerate(booster.dump_model()["tree_info"]):
        weight = {}
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "leaf_index" in node:
                weight[node["leaf_index"]] = node["leaf_weight"]
            else:
                stack += [node["left_child"], node["right_child"]]
        if len(weight) < 2:
            continue
        h = np.array([weight[i] for i in leaves[:, t]])
        expected += params["learning_rate"] ** 2 * h / (h + l2) ** 2
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
