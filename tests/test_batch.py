"""`shelfcast batch` and the long frame: fault injection against a scripted OpenAI server, kill and resume on Ray.

- The frame layout (`forecasts_to_frame`, `Shelfcast.predict_df`) and the worker
  UDF run in-process, fast.
- `test_kill_and_resume_exactly_once` runs the real CLI on a local Ray twice over
  2,000 products in 20 blocks: the first run is killed (SIGKILL to its process
  group) once some blocks are committed; the second finishes without asking the
  LLM again for any committed product, every product is there exactly once, and
  each product's reason is the one its scripted failure must give.
- `test_batch_with_real_vllm` runs a few dozen built-in products through a real
  vLLM server serving SmolLM2.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.batch.run import BatchError, committed_ids, read_output
from agent.batch.worker import ForecastBatch
from agent.data import load_dataset
from agent.forecast.chain import ChainSettings
from agent.forecast.context import ContextBuilder, ForecastContext
from agent.forecast.result import frame_columns
from agent.pipeline import Shelfcast
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
HORIZON = 4


def behaviour(i: int) -> str:
    """How the fake server treats product i: 5% each invalid, 400, 503 and all-zero history, 1% slow, the rest valid."""
    if i % 100 == 3:
        return "slow"
    return {0: "invalid", 1: "http400", 2: "http503", 4: "zeros"}.get(i % 20, "valid")


def write_catalog(folder: Path, n: int, weeks: int = 20) -> tuple[Path, Path]:
    """n products with `weeks` weekly sales; the title says how the fake server treats the product."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=weeks, freq="W-MON")
    ids = [f"p{i:05d}" for i in range(n)]
    levels = rng.integers(5, 60, size=n).astype(float)
    y = rng.poisson(levels[:, None], size=(n, weeks)).astype(float)
    y[[behaviour(i) == "zeros" for i in range(n)]] = 0.0
    sales = pd.DataFrame({"unique_id": np.repeat(ids, weeks), "ds": np.tile(dates, n), "y": y.ravel()})
    catalog = pd.DataFrame({"unique_id": ids, "title": [f"item {i:05d} {behaviour(i)}" for i in range(n)]})
    sales_path, catalog_path = folder / "sales.parquet", folder / "catalog.csv"
    sales.to_parquet(sales_path, index=False)
    catalog.to_csv(catalog_path, index=False)
    return sales_path, catalog_path


def expected_reason(kind: str) -> str:
    return {"valid": "", "invalid": "llm-zero-shot: too few valid samples (0/20",
            "http400": "rejected the request (400)", "http503": "answered 503",
            "slow": "no answer within", "zeros": "llm-zero-shot: history is all zeros"}[kind]


def check_reasons(frame: pd.DataFrame) -> None:
    products = frame.drop_duplicates("unique_id").set_index("unique_id")
    for uid, row in products.iterrows():
        kind = behaviour(int(uid[1:]))
        if kind == "valid":
            assert (row["path"], row["reason"], row["n_valid_samples"]) == ("llm-zero-shot", "", 20), (uid, dict(row))
        else:
            assert row["path"] == "baseline" and row["n_valid_samples"] == 0, (uid, dict(row))
            assert expected_reason(kind) in row["reason"], (uid, kind, row["reason"])


# --------------------------------------------------------------------------- the long frame, in-process


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    return write_catalog(tmp_path_factory.mktemp("small"), 40, weeks=12)


def test_predict_df_is_nixtla_long_frame(small):
    dataset = load_dataset(str(small[0]), str(small[1]))
    app = Shelfcast(dataset, index=None, backend=None)  # type: ignore[arg-type]  # no LLM: the floor answers
    ids = ["p00007", "p00003", "p00004"]
    frame = app.predict_df(ids, 3, mode="auto")
    assert list(frame.columns) == frame_columns()
    assert frame["unique_id"].tolist() == [uid for uid in ids for _ in range(3)]
    assert frame.groupby("unique_id")["ds"].nunique().eq(3).all()
    assert (frame["shelfcast-lo-80"] <= frame["shelfcast"]).all()
    assert (frame["shelfcast"] <= frame["shelfcast-hi-80"]).all()
    assert set(frame["path"]) == {"baseline"} and (frame["n_valid_samples"] == 0).all()
    assert frame["reason"].str.contains("llm-zero-shot: no LLM backend configured").all()
    one = app.forecast("p00007", 3)
    assert frame["shelfcast"].iloc[:3].tolist() == one.point


def test_context_round_trips_through_json(small):
    builder = ContextBuilder(load_dataset(str(small[0]), str(small[1])))
    context = builder.for_product("p00005", HORIZON, with_analogs=False)
    again = ForecastContext.model_validate_json(context.model_dump_json())
    assert again == context and isinstance(again.cutoff, pd.Timestamp)


def test_worker_answers_every_row_with_its_reason(small):
    """The UDF in-process: each scripted failure falls back with its own reason, and a crash in the chain does too."""
    builder = ContextBuilder(load_dataset(str(small[0]), str(small[1])))
    ids = [f"p{i:05d}" for i in range(20)]
    contexts = [builder.for_product(u, HORIZON, with_analogs=False).model_dump_json() for u in ids]
    batch = pd.DataFrame({"unique_id": ids, "context": contexts})
    with FakeOpenAI(slow_s=3.0) as fake:
        udf = ForecastBatch("zero-shot", [fake.url], ChainSettings(timeout_s=1.5), artifact=None, max_in_flight=8)
        frame = asyncio.run(udf(batch))
    assert len(frame) == 20 * HORIZON and list(frame.columns) == frame_columns()
    check_reasons(frame)

    class Broken:
        artifact_id = "broken"

        def predict(self, texts, histories, horizon):
            raise RuntimeError("scripted crash")

    udf = ForecastBatch("regression", [], ChainSettings(), artifact=None, max_in_flight=1)
    udf.chain.regressor = Broken()
    frame = asyncio.run(udf(batch.head(2)))
    assert (frame["path"] == "baseline").all()
    assert frame["reason"].str.startswith("regression: batch worker error: RuntimeError: scripted crash").all()


# --------------------------------------------------------------------------- the real CLI on a local Ray


def batch_cli(out: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-c", "from agent.cli import main; main()", "batch", "--out", str(out),
                             "-h", str(HORIZON), *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.slow
def test_kill_and_resume_exactly_once(tmp_path):
    sales, catalog = write_catalog(tmp_path, 2000)
    out = tmp_path / "out"
    with FakeOpenAI(delay_s=0.05, slow_s=8.0) as fake:
        args = ("--sales", str(sales), "--catalog", str(catalog), "--mode", "zero-shot", "--llm-url", fake.url,
                "--llm-timeout", "5", "--batch-size", "100", "--max-in-flight", "8")
        first = batch_cli(out, *args)
        deadline = time.monotonic() + 240
        while len(committed_ids(out / "checkpoint")) < 300:  # >= 3 of 20 blocks written and committed
            assert first.poll() is None, f"the first run ended before it could be killed:\n{first.stdout.read()}"
            assert time.monotonic() < deadline, "no block committed within 240 s"
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        done_first = committed_ids(out / "checkpoint")
        assert 300 <= len(done_first) < 2000
        time.sleep(3)  # the killed run's workers exit once their raylet is gone
        fake.take_asked()

        second = batch_cli(out, *args)
        log, _ = second.communicate(timeout=400)
        assert second.returncode == 0, log
        asked_again = {f"p{int(title.split()[1]):05d}" for title in fake.take_asked()}
    assert not asked_again & done_first, f"{len(asked_again & done_first)} finished products were asked again"
    assert f"{len(done_first):,} products already done" in log
    assert "products/s" in log and "fallback" in log and "ETA" in log

    frame = read_output(out)
    assert len(frame) == 2000 * HORIZON
    assert frame.groupby("unique_id")["ds"].nunique().eq(HORIZON).all() and frame["unique_id"].nunique() == 2000
    assert not frame.duplicated(["unique_id", "ds"]).any()
    check_reasons(frame)


def test_changed_run_in_same_folder_is_refused(tmp_path, small):
    from agent.batch.run import BatchRequest, run_batch

    request = BatchRequest(horizon=2, mode="baseline", out=tmp_path, sales=str(small[0]), catalog=str(small[1]),
                           sample=5, batch_size=5)
    (tmp_path / "batch.json").write_text('{"key": {"horizon": 3}, "packed": 5}')
    with pytest.raises(BatchError, match="different .*horizon"):
        run_batch(request, report=lambda line: None)


# --------------------------------------------------------------------------- real vLLM + SmolLM2


@pytest.mark.vllm
@pytest.mark.slow
def test_batch_with_real_vllm(vllm_server, tmp_path):
    out = tmp_path / "out"
    run = batch_cli(out, "--sample", "24", "--mode", "zero-shot", "--llm-url", vllm_server, "--llm-timeout", "300",
                    "--batch-size", "8")
    log, _ = run.communicate(timeout=1200)
    assert run.returncode == 0, log
    frame = read_output(out)
    products = frame.drop_duplicates("unique_id")
    assert len(products) == 24 and len(frame) == 24 * HORIZON
    llm = products[products["path"] == "llm-zero-shot"]
    assert len(llm) >= 1, products[["unique_id", "path", "reason"]].to_string()
    assert (llm["n_valid_samples"] >= 10).all() and (llm["reason"] == "").all()
    assert (products.loc[products["path"] != "llm-zero-shot", "reason"] != "").all()


def test_unreachable_llm_is_refused_before_any_work(tmp_path, small):
    from agent.batch.run import BatchRequest, run_batch

    request = BatchRequest(horizon=2, mode="zero-shot", out=tmp_path / "out", sales=str(small[0]),
                           catalog=str(small[1]), llm_urls=["http://127.0.0.1:9"])
    with pytest.raises(BatchError, match="127.0.0.1:9 failed its health check"):
        run_batch(request, report=lambda line: None)
    assert not (tmp_path / "out").exists()


def test_regression_is_batched_once_per_block(small):
    """Without an LLM the block's regression answers come from one batched call; a horizon the model
    cannot forecast falls back per product with the model's own error."""
    from agent.batch.worker import PrimedRegressor

    class Model:
        artifact_id = "fake-regression"
        note = "fake model for the test"
        max_horizon = 3

        def __init__(self):
            self.calls = []

        def predict(self, texts, histories, horizon):
            self.calls.append(len(texts))
            if horizon > self.max_horizon:
                raise ValueError(f"forecasts at most {self.max_horizon} periods")
            return np.stack([np.tile([[1.0], [2.0], [3.0]], (1, horizon)) * (i + 1) for i in range(len(texts))])

    builder = ContextBuilder(load_dataset(str(small[0]), str(small[1])))
    for horizon, path in ((3, "regression"), (4, "baseline")):
        ids = [f"p{i:05d}" for i in range(10)]
        batch = pd.DataFrame({"unique_id": ids, "context": [
            builder.for_product(u, horizon, with_analogs=False).model_dump_json() for u in ids]})
        model = Model()
        udf = ForecastBatch("regression", [], ChainSettings(), artifact=None, max_in_flight=1)
        udf.regressor = udf.chain.regressor = PrimedRegressor(model)
        frame = asyncio.run(udf(batch)).drop_duplicates("unique_id")
        assert (frame["path"] == path).all()
        if path == "regression":
            assert model.calls == [10]  # one call for the block, none per product
            assert frame["shelfcast"].tolist() == [2.0 * (i + 1) for i in range(10)]
        else:
            assert model.calls == [10] + [1] * 10  # the block call failed; each product asked and failed alone
            assert frame["reason"].str.contains("regression model cannot answer: forecasts at most 3").all()
