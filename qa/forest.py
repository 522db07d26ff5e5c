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
        n, trees = len(rows), self.feature.shape[0]
        if n == 0:
            return np.zeros(0)
        feature, threshold, right, value, roots = self._flat()
        flat_rows = rows.ravel()
        # Every row starts at each root. A split's children are adjacent, so a
        # step is "right child, minus one when x <= threshold"; a leaf is its
        # own right child with a NaN threshold (never <=), so rows that reached
        # one stay there.
        node = np.broadcast_to(roots, (n, trees)).copy()
        base = (np.arange(n) * rows.shape[1])[:, None]
        for _ in range(self.depth):
            x = np.take(flat_rows, base + np.take(feature, node))
            node = np.take(right, node) - (x <= np.take(threshold, node))
        return np.take(value, node).sum(axis=1)

    def _flat(self):
        """The trees as one flat array each, renumbered so that each split's
        left child comes just before its right: per node its feature (0 for
        a leaf), threshold (NaN for a leaf), right child (itself for a leaf)
        and value; and each tree's root."""
        cached = self.__dict__.get("_flat_cache")
        if cached is None:
            feature, threshold, right, value, roots = [], [], [], [], []
            for t in range(self.feature.shape[0]):
                roots.append(len(feature))
                order = [0]                   # this tree's nodes, in their new order
                new_of = {0: len(feature)}
                k = 0
                while k < len(order):
                    old = order[k]
                    if self.feature[t, old] >= 0:
                        for child in (int(self.left[t, old]), int(self.right[t, old])):
                            new_of[child] = roots[-1] + len(order)
                            order.append(child)
                    k += 1
                for old in order:
                    leaf = self.feature[t, old] < 0
                    feature.append(0 if leaf else int(self.feature[t, old]))
                    threshold.append(np.nan if leaf else float(self.threshold[t, old]))
                    right.append(new_of[old] if leaf else new_of[int(self.right[t, old])])
                    value.append(float(self.value[t, old]))
            cached = (np.asarray(feature, dtype=np.intp), np.asarray(threshold, dtype=np.float64),
                      np.asarray(right, dtype=np.intp), np.asarray(value, dtype=np.float64),
                      np.asarray(roots, dtype=np.intp))
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
