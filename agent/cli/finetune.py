"""`shelfcast finetune ...`: train, list and update the regression fallback model.

It loads the data and prints; `agent.training` cuts leak-free windows with the
context builder, trains and evaluates, and hands plain examples to
`finetune.regression`, which knows nothing about datasets.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, load_with_status
from agent.config import ensure_offline, get_settings
from agent.data import BuiltinDataMissing, DataError, Dataset
from agent.models import ModelNotAvailable
from agent.training.regression import (FULL_LR, LORA_LR, TrainedArtifact, evaluate_on, new_regression_model,
                                       train_and_save)
from agent.training.windows import WindowSpec, WindowSplit, build_windows, examples, update_windows

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from finetune.regression.data import Example
    from finetune.regression.metrics import Evaluation
    from finetune.regression.model import RegressionModel
    from finetune.regression.train import EpochRecord, TrainConfig

app = typer.Typer(help="Fine-tune the regression fallback model (text encoder + quantile head).", no_args_is_help=True)

ERRORS = (DataError, BuiltinDataMissing, ModelNotAvailable, FileNotFoundError, FileExistsError, ValueError, KeyError)

OutOpt = Annotated[Path | None, typer.Option("--out", help="Artifact root. Default: $SHELFCAST_HOME/models/regression.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1, help="Most epochs; early stopping may end sooner.")]
LoraOpt = Annotated[bool, typer.Option("--lora", help="LoRA on attention query/value (merged on save) instead of full fine-tuning.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help=f"Encoder learning rate. Default {FULL_LR:g} (full), {LORA_LR:g} (LoRA).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seeds sampling, initialisation and batch order.")]
AsOfOpt = Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                   help="First period not visible (simulates an earlier data end).")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", min=1, help="torch threads. Default: $SHELFCAST_TORCH_THREADS.")]


def artifact_root(out: Path | None) -> Path:
    return out or get_settings().models_dir / "regression"


@app.command("regression")
@handled(*ERRORS)
def regression_command(
    epochs: EpochsOpt = 4,
    lora: LoraOpt = False,
    max_products: Annotated[int, typer.Option("--max-products", min=2, help="Products sampled (20% launches).")]
    = WindowSpec.model_fields["max_products"].default,
    horizon: Annotated[int, typer.Option("--horizon", help="Periods forecast at once (>= 1); longer horizons "
                                         "(up to 52) extend recursively.")] = WindowSpec.model_fields["horizon"].default,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Windows per step.")] = 64,
    lr: LrOpt = None,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    frozen_layers: Annotated[int, typer.Option("--frozen-layers", min=0, help="Full mode: lowest encoder layers frozen.")] = 0,
    as_of: AsOfOpt = None,
    threads: ThreadsOpt = None,
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
) -> None:
    """Train a new artifact on leak-free windows: train < validation < test in time."""
    if horizon < 1:
        raise ValueError(f"--horizon must be >= 1, got {horizon}")
    from finetune.regression.train import TrainConfig

    _setup(threads)
    dataset = load_with_status(sales, catalog, store)
    spec = WindowSpec(horizon=horizon, max_products=max_products, seed=seed, as_of=_date(as_of))
    split = _build(dataset, spec)
    model, tokenizer = new_regression_model(split, seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr or (LORA_LR if lora else FULL_LR), seed=seed,
                         lora=lora, frozen_layers=frozen_layers)
    _train_and_save(model, tokenizer, split, examples(split.train), config, artifact_root(out), parent=None)


@app.command("list")
@handled(*ERRORS)
def list_command(out: OutOpt = None) -> None:
    """Artifacts under the root, newest first, with their validation and test accuracy."""
    from finetune.regression.artifact import TRAIN_COMMAND, list_artifacts

    root = artifact_root(out)
    found = list_artifacts(root)
    if not found:
        console.print(f"No regression artifacts under {root}. Train one with `{TRAIN_COMMAND}`.")
        return
    table = Table(title=f"Regression artifacts in {root}")
    table.add_column("artifact", no_wrap=True)
    for column in ("dataset (data fingerprint)", "freq", "h", "mode", "products", "trained on", "val MASE (naive)",
                   "test MASE (naive)", "test WAPE (naive)", "test cov80"):
        table.add_column(column)
    for _, config in found:
        test, val = config.metrics.get("test"), config.metrics.get("validation")
        data = config.data
        table.add_row(config.artifact_id, f"{data.get('dataset')} ({data.get('data_fingerprint') or 'not recorded'})",
                      str(data.get("freq")), str(config.spec.horizon), "lora" if config.training.lora else "full",
                      str(data.get("products")), f"< {data.get('test_start')}",
                      _pair(val, "mase"), _pair(test, "mase"), _pair(test, "wape"),
                      _fmt(test.model.coverage) if test else "-")
    console.print(table)


@app.command("update")
@handled(*ERRORS)
def update_command(
    as_of: AsOfOpt = None,
    epochs: EpochsOpt = 3,
    replay: Annotated[float, typer.Option("--replay", min=0.0, help="Old windows replayed per new window.")] = 1.0,
    lora: LoraOpt = False,
    lr: LrOpt = None,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    threads: ThreadsOpt = None,
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
) -> None:
    """Continue training the newest artifact on weeks that arrived since, replaying older windows.

    Accuracy is reported before and after on the previous artifact's test windows (old) and on
    the newest weeks (new); both are held out of this update's training.
    """
    from finetune.regression.artifact import load_forecaster, load_model, require_artifact
    from finetune.regression.predict import RegressionForecaster
    from finetune.regression.train import TrainConfig

    _setup(threads)
    root = artifact_root(out)
    model, tokenizer, parent = load_model(require_artifact(root, 1))
    dataset = load_with_status(sales, catalog, store)
    old = _build(dataset, WindowSpec.model_validate(parent.data["window_spec"]), quiet=True)
    if old.fingerprint != parent.data["fingerprint"]:
        console.print("[yellow]warning:[/] the data before the artifact's end differs from what it was trained on")
    new_spec = old.spec.model_copy(update={"as_of": _date(as_of)})  # same windows as the parent, more periods
    split = _build(dataset, new_spec, products=old.products)
    if split.as_of <= old.as_of:
        raise ValueError(f"no new periods: the artifact saw data up to {old.as_of.date()}, the data ends before "
                         f"{split.as_of.date()}; pass a later --as-of or newer --sales")
    new, replayed = update_windows(split, old, replay, seed)
    console.print(f"update from [bold]{parent.artifact_id}[/]: {len(new):,} new training windows, "
                  f"{len(replayed):,} replayed")
    held_out = {"old": old.test, "new": split.test}
    before = {name: evaluate_on(RegressionForecaster(model, tokenizer, parent.artifact_id), windows, split.season_length)
              for name, windows in held_out.items()}
    config = TrainConfig(epochs=epochs, lr=lr or (LORA_LR if lora else FULL_LR), seed=seed, lora=lora,
                         batch_size=parent.training.batch_size, frozen_layers=0 if lora else parent.training.frozen_layers)
    trained = _train_and_save(model, tokenizer, split, examples(new + replayed), config, root,
                              parent=parent.artifact_id)
    after = {"old": evaluate_on(load_forecaster(trained.path), held_out["old"], split.season_length),
             "new": trained.metrics["test"]}  # the new test windows are the latest weeks
    table = Table(title="Accuracy before and after the update (median forecast)",
                  caption=f"old: the parent's test windows (>= {old.test_start.date()}); new: the latest "
                          f"{split.spec.horizon} periods. Neither is trained on; validation (early stopping) "
                          f"covers {split.val_start.date()} .. {split.test_start.date()}.")
    for column in ("windows", "n", "MASE before", "MASE after", "naive MASE", "WAPE before", "WAPE after", "naive WAPE"):
        table.add_column(column)
    for name, ev in before.items():
        new_ev = after[name]
        table.add_row(name, str(ev.model.windows), _fmt(ev.model.mase), _fmt(new_ev.model.mase), _fmt(ev.baseline.mase),
                      _fmt(ev.model.wape), _fmt(new_ev.model.wape), _fmt(ev.baseline.wape))
    console.print(table)


def _train_and_save(model: RegressionModel, tokenizer: PreTrainedTokenizerBase, split: WindowSplit,
                    train: list[Example], config: TrainConfig, root: Path, parent: str | None) -> TrainedArtifact:
    """Train with a progress bar (agent.training.regression), then print the test line and the artifact."""
    frozen = f"word embeddings + {config.frozen_layers} lowest layers" if config.frozen_layers else "word embeddings"
    mode = f"LoRA r={config.lora_rank}" if config.lora else f"full ({frozen} frozen)"
    console.print(f"training {mode}, lr {config.lr:g}, batch {config.batch_size}, up to {config.epochs} epochs")
    with _RichReporter() as reporter:
        trained = train_and_save(model, tokenizer, split, train, config, root, parent, reporter)
    test = trained.metrics["test"]
    if trained.calibration_problem:
        console.print(f"[yellow]intervals not calibrated:[/] {trained.calibration_problem}; the raw quantiles are kept")
    console.print(f"test ({test.model.windows} windows from {split.test_start.date()}): {test.model.line()}  "
                  f"| naive {test.baseline.line()}")
    for name, bucket in test.buckets.items():
        console.print(f"  steps {name:<5} {bucket.model.line()} (raw {_fmt(bucket.raw_coverage)})  "
                      f"| naive {bucket.baseline.line()}")
    console.print(f"[green]saved[/] {trained.path}  ({trained.seconds / 60:.1f} min training, "
                  f"best epoch {trained.best_epoch})")
    return trained


class _RichReporter:
    """A progress bar per epoch and one validation line per epoch."""

    def __enter__(self) -> _RichReporter:
        self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.progress.start()
        self.task = None
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def start_epoch(self, epoch: int, steps: int) -> None:
        self.losses: list[float] = []
        self.task = self.progress.add_task("train", total=steps, epoch=epoch, loss=float("nan"))

    def step(self, loss: float) -> None:
        self.losses.append(loss)
        self.progress.update(self.task, advance=1, loss=float(np.mean(self.losses[-20:])))

    def end_epoch(self, record: EpochRecord) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        train = "  -   " if record.train_loss is None else f"{record.train_loss:.4f}"
        self.progress.console.print(
            f"epoch {record.epoch}  train {train}  val {record.val_loss:.4f}  "
            f"MASE {_fmt(record.val_mase)} (naive {_fmt(record.baseline_mase)})  "
            f"WAPE {_fmt(record.val_wape)} (naive {_fmt(record.baseline_wape)})  {record.seconds:.0f} s")


def _setup(threads: int | None) -> None:
    import torch
    from transformers.utils import logging

    ensure_offline()
    logging.disable_progress_bar()  # our own progress bars are enough
    torch.set_num_threads(threads or get_settings().torch_threads)


def _build(dataset: Dataset, spec: WindowSpec, products: list[str] | None = None, quiet: bool = False) -> WindowSplit:
    with err_console.status("Cutting forecast windows..."):
        split = build_windows(dataset, spec, products)
    if not quiet:
        console.print(f"{len(split.products):,} products, windows: {len(split.train):,} train (< {split.val_start.date()}), "
                      f"{len(split.val):,} validation, {len(split.test):,} test (>= {split.test_start.date()}), "
                      f"data before {split.as_of.date()}")
    return split


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pair(evaluation: Evaluation | None, metric: str) -> str:
    if evaluation is None:
        return "-"
    return f"{_fmt(getattr(evaluation.model, metric))} ({_fmt(getattr(evaluation.baseline, metric))})"
