"""The quantile levels every forecast carries, and the central interval they bound.

Forecast paths answer these three quantiles; the evaluation frames name the
outer two `<model>-lo-80` / `<model>-hi-80` (Nixtla's layout), the median is
the point forecast.
"""

from __future__ import annotations

QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
MEDIAN = QUANTILES.index(0.5)
LEVEL = round((QUANTILES[-1] - QUANTILES[0]) * 100)  # 80: the central interval between the outer quantiles


def key(q: float) -> str:
    """The JSON key of a quantile level in `Forecast.quantiles` ('0.1' for 0.1)."""
    return str(float(q))
