"""Versioned adapter folders: save (optionally with merged full weights), list, resolve, apply.

Layout of `<root>/<adapter_id>/`:
  adapter_model.safetensors, adapter_config.json   the peft LoRA adapter (vLLM's --lora-modules reads these)
  config.json      `AdapterConfig`: base model, training settings, data split dates and fingerprint, losses
  curves.csv       one row per validation pass (step 0 is the untrained base model)
  README.md        a short model card
  merged/          with --merge: base + adapter as one ordinary model folder with its tokenizer

Folders are written and listed by `finetune.folders`: atomically, so a crashed
run never leaves something that looks like an adapter.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from pydantic import BaseModel, Field
from transformers import PreTrainedTokenizerBase

from finetune.folders import list_folders, write_folder
from finetune.llm.train import CurvePoint, LoraTrainConfig

FORMAT_VERSION = 1
TRAIN_COMMAND = "shelfcast finetune llm"
MERGED = "merged"


class AdapterMissing(FileNotFoundError):
    """No adapter fits the request; the message names the command that trains one."""


class AdapterConfig(BaseModel):
    format_version: int = FORMAT_VERSION
    adapter_id: str
    created: datetime
    base_model: str = Field(description="Name of the base model folder the adapter was trained on.")
    training: LoraTrainConfig
    best_step: int
    train_seconds: float
    threads: int
    trainable_parameters: int
    data: dict[str, Any] = Field(description="Dataset, fingerprint, split dates, pair counts per kind.")
    losses: dict[str, float] = Field(description="Answer-token loss by pair set, base model and tuned.")
    merged: bool = False


def new_adapter_id(config: LoraTrainConfig, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-r{config.rank}-{config.targets}"


def save_adapter(root: Path, model: PeftModel, tokenizer: PreTrainedTokenizerBase, config: AdapterConfig,
                 curves: list[CurvePoint], merge: bool = False) -> Path:
    """Write a complete adapter folder and return it; with `merge` also the merged full weights (`model` is unchanged)."""
    config = config.model_copy(update={"merged": merge})

    def write_model(folder: Path) -> None:
        model.save_pretrained(folder)
        if merge:
            write_merged(model, tokenizer, folder / MERGED)

    return write_folder(root, config.adapter_id, config, curves, model_card(config, curves), write_model)


def write_merged(model: PeftModel, tokenizer: PreTrainedTokenizerBase, directory: Path) -> Path:
    """Base + adapter as plain weights (bf16, like the prepared base folder) that vLLM and transformers load as-is.

    Merged on a copy: `merge_and_unload` rewrites the model it is called on, and a
    caller that keeps using its peft model (saving the adapter again, evaluating)
    would otherwise hold the base with the adapter folded in and no adapter left.
    """
    merged = copy.deepcopy(model).merge_and_unload()
    merged.to(torch.bfloat16).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def read_config(path: Path) -> AdapterConfig:
    config_file = Path(path) / "config.json"
    if not config_file.is_file() or not (Path(path) / "adapter_config.json").is_file():
        raise AdapterMissing(f"{path} is not a Shelfcast LoRA adapter folder (no config.json/adapter_config.json); "
                             f"train one with `{TRAIN_COMMAND}`")
    return AdapterConfig.model_validate_json(config_file.read_text())


def list_adapters(root: Path) -> list[tuple[Path, AdapterConfig]]:
    """Complete adapters of this format under `root`, newest first."""
    return list_folders(root, "adapter_config.json", read_config, FORMAT_VERSION)


def resolve_adapter(root: Path, which: str | Path = "latest") -> Path:
    """'latest' (the newest under `root`), an adapter id under `root`, or a folder path."""
    if str(which) == "latest":
        found = list_adapters(root)
        if not found:
            raise AdapterMissing(f"no LoRA adapter under {root}; train one with `{TRAIN_COMMAND}`")
        return found[0][0]
    path = Path(which)
    candidate = path if path.is_dir() else Path(root) / str(which)
    read_config(candidate)  # raises a clear error when it is not an adapter
    return candidate


def apply_adapter(model: torch.nn.Module, adapter_dir: Path) -> torch.nn.Module:
    """The base model with the adapter merged in (a plain model again: no peft overhead per token)."""
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=False).merge_and_unload()


def model_card(config: AdapterConfig, curves: list[CurvePoint]) -> str:
    """A short README: what the adapter is, what it saw, its losses, and its limits."""
    t, data = config.training, config.data
    targets = "attention query/value" if t.targets == "qv" else "every linear layer"
    curve = "\n".join(f"| {p.step} | {'-' if p.train_loss is None else f'{p.train_loss:.4f}'} | {p.val_loss:.4f} "
                      f"| {p.elapsed_s:.0f} |" for p in curves)
    losses = "\n".join(f"| {name} | {value:.4f} |" for name, value in config.losses.items())
    data_lines = "\n".join(f"- {key}: {value}" for key, value in data.items() if not isinstance(value, (list, dict)))
    counts = "\n".join(f"- {region}: {value}" for region, value in data.items() if region.endswith(" pairs"))
    return f"""# Shelfcast LoRA forecaster `{config.adapter_id}`

LoRA adapter (rank {t.rank}, alpha {t.alpha}, dropout {t.dropout:g}, on {targets};
{config.trainable_parameters:,} trainable parameters) for `{config.base_model}`, trained to
write the next values of the chain's own forecast prompts (zero-shot, few-shot
with retrieved analogs, new product) in the prompts' serialization. Loss on the
answer tokens only.

- created: {config.created:%Y-%m-%d %H:%M} UTC
- training: {t.steps} steps of {t.batch_size} pairs, lr {t.lr:g} (linear warmup {t.warmup:g}, decay),
  seed {t.seed}; best validation step {config.best_step}; {config.train_seconds:.0f} s on {config.threads} torch thread(s)
- merged full weights: {"yes, in `merged/`" if config.merged else "no (train with --merge)"}

## Data

{data_lines}

Pairs per region and prompt kind:

{counts}

## Answer-token loss (nats per token)

| pairs | loss |
|---|---|
{losses}

## Validation curve

| step | train loss | val loss | elapsed s |
|---|---|---|---|
{curve}

## Use and limits

`shelfcast forecast ID --model lora` (embedded backend, the adapter merged on load) or
`shelfcast llm serve --lora latest` (vLLM). Its training targets end before {data.get("val_start", "?")},
validation targets before {data.get("test_start", "?")} and nothing at or after {data.get("as_of", "?")} was
seen: evaluate it only on cutoffs from {data.get("as_of", "then")} on, or the backtest leaks. The loss is a
proxy: forecast accuracy comes from `shelfcast eval` with the `lora` models.
"""
