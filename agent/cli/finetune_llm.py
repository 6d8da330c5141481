"""`shelfcast finetune llm`: LoRA-tune the generative model on the chain's own prompts.

It loads the data and prints; `agent.training.lora` renders the chain's prompts
for leak-free windows, trains and saves, handing plain text pairs to
`finetune.llm`, which knows nothing about datasets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, load_with_status
from agent.cli.finetune import ERRORS, AsOfOpt, SeedOpt, ThreadsOpt, _build, _date, _setup, app
from agent.config import get_settings
from agent.training.windows import WindowSpec

if TYPE_CHECKING:
    from finetune.llm.train import CurvePoint

# Sized for 2 CPU cores: 40 steps of 4 pairs measured 35 min of training at load average 5-8 (other jobs),
# ~17 s/step when the load fell to ~3 (eval/results/bench_finetune_llm.txt).
DEFAULTS = {"steps": 40, "max_examples": 160, "max_products": 200, "val_pairs": 18}


def adapter_root(out: Path | None = None) -> Path:
    return out or get_settings().models_dir / "llm-lora"


@app.command("llm")
@handled(*ERRORS)
def llm_command(
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps.")] = DEFAULTS["steps"],
    rank: Annotated[int, typer.Option("--rank", min=1, help="LoRA rank.")] = 8,
    targets: Annotated[str, typer.Option("--targets", help="qv (attention query/value) or all (every linear layer).")] = "qv",
    max_examples: Annotated[int, typer.Option("--max-examples", min=1, help="Training pairs, balanced over the "
                                              "zero-shot, few-shot and new-product prompts.")] = DEFAULTS["max_examples"],
    max_products: Annotated[int, typer.Option("--max-products", min=2, help="Products windows are cut from.")]
    = DEFAULTS["max_products"],
    val_pairs: Annotated[int, typer.Option("--val-pairs", min=3, help="Validation (and test) pairs.")] = DEFAULTS["val_pairs"],
    lr: Annotated[float, typer.Option("--lr", help="LoRA learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Pairs per step.")] = 4,
    eval_every: Annotated[int, typer.Option("--eval-every", min=1, help="Steps between validation passes.")] = 10,
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=52, help="Periods each answer holds.")] = 4,
    merge: Annotated[bool, typer.Option("--merge", help="Also write base + adapter as full weights (merged/).")] = False,
    as_of: AsOfOpt = None,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Adapter root. Default: $SHELFCAST_HOME/models/llm-lora.")]
    = None,
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
) -> None:
    """Train a LoRA adapter on leak-free windows: answer-token loss, validation every few steps, best step kept."""
    from agent.llm.precision import choose_precision
    from agent.models.smollm2 import prepare_smollm2
    from agent.training.lora import prepare_lora, train_lora
    from finetune.llm.train import LoraTrainConfig

    if targets not in ("qv", "all"):
        raise ValueError(f"--targets must be qv or all, got {targets!r}")
    _setup(threads)
    precision = choose_precision(prepare_smollm2(), threads)
    config = LoraTrainConfig(steps=steps, batch_size=batch_size, lr=lr, rank=rank, alpha=2 * rank,
                             targets=targets, eval_every=eval_every, seed=seed,  # type: ignore[arg-type]
                             precision=precision.dtype)  # type: ignore[arg-type]
    used_threads = threads or get_settings().torch_threads
    dataset = load_with_status(sales, catalog, store)
    spec = WindowSpec.for_llm(horizon, max_products=max_products, train_per_product=2, val_per_product=1, seed=seed,
                              as_of=_date(as_of))
    split = _build(dataset, spec)
    with err_console.status("Rendering the chain's prompts for every window..."):
        data = prepare_lora(dataset, split, config, max_examples, val_pairs)
    _pairs_table(data.chosen, data.encoded, data.dropped, data.skipped)
    console.print(f"training LoRA r={rank} on {targets}, {data.trainable:,} parameters, {steps} steps of {batch_size}, "
                  f"lr {lr:g}, {used_threads} thread(s), {config.precision} ({precision.reason})")
    with _Reporter() as reporter:
        run = train_lora(data, config, adapter_root(out), used_threads, merge, reporter)
    console.print(f"answer-token loss on test pairs: base {run.losses['test, base']:.4f} -> "
                  f"tuned {run.losses['test, tuned']:.4f}")
    console.print(f"[green]saved[/] {run.path}  ({run.seconds / 60:.1f} min training, best step {run.best_step})")


def _pairs_table(chosen: dict, encoded: dict, dropped: dict, skipped: dict[str, int]) -> None:
    table = Table(title="Prompt pairs (the chain's own prompts, answers in the prompt's scale)")
    for column in ("pairs", "zero_shot", "few_shot", "new_product", "mean tokens", "dropped (too long)"):
        table.add_column(column)
    for region, rows in encoded.items():
        kinds = [sum(e.kind == kind for e in rows) for kind in ("zero_shot", "few_shot", "new_product")]
        mean = np.mean([len(e.input_ids) for e in rows]) if rows else 0
        table.add_row(region, *map(str, kinds), f"{mean:.0f}", str(dropped[region]))
    console.print(table)
    for reason, count in skipped.items():
        console.print(f"[dim]{count} windows gave no pair: {reason}[/]")


class _Reporter:
    """A progress bar over the steps and one line per validation pass."""

    def __enter__(self) -> _Reporter:
        self.progress = Progress(TextColumn("step"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.progress.start()
        self.task = None
        self.losses: list[float] = []
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def start(self, steps: int) -> None:
        self.task = self.progress.add_task("train", total=steps, loss=float("nan"))

    def step(self, loss: float) -> None:
        self.losses.append(loss)
        self.progress.update(self.task, advance=1, loss=float(np.mean(self.losses[-10:])))

    def validated(self, point: CurvePoint) -> None:
        train = "  -   " if point.train_loss is None else f"{point.train_loss:.4f}"
        self.progress.console.print(f"step {point.step:>4}  train {train}  val {point.val_loss:.4f}  "
                                    f"lr {point.lr:.2e}  {point.elapsed_s:.0f} s")


@app.command("llm-list")
@handled(*ERRORS)
def llm_list_command(
    out: Annotated[Path | None, typer.Option("--out", help="Adapter root. Default: $SHELFCAST_HOME/models/llm-lora.")]
    = None,
) -> None:
    """LoRA adapters under the root, newest first, with their answer-token losses (base -> tuned)."""
    from finetune.llm.artifact import TRAIN_COMMAND, list_adapters

    root = adapter_root(out)
    found = list_adapters(root)
    if not found:
        console.print(f"No LoRA adapters under {root}. Train one with `{TRAIN_COMMAND}`.")
        return
    table = Table(title=f"LoRA adapters in {root}")
    for column in ("adapter", "LoRA", "steps (best)", "data before", "val loss", "test loss", "minutes", "merged"):
        table.add_column(column, no_wrap=column == "adapter")
    for _, config in found:
        losses = config.losses
        table.add_row(config.adapter_id, f"r={config.training.rank} {config.training.targets}",
                      f"{config.training.steps} ({config.best_step})", str(config.data.get("as_of", "?")),
                      _arrow(losses, "validation"), _arrow(losses, "test"), f"{config.train_seconds / 60:.1f}",
                      "yes" if config.merged else "no")
    console.print(table)


def _arrow(losses: dict[str, float], region: str) -> str:
    base, tuned = losses.get(f"{region}, base"), losses.get(f"{region}, tuned")
    return "-" if base is None or tuned is None else f"{base:.3f} -> {tuned:.3f}"
