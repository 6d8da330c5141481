"""Fine-tuning the regression fallback on a small real slice of the built-in data, with the real encoder."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from agent.cli.finetune import app
from agent.config import get_settings
from agent.data import load_builtin
from agent.training.windows import WindowSpec, build_windows, examples, update_windows
from agent.models.minilm import minilm_path
from finetune.regression.artifact import (ArtifactMissing, list_artifacts, load_forecaster, newest_artifact, read_config,
                                          require_artifact)
from finetune.regression.predict import RegressionForecaster
from finetune.regression.train import TrainConfig, fit, new_model

pytestmark = pytest.mark.slow

SPEC = WindowSpec(max_products=30, train_per_product=4, val_per_product=1, seed=3)
FAST = TrainConfig(epochs=2, batch_size=32, group_size=4, head_lr=3e-3, patience=2)


@pytest.fixture(scope="module")
def builtin():
    torch.set_num_threads(1)
    return load_builtin()


@pytest.fixture(scope="module")
def split(builtin):
    return build_windows(builtin, SPEC)


@pytest.fixture(scope="module")
def trained(split):
    model, tokenizer = new_model(minilm_path(), "minilm", SPEC.horizon, examples(split.train))
    result = fit(model, tokenizer, examples(split.train), examples(split.val), FAST, split.season_length)
    return result, tokenizer


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield get_settings().models_dir / "regression"
    get_settings.cache_clear()


def _inputs(windows):
    return [w.example.text for w in windows], [w.example.history for w in windows]


def test_windows_are_split_in_time_and_never_leak(builtin, split) -> None:
    step = pd.tseries.frequencies.to_offset(builtin.freq)
    assert split.val_start < split.test_start < split.as_of
    regions = {"train": (None, split.val_start), "val": (split.val_start, split.test_start),
               "test": (split.test_start, split.as_of)}
    series = {uid: frame.set_index("ds")["y"] for uid, frame in builtin.sales.groupby("unique_id") if uid in split.products}
    for name, (lo, hi) in regions.items():
        windows = getattr(split, name)
        assert windows, name
        for w in windows:
            end = w.cutoff + w.example.target.size * step  # targets are cut at their region's end
            assert (lo is None or w.cutoff >= lo) and end <= hi and w.example.target.size >= 1, (name, w.unique_id)
            s = series[w.unique_id]
            past = s[s.index < w.cutoff].to_numpy()
            np.testing.assert_array_equal(w.example.history, past[len(past) - w.example.history.size:])
            assert w.example.history.size == len(past)  # the whole past, nothing after the cutoff
            np.testing.assert_array_equal(w.example.target, s[(s.index >= w.cutoff) & (s.index < end)].to_numpy())
    histories = [w.example.history.size for w in split.train]
    assert 0 in histories and any(0 < n < 4 for n in histories)  # launches and short histories are trained on

    # Poison everything from the validation region on: training windows must not change at all.
    poisoned = builtin.sales.copy()
    poisoned.loc[poisoned["ds"] >= split.val_start, "y"] = 9999.0
    again = build_windows(type(builtin)(name=builtin.name, sales=poisoned, catalog=builtin.catalog, freq=builtin.freq), SPEC)
    assert [(w.unique_id, w.cutoff) for w in again.train] == [(w.unique_id, w.cutoff) for w in split.train]
    for a, b in zip(again.train, split.train):
        np.testing.assert_array_equal(a.example.history, b.example.history)
        np.testing.assert_array_equal(a.example.target, b.example.target)


def test_update_windows_are_new_or_replayed_and_spare_the_old_test_region(builtin, split) -> None:
    step = pd.tseries.frequencies.to_offset(builtin.freq)
    old = build_windows(builtin, SPEC.model_copy(update={"as_of": date(2017, 11, 6)}))
    later = build_windows(builtin, old.spec.model_copy(update={"as_of": None}), products=old.products)
    new, replayed = update_windows(later, old, replay=0.5, seed=0)
    assert new and replayed and len(replayed) == round(0.5 * len(new))
    for w in new:  # targets the old model never saw, and never in its test region
        end = w.cutoff + w.example.target.size * step
        assert end > old.val_start and (end <= old.test_start or w.cutoff >= old.as_of)
    assert all(w.cutoff + w.example.target.size * step <= old.val_start for w in replayed)  # its training period


def test_training_lowers_validation_loss_repeatably(trained, split) -> None:
    result, _ = trained
    curves = result.curves
    assert curves[0].epoch == 0 and curves[0].train_loss is None
    assert result.best_epoch >= 1
    assert min(r.val_loss for r in curves[1:]) < curves[0].val_loss
    # Same seed, same data: the same run, step for step.
    model, tokenizer = new_model(minilm_path(), "minilm", SPEC.horizon, examples(split.train))
    again = fit(model, tokenizer, examples(split.train), examples(split.val), FAST, split.season_length)
    assert [r.val_loss for r in again.curves] == [r.val_loss for r in curves]


def test_save_load_round_trip_predicts_identically(trained, split, home) -> None:
    from finetune.regression.artifact import ArtifactConfig, save_artifact

    result, tokenizer = trained
    texts, histories = _inputs(split.test)
    before = RegressionForecaster(result.model, tokenizer).predict(texts, histories, SPEC.horizon)
    config = ArtifactConfig(artifact_id="t1", created=pd.Timestamp.now(tz="UTC").to_pydatetime(), spec=result.model.spec,
                            training=FAST, best_epoch=result.best_epoch, train_seconds=1.0, data=split.summary(),
                            metrics={})
    path = save_artifact(home, result.model, tokenizer, config, result.curves)
    assert {"encoder", "head.safetensors", "config.json", "curves.csv", "README.md"} <= {p.name for p in path.iterdir()}
    assert (path / "encoder" / "model.safetensors").is_file() and (path / "encoder" / "tokenizer.json").is_file()
    loaded = load_forecaster(path)
    after = loaded.predict(texts, histories, SPEC.horizon)
    np.testing.assert_array_equal(before, after)
    assert loaded.artifact_id == "t1" and after.shape == (len(texts), 3, SPEC.horizon)
    assert (after >= 0).all() and (np.diff(after, axis=1) >= 0).all()  # non-negative, quantiles never cross
    np.testing.assert_array_equal(loaded.predict(texts, histories, 2), after[:, :, :2])
    longer = loaded.predict(texts[:3], histories[:3], SPEC.horizon + 5)  # extended recursively past the head
    assert longer.shape == (3, 3, SPEC.horizon + 5) and (np.diff(longer, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="horizon must be in 1..52"):
        loaded.predict(texts[:1], histories[:1], 0)
    launch = loaded.predict(["Bagels 6 CT / GROCERY / BAKED BREAD"], [np.array([])], 1)
    assert launch.shape == (1, 3, 1) and launch[0, 1, 0] > 0
    assert newest_artifact(home, 2) == path and newest_artifact(home, SPEC.horizon + 1) is None
    assert [p for p, _ in list_artifacts(home)] == [path]
    assert len(read_config(path).data["fingerprint"]) == 16


def test_lora_trains_and_merges(split, home) -> None:
    from finetune.regression.artifact import ArtifactConfig, save_artifact

    config = FAST.model_copy(update={"lora": True, "lr": 1e-3, "epochs": 1})
    model, tokenizer = new_model(minilm_path(), "minilm", SPEC.horizon, examples(split.train))
    result = fit(model, tokenizer, examples(split.train), examples(split.val), config, split.season_length)
    lora_b = [p for name, p in result.model.encoder.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # the adapters learned something
    trainable = [name for name, p in result.model.named_parameters() if p.requires_grad and name.startswith("encoder.")]
    assert trainable and all("lora_" in name for name in trainable)  # the encoder's own weights stayed frozen
    texts, histories = _inputs(split.test)
    before = RegressionForecaster(result.model, tokenizer).predict(texts, histories, SPEC.horizon)
    artifact = ArtifactConfig(artifact_id="lora", created=pd.Timestamp.now(tz="UTC").to_pydatetime(),
                              spec=result.model.spec, training=config, best_epoch=result.best_epoch, train_seconds=1.0,
                              data={}, metrics={})
    path = save_artifact(home, result.model, tokenizer, artifact, result.curves)
    loaded = load_forecaster(path)
    assert not any("lora" in name for name in loaded.model.state_dict())  # merged: loads without peft
    np.testing.assert_allclose(loaded.predict(texts, histories, SPEC.horizon), before, rtol=1e-4, atol=1e-4)


def test_bad_options_give_clear_errors(home, tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["regression", "--horizon", "0"])
    assert result.exit_code == 2 and "--horizon must be >= 1" in result.output
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "shelfcast finetune regression" in result.output
    result = runner.invoke(app, ["update"])
    assert result.exit_code == 2 and "shelfcast finetune regression --horizon 1" in result.output
    with pytest.raises(ArtifactMissing, match="shelfcast finetune regression --horizon 4"):
        require_artifact(home, 4)
    with pytest.raises(ArtifactMissing, match="not a regression artifact"):
        load_forecaster(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        newest_artifact(home, 0)


def test_cli_trains_updates_and_lists(builtin, split, home, tmp_path) -> None:
    """The whole loop on a user file: train with an earlier data end, update on the weeks after it, list."""
    ids = split.products[:16]
    sales = builtin.sales[builtin.sales["unique_id"].isin(ids)][["unique_id", "ds", "y"]]
    catalog = builtin.catalog[builtin.catalog["unique_id"].isin(ids)][["unique_id", "title", "department", "category"]]
    sales.to_parquet(tmp_path / "sales.parquet")
    catalog.to_parquet(tmp_path / "catalog.parquet")
    files = ["--sales", str(tmp_path / "sales.parquet"), "--catalog", str(tmp_path / "catalog.parquet")]
    runner = CliRunner()
    first = runner.invoke(app, ["regression", "--epochs", "1", "--max-products", "16", "--batch-size", "32",
                                "--as-of", "2017-11-06", *files])
    assert first.exit_code == 0, first.output
    assert "epoch 0" in first.output and "epoch 1" in first.output and "saved" in first.output
    update = runner.invoke(app, ["update", "--epochs", "1", *files])
    assert update.exit_code == 0, update.output
    assert "before and after the update" in update.output and "old: the parent's test windows" in update.output
    artifacts = list_artifacts(home)
    assert len(artifacts) == 2
    newest, parent = artifacts[0][1], artifacts[1][1]
    assert newest.parent == parent.artifact_id and newest.data["test_start"] > parent.data["test_start"]
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and newest.artifact_id in listing.output
