"""The numpy tree walk gives LightGBM's own predictions."""

import json

import numpy as np
import pytest

from qa.forest import Forest

import lightgbm as lgb  # noqa: E402 - a training dependency, in requirements.txt


def _booster(objective: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 6))
    x[:, 3] = rng.integers(0, 2, size=2000)          # a one-hot column
    y = 1 / (1 + np.exp(-(x[:, 0] * 2 - x[:, 1] + x[:, 3] * x[:, 2])))
    if objective == "regression":
        y = y * 3 - 1
    params = {"objective": objective, "num_leaves": 15, "max_depth": 6, "verbose": -1,
              "num_threads": 1, "seed": seed, "deterministic": True}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=40), rng.normal(size=(500, 6))


@pytest.mark.parametrize("objective", ["cross_entropy", "regression"])
def test_forest_matches_lightgbm(objective):
    booster, x = _booster(objective)
    x[:5] = 0.0   # values exactly on common thresholds' side
    forest = Forest.from_lightgbm(booster.dump_model(), tuple(f"f{i}" for i in range(6)))
    np.testing.assert_allclose(forest.raw(x), booster.predict(x, raw_score=True), rtol=1e-9, atol=1e-9)
    if objective == "cross_entropy":
        np.testing.assert_allclose(forest.predict(x), booster.predict(x), rtol=1e-9, atol=1e-9)


def test_forest_survives_json():
    booster, x = _booster("cross_entropy", seed=1)
    forest = Forest.from_lightgbm(booster.dump_model(), tuple(f"f{i}" for i in range(6)))
    again = Forest.from_dict(json.loads(json.dumps(forest.to_dict())))
    np.testing.assert_array_equal(again.raw(x), forest.raw(x))


def test_forest_checks_the_row_width():
    booster, x = _booster("cross_entropy")
    forest = Forest.from_lightgbm(booster.dump_model(), tuple(f"f{i}" for i in range(6)))
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        forest.raw(x[:, :5])
    assert forest.raw(np.zeros((0, 6))).shape == (0,)



def _one_by_one(forest: Forest, row: np.ndarray) -> float:
    """The plainest reading of the stored trees: walk each from its root."""
    total = 0.0
    for t in range(forest.feature.shape[0]):
        node = 0
        while forest.feature[t, node] >= 0:
            go_left = row[forest.feature[t, node]] <= forest.threshold[t, node]
            node = forest.left[t, node] if go_left else forest.right[t, node]
        total += forest.value[t, node]
    return total


def test_the_shipped_span_ranker_scores_as_its_trees_say():
    from qa.read import load_reader_model

    forest = load_reader_model().span
    rng = np.random.default_rng(0)
    rows = rng.choice([-1.0, 0.0, 0.5, 1.0, 3.0, 99.0], size=(200, len(forest.features)))
    rows += rng.normal(scale=0.3, size=rows.shape) * rng.integers(0, 2, size=rows.shape)
    rows[0] = np.nan   # goes right at every split, as LightGBM's "x <= threshold" fails
    np.testing.assert_allclose(forest.raw(rows), [_one_by_one(forest, r) for r in rows],
                               rtol=1e-12, atol=1e-12)
