"""Gradient-boosted trees, evaluated with numpy.

The span ranker is fitted with LightGBM (``python -m eval.train_reader``), but
answering a question does not import it: its trees are stored as flat arrays
in ``reader_model.json`` and walked here, all trees at once, one level per
step. ``tests/qa/test_forest.py`` checks the result against LightGBM's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Forest:
    """A sum of regression trees over named features, plus a link function.

    Node arrays have shape ``(trees, nodes)``; a leaf is a node whose
    ``feature`` is -1, and its ``value`` is the tree's output there."""
    features: tuple[str, ...]
    feature: np.ndarray     # int32: the feature a node splits on, -1 for a leaf
    threshold: np.ndarray   # float64: go left when x <= threshold
    left: np.ndarray        # int32: node index of each child (a leaf points to itself)
    right: np.ndarray
    value: np.ndarray       # float64: leaf outputs
    depth: int              # the deepest leaf's depth
    link: str = "sigmoid"   # or "identity"

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """The summed tree outputs for ``rows`` (shape ``(n, len(features))``)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise ValueError(f"rows must have shape (n, {len(self.features)}), got {rows.shape}")
        n, (trees, width) = len(rows), self.feature.shape
        if n == 0:
            return np.zeros(0)
        feature, threshold, left, right, value = self._flat()
        flat_rows = rows.ravel()
        # Node ids are global (tree t's node k is t * width + k); every row starts at each root.
        node = np.broadcast_to(np.arange(trees) * width, (n, trees)).copy()
        base = (np.arange(n) * rows.shape[1])[:, None]
        for _ in range(self.depth):
            f = np.take(feature, node)
            x = np.take(flat_rows, base + np.maximum(f, 0))
            nxt = np.where(x <= np.take(threshold, node), np.take(left, node), np.take(right, node))
            node = np.where(f < 0, node, nxt)
        return np.take(value, node).sum(axis=1)

    def _flat(self):
        """The node arrays as one flat array each, children as global node ids."""
        cached = self.__dict__.get("_flat_cache")
        if cached is None:
            trees, width = self.feature.shape
            offset = (np.arange(trees) * width)[:, None]
            cached = (self.feature.ravel(), self.threshold.ravel(),
                      (self.left + offset).ravel(), (self.right + offset).ravel(), self.value.ravel())
            object.__setattr__(self, "_flat_cache", cached)
        return cached

    def __eq__(self, other) -> bool:
        return isinstance(other, Forest) and (self.features, self.depth, self.link) == (
            other.features, other.depth, other.link) and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("feature", "threshold", "left", "right", "value"))

    __hash__ = object.__hash__

    def predict(self, rows: np.ndarray) -> np.ndarray:
        z = self.raw(rows)
        if self.link == "identity":
            return z
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "depth": self.depth, "link": self.link,
                "feature": self.feature.tolist(), "threshold": self.threshold.tolist(),
                "left": self.left.tolist(), "right": self.right.tolist(),
                "value": self.value.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Forest":
        return cls(tuple(d["features"]), np.asarray(d["feature"], dtype=np.int32),
                   np.asarray(d["threshold"], dtype=np.float64),
                   np.asarray(d["left"], dtype=np.int32), np.asarray(d["right"], dtype=np.int32),
                   np.asarray(d["value"], dtype=np.float64), int(d["depth"]), d.get("link", "sigmoid"))

    @classmethod
    def from_lightgbm(cls, dump: dict, features: tuple[str, ...], link: str = "sigmoid") -> "Forest":
        """From LightGBM's ``Booster.dump_model()`` (numerical splits only)."""
        trees = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
        width = max(len(t[0]) for t in trees)
        arrays = {k: np.zeros((len(trees), width), dtype=dt) for k, dt in
                  (("feature", np.int32), ("threshold", np.float64), ("left", np.int32),
                   ("right", np.int32), ("value", np.float64))}
        depth = 0
        for i, (feat, thr, left, right, value, d) in enumerate(trees):
            m = len(feat)
            arrays["feature"][i, :m], arrays["threshold"][i, :m] = feat, thr
            arrays["left"][i, :m], arrays["right"][i, :m], arrays["value"][i, :m] = left, right, value
            arrays["feature"][i, m:] = -1
            depth = max(depth, d)
        return cls(features, depth=depth, link=link, **arrays)


def _flatten(root: dict):
    feat, thr, left, right, value = [], [], [], [], []
    deepest = 0

    def visit(node: dict, depth: int) -> int:
        nonlocal deepest
        i = len(feat)
        feat.append(-1), thr.append(0.0), left.append(i), right.append(i), value.append(0.0)
        if "leaf_value" in node:
            value[i] = float(node["leaf_value"])
            deepest = max(deepest, depth)
            return i
        if node.get("decision_type", "<=") != "<=" or node.get("missing_type") == "Zero":
            raise ValueError(f"unsupported split: {node.get('decision_type')}, "
                             f"missing {node.get('missing_type')}")
        feat[i], thr[i] = int(node["split_feature"]), float(node["threshold"])
        left[i] = visit(node["left_child"], depth + 1)
        right[i] = visit(node["right_child"], depth + 1)
        return i

    visit(root, 0)
    return feat, thr, left, right, value, deepest
