"""`RegressionForecaster`: batched quantile forecasts in units from a trained model.

This is the object the forecasting chain holds. It dedupes texts within each
batch (products often share a text), runs without gradients, undoes the
scaling, and clips at zero: sales are never negative.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from finetune.regression.model import RegressionModel, make_batch


class RegressionForecaster:
    """Quantile forecasts from (product text, history in units) pairs."""

    def __init__(self, model: RegressionModel, tokenizer: PreTrainedTokenizerBase, artifact_id: str = "unsaved",
                 batch_size: int = 256) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.artifact_id = artifact_id
        self.batch_size = batch_size

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.model.spec.quantiles

    @property
    def horizon(self) -> int:
        """The longest horizon this model forecasts; shorter requests use its first periods."""
        return self.model.spec.horizon

    def predict_scaled(self, texts: list[str], histories: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Scaled quantiles (n, quantiles, model horizon) and each window's scale."""
        if len(texts) != len(histories):
            raise ValueError(f"got {len(texts)} texts but {len(histories)} histories")
        self.model.eval()
        outputs, scales = [], []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                stop = start + self.batch_size
                batch = make_batch(self.tokenizer, self.model.spec, texts[start:stop], histories[start:stop])
                outputs.append(self.model(batch).numpy())
                scales.append(batch.scales)
        if not outputs:
            return np.zeros((0, len(self.quantiles), self.horizon)), np.zeros(0)
        return np.concatenate(outputs), np.concatenate(scales)

    def predict(self, texts: list[str], histories: list[np.ndarray], horizon: int) -> np.ndarray:
        """Quantiles in units, shape (n, quantiles, horizon), non-negative and non-crossing."""
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if horizon > self.horizon:
            raise ValueError(f"regression artifact {self.artifact_id} forecasts at most {self.horizon} periods, asked for "
                             f"{horizon}; train one with `shelfcast finetune regression --horizon {horizon}`")
        scaled, scales = self.predict_scaled(texts, histories)
        return np.clip(scaled[:, :, :horizon] * scales[:, None, None], 0.0, None)
