"""Versioned artifact folders: save, load, list, and choose the one that serves a dataset.

Layout of `<root>/<artifact_id>/`:
  encoder/            the fine-tuned encoder (LoRA merged) and its tokenizer, safetensors
  head.safetensors    the quantile head
  config.json         `ArtifactConfig`: model spec, training settings, data fingerprint, metrics
  curves.csv          one row per epoch (epoch 0 is the untrained model)
  README.md           a short model card

Folders are written and listed by `finetune.folders`: atomically, so a crashed
run never leaves something that looks like an artifact.
"""

from __future__ import annotations

from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from finetune.folders import list_folders, write_folder
from finetune.regression.metrics import Evaluation
from finetune.regression.model import ModelSpec, RegressionModel, load_encoder, merged_encoder
from finetune.regression.predict import RegressionForecaster
from finetune.regression.train import EpochRecord, TrainConfig
from numeric.baseline import baseline_name

FORMAT_VERSION = 1
TRAIN_COMMAND = "shelfcast finetune regression"


class ArtifactMissing(FileNotFoundError):
    """No artifact fits the request; the message names the command that trains one."""


class ArtifactConfig(BaseModel):
    format_version: int = FORMAT_VERSION
    artifact_id: str
    created: datetime
    parent: str | None = Field(None, description="Artifact this one continued training from (`update`).")
    spec: ModelSpec
    training: TrainConfig
    best_epoch: int
    train_seconds: float
    data: dict[str, Any] = Field(description="What it was trained on: dataset, fingerprint, split dates, window counts.")
    metrics: dict[str, Evaluation] = Field(description="Evaluations by window set, e.g. validation and test.")


def new_artifact_id(horizon: int, lora: bool, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-h{horizon}-{'lora' if lora else 'full'}"


def save_artifact(root: Path, model: RegressionModel, tokenizer: PreTrainedTokenizerBase, config: ArtifactConfig,
                  curves: list[EpochRecord]) -> Path:
    """Write a complete artifact folder and return it; LoRA adapters are merged into the model in place."""
    model.encoder = merged_encoder(model.encoder)

    def write_model(folder: Path) -> None:
        model.encoder.save_pretrained(folder / "encoder")
        tokenizer.save_pretrained(folder / "encoder")
        save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, folder / "head.safetensors")

    return write_folder(root, config.artifact_id, config, curves, model_card(config), write_model)


def read_config(path: Path) -> ArtifactConfig:
    return ArtifactConfig.model_validate_json((Path(path) / "config.json").read_text())


def load_model(path: Path) -> tuple[RegressionModel, PreTrainedTokenizerBase, ArtifactConfig]:
    """Rebuild the model of an artifact folder, in eval mode."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ArtifactMissing(f"{path} is not a regression artifact (no config.json); "
                              f"train one with `{TRAIN_COMMAND}`")
    config = read_config(path)
    encoder, tokenizer = load_encoder(path / "encoder")
    model = RegressionModel(encoder, config.spec)
    model.head.load_state_dict(load_file(path / "head.safetensors"))
    return model.eval(), tokenizer, config


def load_forecaster(path: Path, note: str = "") -> RegressionForecaster:
    """The forecaster of an artifact folder written by `save_artifact`; `note` says why it serves (see Choice)."""
    model, tokenizer, config = load_model(Path(path))
    return RegressionForecaster(model, tokenizer, artifact_id=config.artifact_id, note=note)


def list_artifacts(root: Path) -> list[tuple[Path, ArtifactConfig]]:
    """Complete artifacts of this format under `root`, newest first."""
    return list_folders(root, "config.json", read_config, FORMAT_VERSION)


def newest_artifact(root: Path, horizon: int) -> Path | None:
    """The newest artifact whose horizon covers `horizon` (it then forecasts its first `horizon` periods)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    return next((path for path, config in list_artifacts(root) if config.spec.horizon >= horizon), None)


@dataclass(frozen=True)
class Choice:
    path: Path
    config: ArtifactConfig
    trained_here: bool  # its recorded data fingerprint equals the served data's before its as_of
    note: str  # one sentence for the forecast record: which artifact, trained here or transferred, how it scored


def choose_artifact(root: Path, dataset: str, freq: str,
                    fingerprint: Callable[[str], str]) -> tuple[Choice | None, str]:
    """(the artifact that should serve this dataset or None, why), preferring in order:

    1. the data's period (D, W, MS...; the weekday a week starts on does not matter):
       an artifact trained on weekly data never serves monthly data
       (transferred across frequencies it lost to kNN by a wide margin, issue 18), so
       none matching is None, with the reason;
    2. an artifact trained on this very dataset: same name, and `fingerprint(as_of)` of the
       served sales equals the one recorded at training (more periods since are fine);
    3. the longest direct horizon, so a newer short-horizon artifact never hides a longer one;
    4. the newest.
    """
    found = list_artifacts(root)
    if not found:
        return None, f"no regression artifact under {root}; train one with `{TRAIN_COMMAND}`"
    same_freq = [(path, config) for path, config in found if _period(config.data.get("freq")) == _period(freq)]
    if not same_freq:
        have = sorted({str(config.data.get("freq")) for _, config in found})
        return None, (f"no regression artifact trained on {_period(freq)} data under {root} (found {', '.join(have)}); "
                      f"train one on this data with `{TRAIN_COMMAND} --sales ... --catalog ...`")
    hashes: dict[str, str] = {}

    def trained_here(config: ArtifactConfig) -> bool:
        recorded, as_of = config.data.get("data_fingerprint"), str(config.data.get("as_of"))
        if config.data.get("dataset") != dataset or not recorded:
            return False
        if as_of not in hashes:
            hashes[as_of] = fingerprint(as_of)
        return hashes[as_of] == recorded

    ranked = sorted(enumerate(same_freq), key=lambda item: (not trained_here(item[1][1]), -item[1][1].spec.horizon,
                                                             item[0]))
    path, config = ranked[0][1]
    here = trained_here(config)
    return Choice(path, config, here, _choice_note(config, here, dataset)), "chosen by data, horizon, then age"


def _period(freq: str | None) -> str:
    """The period without its anchor: weeks starting Monday (W-MON) and Thursday (W-THU) are both weekly."""
    return str(freq).split("-")[0].upper()


def _choice_note(config: ArtifactConfig, here: bool, dataset: str) -> str:
    data = config.data
    if here:
        return (f"artifact {config.artifact_id}, trained on this dataset ({dataset}, data before {data.get('as_of')})")
    test = config.metrics.get("test")
    scored = (f"; on its own test windows MASE {_fmt(test.model.mase)} / WAPE {_fmt(test.model.wape)} "
              f"(baseline {_fmt(test.baseline.mase)} / {_fmt(test.baseline.wape)})" if test else "")
    return (f"artifact {config.artifact_id} transferred: trained on {data.get('dataset')!r} "
            f"(data before {data.get('as_of')}), not on this data{scored}")


def require_artifact(root: Path, horizon: int) -> Path:
    """Like `newest_artifact`, but a missing artifact is an error that says how to make one."""
    path = newest_artifact(root, horizon)
    if path is None:
        raise ArtifactMissing(f"no regression artifact with horizon >= {horizon} under {root}; "
                              f"train one with `{TRAIN_COMMAND} --horizon {horizon}`")
    return path


def model_card(config: ArtifactConfig) -> str:
    """A short README: what the model is, what it saw, how well it did, and its limits."""
    spec, training, data = config.spec, config.training, config.data
    frozen = f"word embeddings and {training.frozen_layers} lowest layers" if training.frozen_layers else "word embeddings"
    mode = (f"LoRA (rank {training.lora_rank}, query/value, merged)" if training.lora
            else f"full fine-tuning ({frozen} frozen)")
    rows = "\n".join(
        f"| {name} | {ev.model.windows} | {ev.loss:.4f} | {_fmt(ev.model.mase)} | {_fmt(ev.baseline.mase)} "
        f"| {_fmt(ev.model.wape)} | {_fmt(ev.baseline.wape)} |"
        for name, ev in config.metrics.items()
    )
    data_lines = "\n".join(f"- {key}: {value}" for key, value in data.items() if not isinstance(value, (list, dict)))
    return f"""# Shelfcast regression model `{config.artifact_id}`

Text encoder ({spec.encoder_id}, mean pooled) + MLP head on the last
{spec.scaling.history_length} periods of history, scaled by the mean of the last {spec.scaling.scale_window}
(floor {spec.scaling.min_scale:g}; a launch without history uses {spec.scaling.launch_scale:.3g}). Outputs quantiles
{list(spec.quantiles)} of the next {spec.horizon} periods at once, the median as a correction
to the window average; trained with pinball loss. Longer horizons (up to 52) extend recursively.
Intervals: {_calibration_line(spec)}.

- created: {config.created:%Y-%m-%d %H:%M} UTC{f", continued from `{config.parent}`" if config.parent else ""}
- training: {mode}, best epoch {config.best_epoch} of {training.epochs}, {config.train_seconds:.0f} s,
  encoder lr {training.lr:g}, head lr {training.head_lr:g}, batch {training.batch_size}, seed {training.seed}

## Data

{data_lines}

## Accuracy (median forecast; baseline: {baseline_name(data.get("season_length", 1))})

| windows | n | pinball | MASE | baseline MASE | WAPE | baseline WAPE |
|---|---|---|---|---|---|---|
{rows}

## Test accuracy by step (median; coverage of the calibrated 80% interval, raw in brackets)

| steps | MASE | baseline MASE | WAPE | baseline WAPE | coverage |
|---|---|---|---|---|---|
{_bucket_rows(config.metrics.get("test"))}

## Use and limits

`load_forecaster(path).predict(texts, histories, horizon)` with horizon 1..52.
Its training and validation targets end before {data.get("test_start", "the test windows")}: evaluate it
only on cutoffs from then on, or the backtest leaks. Validation windows chose the epoch; test windows
played no part in training.
"""


def _calibration_line(spec: ModelSpec) -> str:
    calibration = spec.calibration
    if calibration is None:
        return "raw quantiles (not calibrated)"
    extended = calibration.extended
    beyond = (f"; steps past {spec.horizon} on {extended.values:,} values of validation windows run recursively "
              f"(lower {-extended.lower:+.3f}, upper {extended.upper:+.3f})" if extended
              else f"; steps past {spec.horizon} use the same offsets")
    return (f"{calibration.level:.0%} interval conformally calibrated on {calibration.values:,} validation values "
            f"(lower {-calibration.lower:+.3f}, upper {calibration.upper:+.3f} in scaled units){beyond}")


def _bucket_rows(evaluation: Evaluation | None) -> str:
    if evaluation is None or not evaluation.buckets:
        return "| n/a | | | | | |"
    return "\n".join(f"| {name} | {_fmt(b.model.mase)} | {_fmt(b.baseline.mase)} | {_fmt(b.model.wape)} "
                     f"| {_fmt(b.baseline.wape)} | {_fmt(b.model.coverage)} ({_fmt(b.raw_coverage)}) |"
                     for name, b in evaluation.buckets.items())


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
