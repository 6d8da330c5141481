"""Text pairs -> token ids with the loss on the answer only, and batches of similar length.

The prompt and the answer are tokenized separately and concatenated: at
inference the model sees the prompt's tokens alone (it ends with a space) and
then writes the answer token by token, so training must split them at the
same place. Labels are -100 (ignored) on every prompt token and on padding;
the answer is followed by EOS, which the constrained sampler also forces once
the last value is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

IGNORE = -100


@dataclass(frozen=True)
class TextPair:
    """A rendered prompt and the answer the model should write; `kind` groups pairs of similar length."""

    prompt: str
    answer: str
    kind: str = "default"


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    kind: str

    @property
    def answer_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass
class Batch:
    input_ids: torch.Tensor  # (rows, length), right-padded
    attention_mask: torch.Tensor
    labels: torch.Tensor  # IGNORE outside the answers


def encode(tokenizer: PreTrainedTokenizerBase, pair: TextPair, eos_id: int) -> Encoded:
    prompt = tokenizer(pair.prompt, add_special_tokens=True)["input_ids"]
    answer = tokenizer(pair.answer, add_special_tokens=False)["input_ids"] + [eos_id]
    if not answer[:-1]:
        raise ValueError(f"empty answer for prompt ending {pair.prompt[-60:]!r}")
    return Encoded(input_ids=prompt + answer, labels=[IGNORE] * len(prompt) + answer, kind=pair.kind)


def encode_all(tokenizer: PreTrainedTokenizerBase, pairs: list[TextPair], eos_id: int,
               max_length: int) -> tuple[list[Encoded], int]:
    """Encoded pairs no longer than `max_length` tokens, and how many longer ones were left out.

    A long pair is dropped, never cut: a truncated prompt is one the chain never sends.
    """
    encoded = [encode(tokenizer, pair, eos_id) for pair in pairs]
    kept = [e for e in encoded if len(e.input_ids) <= max_length]
    return kept, len(encoded) - len(kept)


def collate(rows: list[Encoded], pad_id: int) -> Batch:
    width = max(len(row.input_ids) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row.input_ids)
        ids[i, :n] = torch.tensor(row.input_ids)
        labels[i, :n] = torch.tensor(row.labels)
        mask[i, :n] = 1
    return Batch(ids, mask, labels)


def batch_order(rows: list[Encoded], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of one kind each, sorted by length inside the kind, so padding stays small.

    A pure function of the seed and the epoch: a run repeats exactly.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng([seed, epoch])
    by_kind: dict[str, list[int]] = {}
    for index in rng.permutation(len(rows)):
        by_kind.setdefault(rows[index].kind, []).append(int(index))
    batches: list[list[int]] = []
    for indices in by_kind.values():
        indices.sort(key=lambda i: len(rows[i].input_ids))
        batches.extend(indices[start:start + batch_size] for start in range(0, len(indices), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
