"""The regression model: a sentence encoder (mean pooled) and a quantile head.

The head reads the product text embedding next to numeric features of the
scaled history (see `scaling`) and outputs every quantile of every future
period at once (direct multi-step, `horizon` steps; `predict` extends longer
horizons recursively). Targets may end before the horizon (a window near its
region's end): the loss counts observed steps only. The median is a learned correction to the
window average, and the other quantiles are steps away from it, so they can
never cross.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field, field_validator
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from finetune.regression.calibration import Calibration
from finetune.regression.metrics import padded_targets
from finetune.regression.scaling import Scaling
from numeric.quantiles import QUANTILES



class ModelSpec(BaseModel):
    """Everything needed to rebuild the model and read its output; saved in each artifact."""

    encoder_id: str = Field(description="Where the encoder weights came from (the artifact holds its own copy).")
    horizon: int = Field(ge=1)
    quantiles: tuple[float, ...] = QUANTILES
    scaling: Scaling = Field(default_factory=Scaling)
    max_seq_len: int = Field(48, ge=8, description="Product texts of the built-in data are at most 34 tokens.")
    hidden: int = Field(256, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    calibration: Calibration | None = Field(None, description="Conformal interval offsets per step, fitted on "
                                            "validation windows after training (None: raw quantiles).")

    @field_validator("quantiles")
    @classmethod
    def _sorted_with_median(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if list(value) != sorted(set(value)) or 0.5 not in value or not all(0 < q < 1 for q in value):
            raise ValueError(f"quantiles must be increasing, in (0, 1) and include 0.5, got {value}")
        return value


class QuantileHead(nn.Module):
    """MLP on [text embedding, history features]; the median is a correction to the window-average anchor.

    The other quantiles are the median plus (or minus) sums of positive steps, so they can never cross.
    """

    def __init__(self, text_dim: int, spec: ModelSpec) -> None:
        super().__init__()
        self.horizon, self.n_quantiles = spec.horizon, len(spec.quantiles)
        self.center = spec.quantiles.index(0.5)
        # The pooled embedding is small and near-isotropic; a norm puts it on the scale of the history features.
        self.text_norm = nn.LayerNorm(text_dim)
        self.mlp = nn.Sequential(
            nn.Linear(text_dim + spec.scaling.n_features, spec.hidden), nn.GELU(), nn.Dropout(spec.dropout),
            nn.Linear(spec.hidden, spec.hidden), nn.GELU(), nn.Dropout(spec.dropout),
            nn.Linear(spec.hidden, self.horizon * self.n_quantiles),
        )
        self._init_output()

    def _init_output(self) -> None:
        """Start at the anchor, with steps of about 0.7 (scaled units) between neighbouring quantiles."""
        step = float(np.log(np.expm1(0.7)))  # inverse softplus
        bias = torch.full((self.n_quantiles, self.horizon), step)
        bias[self.center] = 0.0
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.bias.copy_(bias.flatten())
            last.weight.mul_(0.1)

    def forward(self, text_embedding: torch.Tensor, features: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        raw = self.mlp(torch.cat([self.text_norm(text_embedding), features], dim=-1))
        raw = raw.view(-1, self.n_quantiles, self.horizon)
        c = self.center
        median = anchor.view(-1, 1, 1) + raw[:, c:c + 1]
        above = median + nn.functional.softplus(raw[:, c + 1:]).cumsum(dim=1)
        below = median - nn.functional.softplus(raw[:, :c]).flip(1).cumsum(dim=1).flip(1)
        return torch.cat([below, median, above], dim=1)


class RegressionModel(nn.Module):
    """Encoder + head; the encoder runs once per distinct text of a batch."""

    def __init__(self, encoder: PreTrainedModel, spec: ModelSpec) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.head = QuantileHead(encoder.config.hidden_size, spec)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Scaled quantiles, shape (windows, quantiles, horizon)."""
        hidden = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        mask = batch.attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # the encoder's own pooling: mean
        return self.head(pooled[batch.text_index], batch.features, batch.anchors)


@dataclass
class Batch:
    input_ids: torch.Tensor  # (distinct texts, tokens)
    attention_mask: torch.Tensor
    text_index: torch.Tensor  # (windows,) row of each window's text
    features: torch.Tensor  # (windows, n_features)
    anchors: torch.Tensor  # (windows,) scaled window average
    scales: np.ndarray  # (windows,) units per scaled unit
    targets: torch.Tensor | None = None  # (windows, horizon) scaled, NaN past a window's last observed step


def make_batch(tokenizer: PreTrainedTokenizerBase, spec: ModelSpec, texts: list[str], histories: list[np.ndarray],
               targets: list[np.ndarray] | None = None) -> Batch:
    """Tokenize each distinct text once and scale every window by its own history."""
    distinct: dict[str, int] = {}
    text_index = [distinct.setdefault(text, len(distinct)) for text in texts]
    tokens = tokenizer(list(distinct), padding=True, truncation=True, max_length=spec.max_seq_len, return_tensors="pt")
    scales = np.array([spec.scaling.scale(h) for h in histories], dtype=np.float64)
    features = np.stack([spec.scaling.features(h, s) for h, s in zip(histories, scales)])
    anchors = np.array([spec.scaling.anchor(h, s) for h, s in zip(histories, scales)], dtype=np.float32)
    scaled_targets = None
    if targets is not None:
        padded = padded_targets(targets, spec.horizon) / scales[:, None]
        scaled_targets = torch.from_numpy(padded.astype(np.float32))
    return Batch(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                 text_index=torch.tensor(text_index), features=torch.from_numpy(features),
                 anchors=torch.from_numpy(anchors), scales=scales,
                 targets=scaled_targets)


def pinball_loss(predicted: torch.Tensor, target: torch.Tensor, quantiles: tuple[float, ...]) -> torch.Tensor:
    """Mean quantile (pinball) loss over observed steps; `predicted` is (windows, quantiles, horizon),
    `target` (windows, horizon) with NaN where a step was not observed."""
    levels = torch.tensor(quantiles, dtype=predicted.dtype).view(1, -1, 1)
    observed = ~torch.isnan(target)
    error = torch.nan_to_num(target).unsqueeze(1) - predicted
    loss = torch.maximum(levels * error, (levels - 1) * error) * observed.unsqueeze(1)
    return loss.sum() / (observed.sum() * len(quantiles)).clamp(min=1)


def load_encoder(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The encoder and its tokenizer from a local folder (never a hub)."""
    encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return encoder, tokenizer


def freeze_lower_layers(encoder: PreTrainedModel, n_layers: int) -> None:
    """Freeze the word embeddings always, and the rest of the embeddings and the lowest `n_layers` layers.

    The word-embedding matrix is half the encoder (30k x 384) while product texts
    use a few thousand tokens; updating it with AdamW was 40% of a step on a CPU.
    Frozen layers also need no backward pass, the other big cost of a step.
    """
    layers = encoder.encoder.layer
    if not 0 <= n_layers <= len(layers):
        raise ValueError(f"frozen layers must be in 0..{len(layers)}, got {n_layers}")
    for parameter in encoder.embeddings.parameters():
        parameter.requires_grad = n_layers == 0
    encoder.embeddings.word_embeddings.weight.requires_grad = False
    for index, layer in enumerate(layers):
        for parameter in layer.parameters():
            parameter.requires_grad = index >= n_layers


def add_lora(encoder: PreTrainedModel, rank: int, alpha: int, dropout: float) -> nn.Module:
    """Wrap the encoder with LoRA adapters on attention query and value; its own weights stay frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=["query", "value"])
    return get_peft_model(encoder, config)


def merged_encoder(encoder: nn.Module) -> PreTrainedModel:
    """A plain encoder: LoRA adapters merged into the weights, so artifacts load without peft."""
    merge = getattr(encoder, "merge_and_unload", None)
    return merge() if merge is not None else encoder
