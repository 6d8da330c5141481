"""The regression model at any horizon: cut targets, recursive extension, calibration, artifact choice.

Fast: a tiny random BERT stands in for MiniLM and the data are synthetic; the
real-weights path is tests/test_finetune.py (slow) and the figures are
eval/bench_finetune.py.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agent.data.dataset import Dataset
from agent.product import product_text
from agent.training.windows import WindowSpec, build_windows, examples
from finetune.regression.artifact import ArtifactConfig, choose_artifact, load_forecaster, save_artifact
from finetune.regression.calibration import fit_calibration
from finetune.regression.metrics import Accuracy, Evaluation, accuracy
from finetune.regression.model import pinball_loss
from finetune.regression.predict import MAX_HORIZON, RegressionForecaster
from finetune.regression.train import TrainConfig, calibrate, evaluate, fit, new_model
from tiny_models import make_tiny_bert

FREQ = "W-MON"
PERIODS = 60
SPEC = WindowSpec(horizon=4, max_products=12, launch_share=0.25, min_selling_periods=8, train_per_product=6,
                  val_per_product=3, val_periods=8, test_periods=12, origin_step=4, seed=1)


def _dataset(name: str = "synthetic", periods: int = PERIODS) -> Dataset:
    """Twelve seasonal-ish products (two launched late) with Poisson noise; texts say what they are."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=periods, freq=FREQ)
    rows, catalog = [], []
    for i in range(12):
        start = 0 if i < 9 else 6 + 4 * (i - 9)  # three launches, after the launch offset
        level = 2.0 + 3 * i
        t = np.arange(periods - start)
        y = rng.poisson(level * (1 + 0.3 * np.sin(2 * np.pi * t / 13)))
        rows += [{"unique_id": f"p{i}", "ds": d, "y": float(v)} for d, v in zip(dates[start:], y)]
        item = {"unique_id": f"p{i}", "title": f"product {i} {'bagels' if i % 2 else 'milk'}",
                "category": "BAKERY" if i % 2 else "DAIRY"}
        catalog.append({**item, "text": product_text(item)})
    return Dataset(name=name, sales=pd.DataFrame(rows), catalog=pd.DataFrame(catalog), freq=FREQ)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def split():
    return build_windows(_dataset(), SPEC)


@pytest.fixture(scope="module")
def trained(encoder_dir, split):
    torch.set_num_threads(1)
    model, tokenizer = new_model(encoder_dir, "tiny-bert", SPEC.horizon, examples(split.train))
    config = TrainConfig(epochs=2, batch_size=16, group_size=4, head_lr=3e-3)
    result = fit(model, tokenizer, examples(split.train), examples(split.val), config, split.season_length)
    forecaster = RegressionForecaster(result.model, tokenizer, artifact_id="tiny")
    result.model.spec = result.model.spec.model_copy(update={"calibration": calibrate(forecaster, examples(split.val), examples(split.extension))})
    return forecaster, result, config


def test_targets_are_cut_at_their_region_end_and_test_origins_roll(split) -> None:
    step = pd.tseries.frequencies.to_offset(FREQ)
    data = _dataset().sales
    series = {uid: rows.set_index("ds")["y"] for uid, rows in data.groupby("unique_id")}
    ends = {"train": split.val_start, "val": split.test_start, "test": split.as_of}
    lengths = {"train": SPEC.horizon, "val": SPEC.horizon, "test": SPEC.test_periods}
    for region, end in ends.items():
        windows = getattr(split, region)
        assert windows, region
        for w in windows:
            n = w.example.target.size
            assert 1 <= n <= lengths[region] and w.cutoff + n * step <= end, (region, w.unique_id, w.cutoff)
            expected = min(lengths[region], len(pd.date_range(w.cutoff, end, freq=FREQ, inclusive="left")))
            assert n == expected  # cut at the region's end, never dropped for straddling it
            s = series[w.unique_id]
            np.testing.assert_array_equal(w.example.target, s[s.index >= w.cutoff].to_numpy()[:n])
            np.testing.assert_array_equal(w.example.history, s[s.index < w.cutoff].to_numpy())
    assert any(w.example.target.size < SPEC.horizon for w in split.train)  # near val_start: partly observed
    origins = sorted({w.cutoff for w in split.test})
    assert origins[0] == split.test_start and all(a + SPEC.origin_step * step == b for a, b in zip(origins, origins[1:]))
    assert max(w.example.target.size for w in split.test) == SPEC.test_periods  # steps past the head are scored
    assert any(w.example.history.size == 0 for w in split.train)  # launches train too
    assert len(split.data_fingerprint) == 16 and split.summary()["data_fingerprint"] == split.data_fingerprint


def test_too_short_data_is_refused_with_the_numbers() -> None:
    with pytest.raises(ValueError, match="too few: a 12-period test region and a 8-period validation region"):
        build_windows(_dataset(periods=20), SPEC)


def test_pinball_loss_counts_observed_steps_only() -> None:
    predicted = torch.zeros(2, 3, 4, requires_grad=True)
    target = torch.tensor([[1.0, 2.0, float("nan"), float("nan")], [1.0, 1.0, 1.0, 1.0]])
    loss = pinball_loss(predicted, target, (0.1, 0.5, 0.9))
    loss.backward()
    assert torch.isfinite(loss)
    assert predicted.grad[0, :, 2:].abs().sum() == 0 and predicted.grad[0, :, :2].abs().sum() > 0
    dense = pinball_loss(torch.zeros(1, 3, 2), target[:1, :2], (0.1, 0.5, 0.9))
    only_first = pinball_loss(torch.zeros(1, 3, 4), target[:1], (0.1, 0.5, 0.9))
    assert torch.allclose(dense, only_first)  # NaN steps neither add loss nor dilute the mean


def test_long_horizons_extend_recursively_from_the_median(trained, split) -> None:
    forecaster, _, _ = trained
    texts, histories = [e.text for e in examples(split.test)], [e.history for e in examples(split.test)]
    h = forecaster.horizon
    long = forecaster.predict(texts, histories, 3 * h + 2)
    assert long.shape == (len(texts), 3, 3 * h + 2)
    assert (long >= 0).all() and (np.diff(long, axis=1) >= 0).all()
    np.testing.assert_allclose(long[:, :, :h], forecaster.predict(texts, histories, h), rtol=1e-6)
    # Steps h+1..2h are the model's direct forecast from the history extended by its own median.
    raw, _ = forecaster.predict_scaled(texts, histories, h)
    scale = np.array([forecaster.model.spec.scaling.scale(x) for x in histories])
    median = np.clip(raw[:, 1] * scale[:, None], 0, None)
    extended = [np.concatenate([x, m]) for x, m in zip(histories, median)]
    raw_long, _ = forecaster.predict_scaled(texts, histories, 2 * h)
    again, _ = forecaster.predict_scaled(texts, extended, h)
    ext_scale = np.array([forecaster.model.spec.scaling.scale(x) for x in extended])
    again = again * (ext_scale / scale)[:, None, None]
    np.testing.assert_allclose(raw_long[:, 1, h:], again[:, 1], rtol=1e-5)  # the median continues the path
    carried = np.abs(raw[:, [0, 2], -1:] - raw[:, 1:2, -1:])
    spread = np.maximum(carried, np.abs(again[:, [0, 2]] - again[:, 1:2]))  # never narrower than the step before
    np.testing.assert_allclose(np.abs(raw_long[:, [0, 2], h:] - raw_long[:, 1:2, h:]), spread, rtol=1e-5, atol=1e-9)
    assert forecaster.predict(texts[:1], histories[:1], MAX_HORIZON).shape[2] == MAX_HORIZON
    with pytest.raises(ValueError, match=f"horizon must be in 1..{MAX_HORIZON}"):
        forecaster.predict(texts[:1], histories[:1], MAX_HORIZON + 1)


def test_evaluation_scores_every_step_bucket_and_launches(trained, split) -> None:
    forecaster, result, _ = trained
    assert result.best_epoch >= 0 and min(r.val_loss for r in result.curves) <= result.curves[0].val_loss
    test = evaluate(forecaster, examples(split.test), split.season_length)
    assert list(test.buckets) == ["1-4", "5-8", "9-12"] or list(test.buckets) == ["1-4", "5-8", "9-13"]
    for bucket in test.buckets.values():
        assert bucket.model.wape is not None and 0 <= bucket.model.coverage <= 1 and bucket.raw_coverage is not None
    val = evaluate(forecaster, examples(split.val), split.season_length)
    assert val.launches is None or val.launches.model.bias is not None
    train = evaluate(forecaster, examples(split.train), split.season_length)
    assert train.launches is not None and train.launches.model.windows == sum(
        e.history.size == 0 for e in examples(split.train))


def test_accuracy_ignores_unobserved_steps() -> None:
    targets = np.array([[2.0, np.nan], [4.0, 4.0]])
    points = np.array([[1.0, 1000.0], [4.0, 2.0]])
    result = accuracy(points, targets, [np.array([1.0, 3.0]), np.array([2.0, 4.0])], 1,
                      (points - 1, points + 1))
    assert result.wape == pytest.approx((1 + 0 + 2) / 10) and result.coverage == pytest.approx(2 / 3)
    assert result.mase == pytest.approx(((1 / 1) / 2 + (2 / 2 / 2)) / 2) and result.bias == pytest.approx(-0.3)


def test_conformal_offsets_bring_coverage_to_the_nominal_level() -> None:
    rng = np.random.default_rng(0)

    def draw(n):  # quantile forecasts too narrow for the noise: raw coverage far below 80%
        truth = rng.normal(0, 1, size=(n, 3))
        scaled = np.stack([np.full((n, 3), -0.4), np.zeros((n, 3)), np.full((n, 3), 0.4)], axis=1)
        return scaled, truth

    scaled, truth = draw(3000)
    truth[:1000, 2] = np.nan  # unobserved steps are not scores
    calibration = fit_calibration(scaled, truth, direct_steps=3)
    assert calibration.values == 8000 and calibration.lower > 0 and calibration.upper > 0
    assert calibration.extended is None  # no step past the head: its offsets are the direct ones
    fresh, fresh_truth = draw(4000)
    raw = ((fresh[:, 0] <= fresh_truth) & (fresh_truth <= fresh[:, 2])).mean()
    adjusted = calibration.apply(fresh, direct_steps=3)
    covered = ((adjusted[:, 0] <= fresh_truth) & (fresh_truth <= adjusted[:, 2])).mean(axis=0)
    assert raw < 0.4 and np.all((covered > 0.76) & (covered < 0.84)), covered
    np.testing.assert_array_equal(adjusted[:, 1], fresh[:, 1])  # the median stays
    wide = np.stack([np.full((5, 4), -9.0), np.zeros((5, 4)), np.full((5, 4), 9.0)], axis=1)
    narrowed = fit_calibration(wide.repeat(10, axis=0), np.zeros((50, 4)), 4).apply(wide, 4)
    assert narrowed[:, 2].max() < 9 and (narrowed[:, 0] <= narrowed[:, 1]).all() and (narrowed[:, 2] >= narrowed[:, 1]).all()
    with pytest.raises(ValueError, match="at least 30 are needed"):
        fit_calibration(scaled[:5], truth[:5], 3)


def test_extended_steps_get_their_own_offsets_from_their_own_residuals() -> None:
    """Recursive steps err more than the direct ones; offsets pooled with the direct steps would under-cover them."""
    rng = np.random.default_rng(1)
    direct, extended = 3, 4

    def draw(n, rows_reaching_past_head):
        truth = np.concatenate([rng.normal(0, 1, (n, direct)), rng.normal(0, 3, (n, extended))], axis=1)
        truth[rows_reaching_past_head:, direct:] = np.nan  # like validation windows, which stop at the head
        scaled = np.stack([np.full(truth.shape, -0.4), np.zeros(truth.shape), np.full(truth.shape, 0.4)], axis=1)
        return scaled, truth

    scaled, truth = draw(3000, 500)
    calibration = fit_calibration(scaled, truth, direct)
    assert calibration.values == 3000 * direct and calibration.extended.values == 500 * extended
    assert calibration.extended.lower > calibration.lower + 2 and calibration.extended.upper > calibration.upper + 2
    fresh, fresh_truth = draw(4000, 4000)

    def coverage(quantiles):
        return ((quantiles[:, 0] <= fresh_truth) & (fresh_truth <= quantiles[:, 2])).mean(axis=0)

    covered = coverage(calibration.apply(fresh, direct))
    assert np.all((covered > 0.76) & (covered < 0.84)), covered
    direct_only = coverage(calibration.model_copy(update={"extended": None}).apply(fresh, direct))
    assert np.all(direct_only[direct:] < 0.5), direct_only  # what reusing the direct offsets would give
    few = truth.copy()
    few[5:, direct:] = np.nan  # 20 extended values: too few for offsets of their own
    assert fit_calibration(scaled, few, direct).extended is None


def test_extension_windows_score_the_recursion_on_validation_targets_only(trained, split) -> None:
    step = pd.tseries.frequencies.to_offset(FREQ)
    h = SPEC.horizon
    assert split.extension and split.summary()["extension_windows"] == len(split.extension)
    origins = sorted({w.cutoff for w in split.extension})
    assert origins[0] == split.val_start - h * step  # its step h + 1 is the first validation period
    assert all(a + SPEC.origin_step * step == b for a, b in zip(origins, origins[1:]))
    for w in split.extension:
        assert w.example.history.size > 0 and w.example.target.size > h
        assert split.val_start <= w.cutoff + h * step and w.cutoff + w.example.target.size * step == split.test_start
    forecaster, _, _ = trained
    calibration = calibrate(forecaster, examples(split.val), examples(split.extension))
    past_head = sum(w.example.target.size - h for w in split.extension)
    assert calibration.extended is not None and calibration.extended.values == past_head  # steps <= h not scored
    assert calibration.values == sum(w.example.target.size for w in split.val)


def _save(root: Path, forecaster: RegressionForecaster, artifact_id: str, created: str, horizon: int,
          data: dict, test: Evaluation | None = None) -> Path:
    spec = forecaster.model.spec.model_copy(update={"horizon": horizon})
    forecaster.model.spec = spec
    config = ArtifactConfig(artifact_id=artifact_id, created=datetime.fromisoformat(created).replace(tzinfo=timezone.utc),
                            spec=spec, training=TrainConfig(), best_epoch=1, train_seconds=1.0, data=data,
                            metrics={"test": test} if test else {})
    return save_artifact(root, forecaster.model, forecaster.tokenizer, config, [])


def test_auto_prefers_this_datas_artifact_then_the_longest_then_the_newest(trained, tmp_path) -> None:
    forecaster, _, _ = trained
    data = _dataset()
    spec_h = forecaster.model.spec.horizon
    here = {"dataset": data.name, "freq": FREQ, "as_of": "2024-12-30",
            "data_fingerprint": data.fingerprint(pd.Timestamp("2024-12-30"))}
    elsewhere = {"dataset": "completejourney", "freq": FREQ, "as_of": "2018-01-01", "data_fingerprint": "0" * 16}
    score = Evaluation(loss=0.2, model=Accuracy(windows=9, mase=0.81, wape=0.64),
                       baseline=Accuracy(windows=9, mase=0.86, wape=0.66))
    root = tmp_path / "regression"
    try:
        long_old = _save(root, forecaster, "long-old", "2026-01-01", 13, elsewhere, score)
        _save(root, forecaster, "short-new", "2026-02-01", 4, elsewhere, score)
        choice, _ = choose_artifact(root, data.name, FREQ, lambda as_of: data.fingerprint(pd.Timestamp(as_of)))
        assert choice.path == long_old and not choice.trained_here  # the newer short one does not hide it
        assert "transferred: trained on 'completejourney'" in choice.note and "MASE 0.810 / WAPE 0.640" in choice.note
        mine = _save(root, forecaster, "mine-short", "2025-06-01", 4, here)
        choice, _ = choose_artifact(root, data.name, FREQ, lambda as_of: data.fingerprint(pd.Timestamp(as_of)))
        assert choice.path == mine and choice.trained_here and "trained on this dataset (synthetic" in choice.note
        changed = _dataset()
        changed.sales.loc[0, "y"] += 1  # same name, different data: not trained here
        choice, _ = choose_artifact(root, data.name, FREQ, lambda as_of: changed.fingerprint(pd.Timestamp(as_of)))
        assert choice.path == long_old
        none, why = choose_artifact(root, data.name, "MS", lambda as_of: "x")
        assert none is None and "no regression artifact trained on MS data" in why and "--sales" in why
        thursday, _ = choose_artifact(root, "other", "W-THU", lambda as_of: "x")  # weekly is weekly, any weekday
        assert thursday is not None and thursday.path == long_old
        loaded = load_forecaster(mine, note=choice.note)
        assert loaded.note == choice.note and loaded.horizon == 4
    finally:
        forecaster.model.spec = forecaster.model.spec.model_copy(update={"horizon": spec_h})
