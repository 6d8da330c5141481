"""LoRA on a causal LM with the loss on answer tokens only; validation every k steps, best step kept.

The vocabulary projection is the most expensive layer of a 135M model for a
long prompt (49k outputs per position), and only the answer positions have a
loss: the decoder runs over the whole sequence, the output layer only over the
positions that predict an answer token. Runs are repeatable: seeds are fixed
and the batch order depends only on the seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from pydantic import BaseModel, Field
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from finetune.llm.data import IGNORE, Batch, Encoded, batch_order, collate

Targets = Literal["qv", "all"]
TARGET_MODULES: dict[str, list[str] | str] = {"qv": ["q_proj", "v_proj"], "all": "all-linear"}


class LoraTrainConfig(BaseModel):
    steps: int = Field(150, ge=1, description="Optimizer steps.")
    batch_size: int = Field(4, ge=1, description="Pairs per step (of one prompt kind, similar lengths).")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1, description="Share of the steps spent warming up linearly.")
    max_grad_norm: float = Field(1.0, gt=0)
    rank: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    targets: Targets = Field("qv", description="qv: attention query/value; all: every linear layer.")
    eval_every: int = Field(25, ge=1, description="Steps between validation passes (and one at the end).")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="Compute dtype of the forward and backward passes (bfloat16: CPU autocast; the "
                               "weights, LoRA's included, and the optimizer stay float32). The CLI passes the "
                               "precision measured fastest on this machine (agent.llm.precision).")
    max_length: int = Field(1024, ge=16, description="Longer pairs are left out, never truncated.")
    seed: int = 0


class CurvePoint(BaseModel):
    """One validation pass; step 0 is the untrained model."""

    step: int
    train_loss: float | None = Field(description="Mean answer-token loss of the steps since the last pass.")
    val_loss: float
    lr: float
    elapsed_s: float


class Reporter(Protocol):
    """Receives progress, so the command line can draw it while this package stays UI-free."""

    def start(self, steps: int) -> None: ...

    def step(self, loss: float) -> None: ...

    def validated(self, point: CurvePoint) -> None: ...


@dataclass
class FitResult:
    model: PeftModel  # with the best step's adapter weights
    curves: list[CurvePoint]
    best_step: int
    seconds: float


def load_base(model_dir: Path) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """The base model in float32 (CPU training) and its tokenizer, from a local folder only."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
    return model, tokenizer


def add_lora(model: torch.nn.Module, config: LoraTrainConfig) -> PeftModel:
    torch.manual_seed(config.seed)  # LoRA's A matrices are random
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=TARGET_MODULES[config.targets], task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def answer_loss(model: PeftModel, batch: Batch, reduction: Literal["mean", "sum"] = "mean",
                precision: str = "float32") -> torch.Tensor:
    """Cross-entropy of the answer tokens, the output layer applied to their positions only."""
    causal = model.get_base_model()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        hidden = causal.get_decoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        targets = batch.labels[:, 1:]
        keep = targets != IGNORE
        logits = causal.get_output_embeddings()(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction=reduction)


@torch.no_grad()
def evaluate_loss(model: PeftModel, rows: list[Encoded], pad_id: int, batch_size: int = 8,
                  precision: str = "float32") -> float:
    """Mean loss per answer token over all rows (dropout off)."""
    if not rows:
        raise ValueError("no pairs to evaluate on")
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for indices in batch_order(rows, batch_size, seed=0, epoch=0):
        chosen = [rows[i] for i in indices]
        total += float(answer_loss(model, collate(chosen, pad_id), reduction="sum", precision=precision))
        tokens += sum(row.answer_tokens for row in chosen)
    model.train(was_training)
    return total / tokens


def fit(model: PeftModel, train: list[Encoded], val: list[Encoded], config: LoraTrainConfig, pad_id: int,
        reporter: Reporter | None = None) -> FitResult:
    """Train the adapter in place for `config.steps` steps; return it with the best validation-loss weights."""
    if not train or not val:
        raise ValueError(f"need training and validation pairs, got {len(train)} and {len(val)}")
    torch.manual_seed(config.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup * config.steps), config.steps)
    plan = _plan(train, config)
    started = time.perf_counter()
    curves = [CurvePoint(step=0, train_loss=None, val_loss=evaluate_loss(model, val, pad_id, precision=config.precision),
                         lr=0.0, elapsed_s=0.0)]
    best, best_state = curves[0], _adapter_state(model)
    if reporter:
        reporter.validated(curves[0])
        reporter.start(config.steps)
    model.train()
    losses: list[float] = []
    for step, indices in enumerate(plan, start=1):
        loss = answer_loss(model, collate([train[i] for i in indices], pad_id), precision=config.precision)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if reporter:
            reporter.step(losses[-1])
        if step % config.eval_every == 0 or step == config.steps:
            point = CurvePoint(step=step, train_loss=float(np.mean(losses)),
                               val_loss=evaluate_loss(model, val, pad_id, precision=config.precision),
                               lr=schedule.get_last_lr()[0], elapsed_s=time.perf_counter() - started)
            curves.append(point)
            losses = []
            if reporter:
                reporter.validated(point)
            if point.val_loss < best.val_loss:
                best, best_state = point, _adapter_state(model)
    model.load_state_dict(best_state, strict=False)
    model.eval()
    return FitResult(model=model, curves=curves, best_step=best.step, seconds=time.perf_counter() - started)


def _plan(train: list[Encoded], config: LoraTrainConfig) -> list[list[int]]:
    """Batches for `config.steps` steps: epochs of shuffled same-kind batches, as many as needed."""
    plan: list[list[int]] = []
    epoch = 0
    while len(plan) < config.steps:
        epoch += 1
        plan.extend(batch_order(train, config.batch_size, config.seed, epoch))
    return plan[:config.steps]


def _adapter_state(model: PeftModel) -> dict[str, torch.Tensor]:
    """A copy of the trainable (LoRA) weights: small, so the best step is cheap to keep."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
