"""LoRA-tune the generative model on the chain's own prompts: pairs -> fit -> losses -> adapter.

Two steps, so the command line (`shelfcast finetune llm`) can show the pairs
before the long part: `prepare_lora` renders and encodes the prompt pairs and
puts a fresh adapter on the base model (measuring the base model's test loss:
LoRA starts as the identity); `train_lora` fits, measures the tuned test loss
and saves the adapter. Progress goes to a `finetune.llm.train.Reporter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.data.dataset import Dataset
from agent.training.llm_examples import KINDS, PromptPair
from agent.training.windows import WindowSplit

if TYPE_CHECKING:
    from finetune.llm.data import Encoded
    from finetune.llm.train import LoraTrainConfig, Reporter


@dataclass
class LoraData:
    """Encoded pairs per region and the base model with a fresh (identity) adapter on it."""

    split: WindowSplit
    chosen: dict[str, list[PromptPair]]
    encoded: dict[str, list[Encoded]]
    dropped: dict[str, int]  # pairs longer than the training context, per region
    skipped: dict[str, int]  # windows that gave no pair, per reason
    base_dir: Path
    model: Any  # peft model
    tokenizer: Any
    pad_id: int
    trainable: int
    base_test_loss: float


@dataclass
class LoraRun:
    path: Path
    losses: dict[str, float]
    seconds: float
    best_step: int


def prepare_lora(dataset: Dataset, split: WindowSplit, config: LoraTrainConfig, max_examples: int,
                 val_pairs: int) -> LoraData:
    """The chain's prompts for every window, a balanced sample per region, encoded; base model + LoRA."""
    from agent.models.smollm2 import prepare_smollm2
    from agent.retrieval.index import ProductIndex
    from agent.training.llm_examples import balanced_sample, build_pairs
    from finetune.llm.data import TextPair, encode_all
    from finetune.llm.train import add_lora, evaluate_loss, load_base

    index = ProductIndex.load_or_build(dataset.catalog, name=dataset.name, progress=True)
    pairs = build_pairs(dataset, split, index)
    seed = config.seed
    chosen = {"train": balanced_sample(pairs.train, max_examples, seed),
              "val": balanced_sample(pairs.val, val_pairs, seed), "test": balanced_sample(pairs.test, val_pairs, seed)}
    base_dir = prepare_smollm2()
    model, tokenizer = load_base(base_dir)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    encoded, dropped = {}, {}
    for region, items in chosen.items():
        texts = [TextPair(prompt=p.prompt, answer=p.answer, kind=p.kind) for p in items]
        encoded[region], dropped[region] = encode_all(tokenizer, texts, eos, config.max_length)
    model = add_lora(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base_test = evaluate_loss(model, encoded["test"], pad, precision=config.precision)  # LoRA starts as the identity: this is the base model
    return LoraData(split, chosen, encoded, dropped, pairs.skipped, base_dir, model, tokenizer, pad, trainable, base_test)


def train_lora(data: LoraData, config: LoraTrainConfig, root: Path, threads: int, merge: bool,
               reporter: Reporter | None = None) -> LoraRun:
    """Fit (best validation step kept), measure the tuned test loss, save the adapter (and merged weights)."""
    from finetune.llm.artifact import AdapterConfig, new_adapter_id, save_adapter
    from finetune.llm.train import evaluate_loss, fit

    result = fit(data.model, data.encoded["train"], data.encoded["val"], config, data.pad_id, reporter)
    tuned_test = evaluate_loss(result.model, data.encoded["test"], data.pad_id, precision=config.precision)
    losses = {"validation, base": result.curves[0].val_loss,
              "validation, tuned": min(p.val_loss for p in result.curves),
              "test, base": data.base_test_loss, "test, tuned": tuned_test}
    created = datetime.now(timezone.utc)
    counts = {f"{region} pairs": {kind: sum(e.kind == kind for e in rows) for kind in KINDS}
              for region, rows in data.encoded.items()}
    summary = {**data.split.summary(), "window_spec": data.split.spec.model_dump(mode="json"), **counts,
               "pairs_dropped_too_long": sum(data.dropped.values()), "windows_without_pairs": sum(data.skipped.values()),
               "train_answer_tokens": sum(e.answer_tokens for e in data.encoded["train"]),
               "train_tokens": sum(len(e.input_ids) for e in data.encoded["train"])}
    adapter = AdapterConfig(adapter_id=new_adapter_id(config, created), created=created, base_model=data.base_dir.name,
                            training=config, best_step=result.best_step, train_seconds=result.seconds,
                            threads=threads, trainable_parameters=data.trainable, data=summary, losses=losses)
    path = save_adapter(root, result.model, data.tokenizer, adapter, result.curves, merge=merge)
    return LoraRun(path, losses, result.seconds, result.best_step)
