"""Training examples as primitives, and the batch order that keeps fine-tuning affordable.

The encoder dominates the cost of a step, and a product's text is the same in
every window of that product. Batches are therefore built from groups of
windows that share a text: the encoder runs once per distinct text in a batch
while the head still sees many windows. The order is a pure function of the
seed and the epoch, so a run can be repeated exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Example:
    """One forecast window: what was known at its cutoff and what happened next (units)."""

    text: str
    history: np.ndarray = field(repr=False)  # units before the cutoff, oldest first; empty for a launch
    target: np.ndarray = field(repr=False)  # units in the `horizon` periods from the cutoff

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", np.asarray(self.history, dtype=np.float32))
        object.__setattr__(self, "target", np.asarray(self.target, dtype=np.float32))


def batch_order(examples: list[Example], batch_size: int, group_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices of each batch for one epoch: shuffled groups of up to `group_size` same-text windows.

    Windows of one text are shuffled and cut into groups; the groups are shuffled
    and packed into batches of about `batch_size` windows.
    """
    if batch_size < 1 or group_size < 1:
        raise ValueError(f"batch_size and group_size must be >= 1, got {batch_size} and {group_size}")
    rng = np.random.default_rng([seed, epoch])
    by_text: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_text.setdefault(example.text, []).append(index)
    groups: list[list[int]] = []
    for indices in by_text.values():
        shuffled = [indices[i] for i in rng.permutation(len(indices))]
        groups.extend(shuffled[start:start + group_size] for start in range(0, len(shuffled), group_size))
    batches: list[list[int]] = []
    current: list[int] = []
    for position in rng.permutation(len(groups)):
        current.extend(groups[position])
        if len(current) >= batch_size:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches
