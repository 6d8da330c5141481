"""The tagger's network: frozen MiniLM word features -> a small BiLSTM -> word tags, intent and measure.

Why frozen: on the 2 shared cores this project trains on, fine-tuning all of
MiniLM ran at ~2.3 s per batch of 16 (100 steps in 228 s, and 100 steps were
far from enough: 43/99 on set D). Its features are computed once per
training question instead (forward only), and only this head (~0.6M
parameters) is trained, many epochs in the same time. The artifact is then
the head alone; the encoder is used in place from its pip package.
"""

from __future__ import annotations

import torch

# The encoder layers whose outputs feed the head, concatenated: a middle one (closer to the words) and the last.
LAYERS = (3, 6)


class TaggerHead(torch.nn.Module):
    """Word features (first sub-token of each word) -> BiLSTM -> tag logits per word, intent+measure logits."""

    def __init__(self, features: int, tags: int, classes: int, width: int = 192, dropout: float = 0.2) -> None:
        super().__init__()
        self.project = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(features, width), torch.nn.GELU())
        self.lstm = torch.nn.LSTM(width, width // 2, batch_first=True, bidirectional=True)
        self.dropout = torch.nn.Dropout(dropout)
        self.tag = torch.nn.Linear(width, tags)
        self.sequence = torch.nn.Linear(width, classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (batch, words, features) padded, lengths (batch,) -> (tag logits, sequence logits)."""
        hidden = self.project(features)
        packed = torch.nn.utils.rnn.pack_padded_sequence(hidden, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=features.shape[1])
        out = self.dropout(out)
        mask = (torch.arange(features.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.tag(out), self.sequence(pooled)


def word_features(encoder: torch.nn.Module, tokenizer, batch_words: list[list[str]], batch_size: int = 64
                  ) -> list[torch.Tensor]:
    """Each question's words -> (words, features): the encoder's LAYERS at each word's first sub-token."""
    found: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(batch_words), batch_size):
            chunk = batch_words[start:start + batch_size]
            batch = tokenizer(chunk, is_split_into_words=True, truncation=True, max_length=128, padding=True,
                              return_tensors="pt")
            states = encoder(**batch, output_hidden_states=True).hidden_states
            hidden = torch.cat([states[layer] for layer in LAYERS], dim=-1)
            for row, words in enumerate(chunk):
                first: dict[int, int] = {}
                for position, word in enumerate(batch.word_ids(row)):
                    if word is not None and word not in first:
                        first[word] = position
                # A word cut by truncation keeps the last sub-token's features (never happens below 64 words).
                index = [first.get(i, len(batch.word_ids(row)) - 2) for i in range(len(words))]
                found.append(hidden[row, index].clone())
    return found


def pad(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, longest, features) zero-padded, and the lengths."""
    lengths = torch.tensor([len(f) for f in features])
    return torch.nn.utils.rnn.pad_sequence(features, batch_first=True), lengths
