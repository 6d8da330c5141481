"""History-shape similarity, to re-rank text neighbours by how their sales moved.

Two products with the same text can sell very differently (a seasonal item vs a
staple), and a few-shot prompt is more useful when the analogs' curves look like
the target's. Pearson correlation compares shape only: it ignores level and
scale, so a 5-unit and a 500-unit product with the same weekly pattern match.
Curves are compared over the same calendar weeks, ending at the search's point
in time, so nothing after a cutoff leaks into the ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class SalesCurves:
    """The long sales frame as a dense (product x period) matrix, built once.

    Missing periods count as zero sales: a product absent from a week sold nothing
    that week (before launch included), which is what its curve should show.
    """

    def __init__(self, sales: pd.DataFrame) -> None:
        rows, self.row = pd.factorize(sales["unique_id"].astype(str), sort=True)
        cols, periods = pd.factorize(sales["ds"], sort=True)
        self.periods = pd.DatetimeIndex(periods)
        self.values = np.zeros((len(self.row), len(self.periods)), dtype=np.float32)
        np.add.at(self.values, (rows, cols), sales["y"].to_numpy(dtype=np.float32))

    def window(self, unique_ids: Sequence[str], length: int, end: pd.Timestamp | None = None) -> np.ndarray:
        """The `length` periods just before `end` (all data when None) per id; zeros for unknown ids."""
        stop = len(self.periods) if end is None else int(self.periods.searchsorted(end, side="left"))
        start = max(stop - length, 0)
        out = np.zeros((len(unique_ids), length), dtype=np.float32)
        rows = self.row.get_indexer(list(unique_ids))
        known = rows >= 0
        block = self.values[rows[known], start:stop]
        out[known, length - block.shape[1] :] = block
        return out


def shape_correlation(history: Sequence[float], curves: np.ndarray) -> np.ndarray:
    """Pearson correlation of `history` with each row of `curves` (same length).

    A flat curve (or flat history) has no shape to compare: it scores 0, neutral,
    rather than NaN.
    """
    h = np.asarray(history, dtype=np.float64)
    c = np.asarray(curves, dtype=np.float64)
    h = h - h.mean()
    c = c - c.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(h) * np.linalg.norm(c, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (c @ h) / denom
    return np.where(denom > 0, corr, 0.0)


def blend(similarity: np.ndarray, correlation: np.ndarray, weight: float) -> np.ndarray:
    """Text similarity and shape correlation mixed by `weight` (0 = text only, 1 = shape only)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"shape weight must be within [0, 1], got {weight}")
    return (1.0 - weight) * similarity + weight * correlation
