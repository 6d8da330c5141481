"""Evidence for `auto`: which path (or weighted combination of paths) to trust per segment, and by how much
to widen or narrow its 80% interval.

Why: the chain's fixed order (few-shot -> zero-shot -> regression -> floor) gives
way only when a path's output cannot be parsed, never because the path is known
to be less accurate. On the committed built-in run (20 series x 3 windows) few-shot
answered `auto` with MASE 1.057 while regression scored 0.814, and the zero-shot /
regression / floor intervals covered 57% / 64% / 61% instead of 80%.

A `RoutingTable` is written by `shelfcast eval` (eval/harness/routing.py, from
backtests) and read here; `agent` never imports `eval`.

- **Segments**: new vs existing product; volume bucket (mean of the last 13
  periods: low < 1, mid < 10, high); intermittency class by Syntetos-Boylan
  (ADI = periods per non-zero period, CV2 of the non-zero sizes; cut-offs 1.32
  and 0.49: smooth, erratic, intermittent, lumpy, or zero); frequency. A rule
  may leave fields at `*`; the most specific rule that matches wins, so a
  segment with too few backtested series falls back to a coarser one.
- **Choice**: one path, or weights over several paths. The paths include the
  tuned LLM's (`llm-lora-*`, the same prompts on the LoRA weights): on the
  built-in launches they are the held-out choice (WAPE 0.512 vs the floor's 0.709). A combination averages
  the paths' quantiles with those weights (quantile averaging, "Vincentization",
  the M4/M5 style of combining), over the components that answered; a component
  that fails is dropped and the weights renormalised, and the record says so.
- **Calibration** (split-conformal, conformalised quantile regression with a
  width-normalised score): for each backtest forecast, s = max(lo - y, y - hi) /
  (hi - lo + 1); q is the ceil((n+1) * 0.8) / n empirical quantile of s over the
  path's forecasts in the segment; the interval becomes [lo - q*w, hi + q*w]
  (q < 0 narrows an over-wide interval, never past the median). Normalising
  by the width keeps one q valid across series of very different scale.

Parse-based fallbacks are unchanged: a routed path that cannot answer gives
way to the usual order, and the forecast's `route` says which rule chose what.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from agent.config import get_settings
from agent.forecast.result import ForecastPath

ANY = "*"
VOLUME_WINDOW = 13
VOLUME_EDGES = ((1.0, "low"), (10.0, "mid"))  # mean units per period below the edge; else "high"
ADI_CUT, CV2_CUT = 1.32, 0.49  # Syntetos, Boylan & Croston (2005)
LEVEL = 0.8
WIDTH_FLOOR = 1.0  # units added to an interval's width so zero-width intervals can still be widened
TABLE_VERSION = 1
COMBINABLE: tuple[ForecastPath, ...] = ("llm-few-shot", "llm-zero-shot", "llm-new-product", "llm-lora-few-shot",
                                         "llm-lora-zero-shot", "llm-lora-new-product", "regression", "gbm", "baseline")


class RoutingError(ValueError):
    """A routing table file that cannot be used (unreadable, wrong version, bad weights)."""


# --------------------------------------------------------------------------- segments


class Segment(BaseModel, frozen=True):
    kind: str = Field(description="'new' or 'existing' (or '*').")
    volume: str = Field(description="low, mid, high; 'n/a' for a new product (or '*').")
    intermittency: str = Field(description="smooth, erratic, intermittent, lumpy, zero; 'n/a' for a new product (or '*').")
    freq: str

    @property
    def key(self) -> str:
        return "/".join((self.kind, self.volume, self.intermittency, self.freq))

    def generalisations(self) -> list[Segment]:
        """This segment, then coarser ones (most specific first); the last keeps only kind and frequency."""
        out = [self, self.model_copy(update={"intermittency": ANY}), self.model_copy(update={"volume": ANY}),
               self.model_copy(update={"volume": ANY, "intermittency": ANY}),
               self.model_copy(update={"volume": ANY, "intermittency": ANY, "freq": ANY})]
        return list(dict.fromkeys(out))


def volume_bucket(history: Sequence[float]) -> str:
    recent = np.asarray(history, dtype=float)[-VOLUME_WINDOW:]
    level = float(recent.mean()) if recent.size else 0.0
    return next((name for edge, name in VOLUME_EDGES if level < edge), "high")


def intermittency_class(history: Sequence[float]) -> str:
    values = np.asarray(history, dtype=float)
    sold = values[values > 0]
    if sold.size == 0:
        return "zero"
    adi = values.size / sold.size
    cv2 = float((sold.std() / sold.mean()) ** 2) if sold.size > 1 else 0.0
    if adi < ADI_CUT:
        return "smooth" if cv2 < CV2_CUT else "erratic"
    return "intermittent" if cv2 < CV2_CUT else "lumpy"


def segment_of(history: Sequence[float], freq: str) -> Segment:
    """The segment of a product with this history before the cutoff (empty: a new product)."""
    if len(history) == 0:
        return Segment(kind="new", volume="n/a", intermittency="n/a", freq=freq)
    return Segment(kind="existing", volume=volume_bucket(history), intermittency=intermittency_class(history), freq=freq)


# --------------------------------------------------------------------------- combination and calibration


def combine_quantiles(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Weighted average of each quantile over the parts that have a weight (quantile averaging).

    `parts` maps a path to its (n_quantiles, horizon) array; weights over the
    paths present are renormalised to sum to 1. ValueError when none overlaps.
    """
    present = {p: w for p, w in weights.items() if p in parts and w > 0}
    total = sum(present.values())
    if not present or total <= 0:
        raise ValueError(f"no component with a positive weight answered (weights {weights}, answered {sorted(parts)})")
    return sum(np.asarray(parts[p], dtype=float) * (w / total) for p, w in present.items())


def conformity_scores(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Width-normalised CQR scores: > 0 when y is outside [lo, hi], by how many widths."""
    lo, hi, y = (np.asarray(a, dtype=float) for a in (lo, hi, y))
    return np.maximum(lo - y, y - hi) / (hi - lo + WIDTH_FLOOR)


def conformal_q(scores: np.ndarray, level: float = LEVEL) -> float:
    """The split-conformal quantile of the scores: ceil((n + 1) * level) / n, capped at 1."""
    scores = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    if scores.size == 0:
        raise ValueError("no scores to calibrate on")
    rank = min(math.ceil((scores.size + 1) * level), scores.size)
    return float(scores[rank - 1])


def calibrate_interval(lo: np.ndarray, point: np.ndarray, hi: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(lo', hi'): the interval moved out (q > 0) or in (q < 0) by q widths; never past the point, never below 0."""
    lo, point, hi = (np.asarray(a, dtype=float) for a in (lo, point, hi))
    width = hi - lo + WIDTH_FLOOR
    return np.clip(np.minimum(lo - q * width, point), 0, None), np.maximum(hi + q * width, point)


# --------------------------------------------------------------------------- the table


class Rule(BaseModel):
    segment: Segment
    weights: dict[str, float] = Field(description="path -> weight; one entry: that path alone.")
    metric: str
    score: float = Field(description="The choice's backtest score in this segment (lower is better).")
    scores: dict[str, float] = Field(default_factory=dict, description="Every candidate's score in this segment.")
    n_series: int

    @field_validator("weights")
    @classmethod
    def _valid_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(COMBINABLE))
        if unknown or not weights or any(not (w > 0 and math.isfinite(w)) for w in weights.values()):
            raise ValueError(f"weights must be positive over the paths {COMBINABLE}, got {weights}")
        return weights

    @property
    def is_combination(self) -> bool:
        return len(self.weights) > 1

    def describe(self) -> str:
        choice = ("combination " + ", ".join(f"{p} {w:.2f}" for p, w in self.weights.items())
                  if self.is_combination else next(iter(self.weights)))
        return (f"rule {self.segment.key}: {choice} (backtest {self.metric} {self.score:.3f} over {self.n_series} "
                "series)")


class Calibration(BaseModel):
    segment: Segment
    path: str = Field(description="A chain path, or 'combination'.")
    q: float
    n: int = Field(description="Backtest forecasts (periods) the q was computed on.")
    coverage_before: float
    coverage_after: float = Field(description="The path's held-out coverage after calibration over the whole eval task (series folds).")


class RoutingTable(BaseModel):
    version: int = TABLE_VERSION
    dataset: str
    fingerprint: str
    source: str = Field(description="The evaluation it was computed from (folder, command, date).")
    metric: str
    rules: list[Rule]
    calibration: list[Calibration] = Field(default_factory=list)

    def route(self, segment: Segment) -> Rule | None:
        rules = {r.segment: r for r in self.rules}
        return next((rules[s] for s in segment.generalisations() if s in rules), None)

    def calibration_for(self, segment: Segment, path: str) -> Calibration | None:
        found = {(c.segment, c.path): c for c in self.calibration}
        return next((found[(s, path)] for s in segment.generalisations() if (s, path) in found), None)

    @property
    def table_id(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:8]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> RoutingTable:
        try:
            table = cls.model_validate_json(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise RoutingError(f"routing table {path} cannot be used: {exc}") from exc
        if table.version != TABLE_VERSION:
            raise RoutingError(f"routing table {path} has version {table.version}, this code reads {TABLE_VERSION}")
        return table


def dataset_fingerprint(sales: pd.DataFrame, freq: str) -> str:
    """A hash of the rows (unique_id, ds, y), in order, and the frequency: a table learnt on these data applies
    to them only. 0.7 s for the 2.5M built-in rows (ids hashed as categories; sorting first took 1.9 s)."""
    digest = hashlib.sha256(freq.encode())
    for column in ("unique_id", "ds", "y"):
        values = sales[column]
        if column == "unique_id":
            values = values.astype("category")  # hashes each distinct id once
        digest.update(pd.util.hash_pandas_object(values, index=False, categorize=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def routing_dir() -> Path:
    return get_settings().home / "routing"


def shipped_tables() -> list[Path]:
    folder = resources.files("agent.forecast") / "routing_tables"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json")) if folder.is_dir() else []


def load_routing(sales: pd.DataFrame, freq: str) -> tuple[RoutingTable | None, str]:
    """The table for these data: one `shelfcast eval` wrote under $SHELFCAST_HOME/routing, else a shipped one
    with the same fingerprint; None and why when there is none (auto then keeps the fixed order)."""
    fingerprint = dataset_fingerprint(sales, freq)
    candidates = [routing_dir() / f"{fingerprint}.json", *shipped_tables()]
    problems = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            table = RoutingTable.read(path)
        except RoutingError as exc:
            problems.append(str(exc))
            continue
        if table.fingerprint == fingerprint:
            return table, f"routing table {table.table_id} from {path} ({table.source})"
    why = f"no routing table for data fingerprint {fingerprint} (run `shelfcast eval` on these data to write one)"
    return None, "; ".join([why, *problems])
