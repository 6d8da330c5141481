"""Fine-tuning: AdamW with linear warmup and decay, early stopping on validation loss.

Two modes: full fine-tuning of the encoder (word embeddings frozen, optionally
its lowest layers too, which cuts the backward pass on a CPU) and LoRA on
attention query and value. The head always trains fully, at a higher learning rate than the encoder.
Runs are repeatable: seeds are fixed and the batch order depends only on the
seed and the epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from pydantic import BaseModel, Field
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from finetune.regression.calibration import Calibration, fit_calibration
from finetune.regression.data import Example, batch_order
from finetune.regression.metrics import BucketScore, Evaluation, accuracy, bucket_scores, padded_targets
from finetune.regression.model import (ModelSpec, RegressionModel, add_lora, freeze_lower_layers, load_encoder,
                                       make_batch, pinball_loss)
from finetune.regression.predict import MAX_HORIZON, RegressionForecaster
from finetune.regression.scaling import Scaling, fit_launch_scale
from numeric.baseline import baseline_point


class TrainConfig(BaseModel):
    epochs: int = Field(4, ge=1)
    batch_size: int = Field(64, ge=1)
    group_size: int = Field(8, ge=1, description="Windows sharing a text per group: one encoder pass serves them.")
    lr: float = Field(5e-5, gt=0, description="Encoder (or LoRA) learning rate.")
    head_lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1, description="Share of all steps spent warming up linearly.")
    patience: int = Field(2, ge=1, description="Epochs without a better validation loss before stopping.")
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 0
    lora: bool = False
    lora_rank: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    frozen_layers: int = Field(0, ge=0, description="Full fine-tuning only: lowest encoder layers kept frozen "
                               "(word embeddings always are).")


class EpochRecord(BaseModel):
    """One row of the training curves; epoch 0 is the untrained model."""

    epoch: int
    train_loss: float | None
    val_loss: float
    val_mase: float | None
    val_wape: float | None
    baseline_mase: float | None
    baseline_wape: float | None
    seconds: float


class Reporter(Protocol):
    """Receives progress, so the command line can draw it while this package stays UI-free."""

    def start_epoch(self, epoch: int, steps: int) -> None: ...

    def step(self, loss: float) -> None: ...

    def end_epoch(self, record: EpochRecord) -> None: ...


@dataclass
class FitResult:
    model: RegressionModel  # with the best epoch's weights (LoRA still unmerged)
    curves: list[EpochRecord]
    best_epoch: int


def new_model(encoder_path: Path, encoder_id: str, horizon: int, train: list[Example], seed: int = 0,
              scaling: Scaling | None = None) -> tuple[RegressionModel, PreTrainedTokenizerBase]:
    """A fresh model (head initialised from `seed`) whose launch scale is fitted on the training launches."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    torch.manual_seed(seed)
    scaling = scaling or Scaling()
    launches = [e.target for e in train if e.history.size == 0]
    scaling = scaling.model_copy(update={"launch_scale": fit_launch_scale(launches, scaling.min_scale)})
    encoder, tokenizer = load_encoder(encoder_path)
    return RegressionModel(encoder, ModelSpec(encoder_id=encoder_id, horizon=horizon, scaling=scaling)), tokenizer


def evaluate(forecaster: RegressionForecaster, examples: list[Example], season_length: int) -> Evaluation:
    """Pinball loss, and the median's MASE/WAPE next to the naive baseline's, on the same windows.

    Every observed target step is scored (steps past the head are extended
    recursively), overall and per step bucket; coverage is of the calibrated
    interval, with the raw quantiles' coverage next to it; launch windows
    (no history) are also scored on their own.
    """
    if not examples:
        raise ValueError("no windows to evaluate on")
    spec = forecaster.model.spec
    steps = min(MAX_HORIZON, max(e.target.size for e in examples))
    texts, histories = [e.text for e in examples], [e.history for e in examples]
    targets = padded_targets([e.target for e in examples], steps)
    scaled, scales = forecaster.predict_scaled(texts, histories, steps)
    direct = min(steps, spec.horizon)
    loss = pinball_loss(torch.from_numpy(scaled[:, :, :direct]).float(),
                        torch.from_numpy(targets[:, :direct] / scales[:, None]).float(), spec.quantiles)
    raw = np.clip(scaled * scales[:, None, None], 0.0, None)
    units = raw if spec.calibration is None else np.clip(spec.calibration.apply(scaled, spec.horizon) * scales[:, None, None], 0, None)
    median = units[:, spec.quantiles.index(0.5)]
    interval, raw_interval = (units[:, 0], units[:, -1]), (raw[:, 0], raw[:, -1])
    baseline = np.stack([baseline_point(h, steps, season_length, spec.scaling.launch_scale) for h in histories])
    launch = np.array([h.size == 0 for h in histories])
    launches = None
    if launch.any():
        pick = np.flatnonzero(launch)
        part = [histories[i] for i in pick]
        launches = BucketScore(
            model=accuracy(median[pick], targets[pick], part, season_length, (interval[0][pick], interval[1][pick])),
            baseline=accuracy(baseline[pick], targets[pick], part, season_length),
            raw_coverage=accuracy(median[pick], targets[pick], part, season_length,
                                  (raw_interval[0][pick], raw_interval[1][pick])).coverage)
    return Evaluation(loss=float(loss), model=accuracy(median, targets, histories, season_length, interval),
                      baseline=accuracy(baseline, targets, histories, season_length),
                      buckets=bucket_scores(median, baseline, targets, histories, season_length, interval, raw_interval),
                      launches=launches)


def calibrate(forecaster: RegressionForecaster, validation: list[Example], extension: list[Example]) -> Calibration:
    """Conformal offsets (`calibration.fit_calibration`) for the interval between the lowest and the highest
    quantile (80% for 0.1 and 0.9): the direct steps' from the `validation` windows, the extended steps' from
    the `extension` windows, which run the recursion and are scored only past the head (their earlier steps may
    overlap training targets). ValueError when there are too few direct values."""
    if not validation:
        raise ValueError("no validation windows to calibrate on")
    h, quantiles = forecaster.horizon, forecaster.quantiles
    level = round(quantiles[-1] - quantiles[0], 6)
    steps = max([h] + [min(MAX_HORIZON, e.target.size) for e in extension])
    scaled, targets = [], []
    for windows, horizon, first_scored in ((validation, h, 0), (extension, steps, h)):
        if windows:
            values, scales = forecaster.predict_scaled([e.text for e in windows], [e.history for e in windows], horizon)
            scaled.append(np.pad(values, ((0, 0), (0, 0), (0, steps - horizon)), constant_values=np.nan))
            targets.append(padded_targets([e.target for e in windows], steps) / scales[:, None])
            targets[-1][:, :first_scored] = np.nan
    return fit_calibration(np.concatenate(scaled), np.concatenate(targets), h, level)


def fit(model: RegressionModel, tokenizer: PreTrainedTokenizerBase, train: list[Example], val: list[Example],
        config: TrainConfig, season_length: int, reporter: Reporter | None = None) -> FitResult:
    """Train in place and return the model with its best validation-loss weights restored."""
    if not train or not val:
        raise ValueError(f"need training and validation windows, got {len(train)} and {len(val)}")
    torch.manual_seed(config.seed)
    _apply_mode(model, config)
    optimizer = _optimizer(model, config)
    plans = [batch_order(train, config.batch_size, config.group_size, config.seed, e) for e in range(1, config.epochs + 1)]
    total = sum(map(len, plans))
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup * total), total)
    forecaster = RegressionForecaster(model, tokenizer)

    started = time.perf_counter()
    curves = [_record(0, None, evaluate(forecaster, val, season_length), time.perf_counter() - started)]
    if reporter:
        reporter.end_epoch(curves[0])
    best_loss, best_epoch, best_state = curves[0].val_loss, 0, _copy_state(model)
    for epoch, batches in enumerate(plans, start=1):
        started = time.perf_counter()
        if reporter:
            reporter.start_epoch(epoch, len(batches))
        model.train()
        losses = []
        for indices in batches:
            chosen = [train[i] for i in indices]
            batch = make_batch(tokenizer, model.spec, [e.text for e in chosen], [e.history for e in chosen],
                               [e.target for e in chosen])
            loss = pinball_loss(model(batch), batch.targets, model.spec.quantiles)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if reporter:
                reporter.step(losses[-1])
        record = _record(epoch, float(np.mean(losses)), evaluate(forecaster, val, season_length),
                         time.perf_counter() - started)
        curves.append(record)
        if reporter:
            reporter.end_epoch(record)
        if record.val_loss < best_loss:
            best_loss, best_epoch, best_state = record.val_loss, epoch, _copy_state(model)
        elif epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    return FitResult(model=model, curves=curves, best_epoch=best_epoch)


def _apply_mode(model: RegressionModel, config: TrainConfig) -> None:
    if config.lora:
        if config.frozen_layers:
            raise ValueError("--frozen-layers applies to full fine-tuning; LoRA already freezes the encoder")
        model.encoder = add_lora(model.encoder, config.lora_rank, config.lora_alpha, config.lora_dropout)
    else:
        freeze_lower_layers(model.encoder, config.frozen_layers)


def _optimizer(model: RegressionModel, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norms; the head learns faster than the pretrained encoder."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            is_head, decays = name.startswith("head."), parameter.ndim > 1
            groups.setdefault((is_head, decays), []).append(parameter)
    return torch.optim.AdamW([
        {"params": params, "lr": config.head_lr if is_head else config.lr,
         "weight_decay": config.weight_decay if decays else 0.0}
        for (is_head, decays), params in groups.items()
    ])


def _copy_state(model: RegressionModel) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _record(epoch: int, train_loss: float | None, evaluation: Evaluation, seconds: float) -> EpochRecord:
    return EpochRecord(epoch=epoch, train_loss=train_loss, val_loss=evaluation.loss, val_mase=evaluation.model.mase,
                       val_wape=evaluation.model.wape, baseline_mase=evaluation.baseline.mase,
                       baseline_wape=evaluation.baseline.wape, seconds=seconds)
