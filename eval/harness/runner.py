"""Run models over evaluation tasks, with a per-model cache so a run can be resumed.

Layout under the output folder:

    cache/<task>/<model>.parquet        forecasts: unique_id, ds, cutoff, <model>, <model>-lo-80, <model>-hi-80
    cache/<task>/<model>.json           what made them (task fingerprint, model key) and how long it took
    cache/<task>/<model>.diag.parquet   per forecast: path, fallbacks, samples, analogs (chain / kNN)
    cache/<task>/<model>.partial*.parquet   chain models only: finished forecasts of an interrupted run

A finished model is skipped on a rerun when its task fingerprint (the exact
items and actuals) and model key (model version, backend and model ids) match;
`force=True` recomputes. Chain models checkpoint every CHECKPOINT_EVERY forecasts,
so an interrupted LLM run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agent.data.dataset import Dataset
from agent.forecast.result import forecasts_to_frame
from agent.llm.cache import CachedBackend
from eval.harness import baselines as bl
from agent.forecast.routing import RoutingTable, dataset_fingerprint
from eval.harness.baselines import MODELS, CachedRetriever, columns
from eval.harness.routing import Evidence, candidates, cross_fit, item_segments, to_table
from eval.harness.tasks import EvalTask, Panel, TaskError, existing_task, new_product_task

HARNESS_VERSION = "1"
CHECKPOINT_EVERY = 25


@dataclass
class EvalConfig:
    task: str = "both"  # existing | new | both
    models: list[str] = field(default_factory=lambda: list(bl.BASELINES))
    horizon: int = 4
    n_windows: int = 3
    max_series: int | None = 500
    seed: int = 0
    launch_after: str | None = None
    n_boot: int = 2000
    min_history: int | None = None  # existing products: periods before the first window (None: max(26, 4h+2), lowered to fit)

    def __post_init__(self) -> None:
        if self.task not in ("existing", "new", "both"):
            raise ValueError(f"unknown task {self.task!r}: use existing, new or both")
        self.models = bl.resolve_models(self.models)

    @property
    def task_kinds(self) -> list[str]:
        return ["existing", "new"] if self.task == "both" else [self.task]


@dataclass
class ModelRun:
    task: str
    model: str
    forecasts: pd.DataFrame
    diag: pd.DataFrame
    meta: dict


@dataclass
class TaskResult:
    task: EvalTask
    frame: pd.DataFrame  # actuals + every model's columns
    runs: dict[str, ModelRun]
    skipped: dict[str, str]  # model -> why it was not run on this task
    train: pd.DataFrame | None  # sales of the task's products (MASE scale), existing products only
    evidence: Evidence | None = None  # held-out combination/routing and calibrated coverage (chain paths in the run)


@dataclass
class EvalResult:
    dataset: str
    config: EvalConfig
    tasks: dict[str, TaskResult]
    started: str
    wall_s: float
    backend_note: str = ""
    notes: list[str] = field(default_factory=list)
    routing: RoutingTable | None = None  # fitted on every task's chain paths; None when no chain path ran


class Harness:
    """Holds one dataset's panel, lazily the product index and the chain; runs models over tasks."""

    def __init__(self, dataset: Dataset, out: Path | str, *, index=None, backend=None, backend_note: str = "",
                 regressor=None, chain=None, force: bool = False, progress: bool = True,
                 console: Console | None = None, index_loader: Callable[[], object] | None = None,
                 lora_backend=None):
        """`backend` answers the base-LLM models; `lora_backend` the models with weights 'lora' (the tuned forecaster)."""
        _check_dataset(dataset)
        self.dataset = dataset
        self.out = Path(out)
        self.panel = Panel(dataset)
        self._index = index
        self._index_loader = index_loader
        self.backend_note = backend_note or ("LLM disabled" if backend is None else getattr(backend, "name", ""))
        self.regressor = regressor
        # Chain modes re-send each other's seeded requests (auto begins with few-shot's); answer each once.
        self.backends = {weights: None if llm is None else CachedBackend(llm, self.out / "cache" / "llm-responses.sqlite")
                         for weights, llm in {"base": backend, "lora": lora_backend}.items()}
        self._chains = {"base": chain} if chain is not None else {}
        self.force = force
        self.progress = progress
        self.console = console or Console(stderr=True, quiet=not progress)
        self.catalog = dataset.catalog.assign(unique_id=dataset.catalog["unique_id"].astype(str))
        self._retriever: CachedRetriever | None = None
        self._builder = None

    # ------------------------------------------------------------------ resources

    @property
    def retriever(self) -> CachedRetriever:
        if self._retriever is None:
            if self._index is None:
                if self._index_loader is None:
                    from agent.retrieval.index import ProductIndex

                    self.console.print("[dim]loading the product index (built and saved on first use)...[/]")
                    self._index = ProductIndex.load_or_build(self.dataset.catalog, name=_index_name(self.dataset.name),
                                                             progress=self.progress)
                else:
                    self._index = self._index_loader()
            self._retriever = CachedRetriever(self._index)
        return self._retriever

    @property
    def builder(self):
        """The one ContextBuilder of this harness: every chain's contexts and the knn row on launches."""
        if "base" in self._chains:
            return self._chains["base"].builder
        if self._builder is None:
            from agent.forecast.context import ContextBuilder

            self._builder = ContextBuilder(self.dataset, self.retriever)
        return self._builder

    @property
    def chain(self):
        """The chain on the base LLM."""
        return self.chain_for("base")

    def chain_for(self, weights: str):
        """The chain whose LLM has these weights; all chains share one context builder (same prompts)."""
        if weights not in self._chains:
            from agent.forecast.chain import ForecastChain
            from agent.forecast.gbm import GbmForecaster

            self._chains[weights] = ForecastChain(self.builder, self.backends[weights], self.regressor,
                                                  gbm=GbmForecaster(self.dataset))
        return self._chains[weights]

    # ------------------------------------------------------------------ tasks

    def make_tasks(self, config: EvalConfig) -> tuple[list[EvalTask], list[str]]:
        """The tasks to run, and notes for those skipped: with both kinds asked for, data that cannot make one kind
        (e.g. no launches) run the other and say why; a single kind asked for that cannot be made is an error."""
        tasks, notes = [], []
        for kind in config.task_kinds:
            try:
                if kind == "existing":
                    tasks.append(existing_task(self.dataset, self.panel, config.horizon, config.n_windows,
                                               config.max_series, config.seed, config.min_history))
                else:
                    tasks.append(new_product_task(self.dataset, self.panel, config.horizon, config.max_series,
                                                  config.seed, config.launch_after))
            except TaskError as exc:
                if len(config.task_kinds) == 1:
                    raise
                notes.append(f"{kind} task skipped: {exc}")
        if not tasks:
            raise TaskError("; ".join(notes))
        return tasks, notes

    # ------------------------------------------------------------------ running

    def run(self, config: EvalConfig) -> EvalResult:
        started = time.perf_counter()
        stamp = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
        results: dict[str, TaskResult] = {}
        tasks, notes = self.make_tasks(config)
        notes += [f"{task.kind} task: {s}" for task in tasks for s in task.settings.get("shortfall", [])]
        if self.regressor is not None and any(MODELS[m].mode in ("regression", "auto") for m in config.models):
            notes += regression_overlap(self.regressor, tasks)
        for note in notes:
            self.console.print(f"[yellow]note:[/] {note}")
        for task in tasks:
            self.console.print(f"[bold]{task.describe()}[/]")
            runs, skipped = {}, {}
            for model in config.models:
                spec = MODELS[model]
                if spec.kind == "derived" and task.kind in spec.tasks:
                    continue  # computed from the other rows below
                if task.kind not in spec.tasks:
                    skipped[model] = (
                        "for a new product the chain's zero-shot and few-shot use the same new-product prompt "
                        "(reported as llm-few-shot)" if model == "llm-zero-shot"
                        else "needs the product's own history")
                    continue
                runs[model] = self.run_model(task, model, config.seed)
            if not runs:
                note = f"{task.kind} task skipped: none of the selected models applies to it ({'; '.join(f'{m}: {w}' for m, w in skipped.items())})"
                self.console.print(f"[yellow]note:[/] {note}")
                notes.append(note)
                continue
            frame = task.actuals.copy()
            for model, run in runs.items():
                frame = frame.merge(run.forecasts, on=["unique_id", "ds", "cutoff"], how="left", validate="1:1")
                missing = frame[model].isna().sum()
                if missing:
                    raise RuntimeError(f"{model} on {task.kind}: {missing} forecasts missing")
            evidence = self._evidence(task, frame, runs, skipped, config)
            if evidence is not None:
                for model in [m for m in config.models if MODELS[m].kind == "derived" and m not in skipped]:
                    runs[model] = _derived_run(task, model, evidence)
                    frame = frame.merge(runs[model].forecasts, on=["unique_id", "ds", "cutoff"], how="left",
                                        validate="1:1")
            train = None
            if task.kind == "existing":
                ids = task.items["unique_id"].unique()
                sales = self.dataset.sales
                train = sales.loc[sales["unique_id"].astype(str).isin(ids), ["unique_id", "ds", "y"]].assign(
                    unique_id=lambda d: d["unique_id"].astype(str)).sort_values(["unique_id", "ds"], ignore_index=True)
            results[task.kind] = TaskResult(task, frame, runs, skipped, train, evidence)
        if not results:
            raise ValueError(f"none of the models {', '.join(config.models)} applies to the {config.task} task(s)")
        evidence = [r.evidence for r in results.values() if r.evidence is not None]
        routing = None
        if evidence:
            source = f"shelfcast eval into {self.out} at {stamp}: " + "; ".join(r.task.describe() for r in results.values())
            routing = to_table(evidence, self.dataset.name, dataset_fingerprint(self.dataset.sales, self.dataset.freq),
                               source)
        return EvalResult(self.dataset.name, config, results, stamp, time.perf_counter() - started,
                          self.backend_note, notes, routing)

    def _evidence(self, task: EvalTask, frame: pd.DataFrame, runs: dict, skipped: dict,
                  config: EvalConfig) -> Evidence | None:
        """Cross-fitted routing, combination and calibration over the chain paths in this run (None: no path ran)."""
        paths = candidates(task.kind, list(runs))
        derived = [m for m in config.models if MODELS[m].kind == "derived" and task.kind in MODELS[m].tasks]
        if len(paths) < 2:
            for model in derived:
                skipped[model] = (f"needs at least two chain paths ({', '.join(candidates(task.kind, list(MODELS)))}) "
                                  f"in the run; it has {paths or 'none'}")
        if not paths:
            return None
        return cross_fit(frame, item_segments(task, self.panel), task.kind, paths)

    def run_model(self, task: EvalTask, model: str, seed: int = 0) -> ModelRun:
        folder = self.out / "cache" / task.kind
        folder.mkdir(parents=True, exist_ok=True)
        key = self.model_key(model, task)
        meta_path = folder / f"{model}.json"
        if not self.force and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("task_fingerprint") == task.fingerprint and meta.get("model_key") == key:
                self.console.print(f"  {model}: cached ({meta['n_forecasts']} forecasts in {meta['wall_s']:.1f}s)")
                diag_path = folder / f"{model}.diag.parquet"
                return ModelRun(task.kind, model, pd.read_parquet(folder / f"{model}.parquet"),
                                pd.read_parquet(diag_path) if diag_path.exists() else pd.DataFrame(), meta | {"cached": True})
            self.console.print(f"  {model}: cache is stale (different task or model), recomputing")
        spec = MODELS[model]
        tic = time.perf_counter()
        replayed = 0
        if spec.kind == "chain":
            llm = self.backends[spec.weights]
            hits = llm.hits if llm is not None else 0
            forecasts, diag, resumed = self._run_chain(task, model, folder, key)
            replayed = (llm.hits - hits) if llm is not None else 0
        else:
            forecasts, diag = self._run_baseline(task, model, seed)
            resumed = 0
        wall = time.perf_counter() - tic
        n = len(task.items)
        meta = {"model": model, "task": task.kind, "task_fingerprint": task.fingerprint, "model_key": key,
                "n_forecasts": n, "wall_s": round(wall, 3), "resumed_forecasts": resumed,
                # LLM requests answered from the response cache (sent before by another chain mode): not in wall_s.
                "llm_requests_replayed": replayed,
                "forecasts_per_s": round((n - resumed) / wall, 3) if wall > 0 else None,
                "finished": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"), "harness_version": HARNESS_VERSION}
        forecasts = forecasts.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)
        _atomic_parquet(forecasts, folder / f"{model}.parquet")
        if not diag.empty:
            _atomic_parquet(diag, folder / f"{model}.diag.parquet")
        tmp = meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(meta_path)
        for partial in folder.glob(f"{model}.partial*.parquet"):
            partial.unlink()
        self.console.print(f"  {model}: {n} forecasts in {wall:.1f}s")
        return ModelRun(task.kind, model, forecasts, diag, meta | {"cached": False})

    def model_key(self, model: str, task: EvalTask) -> str:
        """What, besides the task, decides a model's forecasts: version and settings, backend and model ids."""
        spec = MODELS[model]
        parts = [HARNESS_VERSION, model, spec.description]
        if model == "gbm" or spec.mode in ("gbm", "auto"):  # auto falls through to the gbm path
            from agent.forecast.gbm import settings_key

            parts.append(settings_key(n_series=None) if model == "gbm" else settings_key())  # the bar fits on its items
        if spec.kind == "chain":
            from agent.forecast.prompting import PROMPT_VERSION

            # For the tuned weights the backend's model id names the adapter, so two adapters never share a cache.
            backend = self.backends[spec.weights]
            # Only modes that can reach the regression model depend on which artifact is loaded.
            regressor = str(getattr(self.regressor, "artifact_id", "none")) if spec.mode in ("regression", "auto") else "-"
            parts += [PROMPT_VERSION, getattr(backend, "name", "none"), str(getattr(backend, "model_id", "")), regressor]
            settings = getattr(self._chains.get(spec.weights), "settings", None)
            if settings is None:
                from agent.forecast.chain import ChainSettings

                settings = ChainSettings()
            parts.append(json.dumps(asdict(settings), sort_keys=True, default=str))
        return "|".join(parts)

    # ------------------------------------------------------------------ baselines

    def _groups(self, task: EvalTask):
        for stop, items in task.items.groupby("stop", sort=True):
            yield int(stop), items

    def _run_baseline(self, task: EvalTask, model: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        parts, diags = [], []
        with self._progress() as progress:
            bar = progress.add_task(f"{task.kind}: {model}", total=len(task.items))
            for stop, items in self._groups(task):
                visible = self.panel.visible(stop)
                ids = items["unique_id"].tolist()
                diag = pd.DataFrame()
                if model in bl.STAT_MODELS:
                    frame = bl.stat_forecast(model, visible, ids, task.horizon)
                elif model == "gbm":
                    frame = bl.gbm_forecast(visible, ids, task.horizon)
                elif model == "category-mean":
                    frame, diag = bl.category_forecast(visible, ids, task.horizon, task.kind, self.catalog)
                elif model == "knn" and task.kind == "new":
                    frame, diag = bl.knn_launch_forecast(self.builder, ids, visible.start, task.horizon)
                elif model == "knn":
                    frame, diag = bl.knn_forecast(visible, ids, task.horizon, self.catalog, self.retriever)
                else:  # pragma: no cover - registry and dispatch agree
                    raise ValueError(model)
                cutoff = items["cutoff"].iloc[0]
                parts.append(frame.assign(cutoff=cutoff))
                if not diag.empty:
                    diags.append(diag.assign(cutoff=cutoff))
                progress.advance(bar, len(items))
        return pd.concat(parts, ignore_index=True), (pd.concat(diags, ignore_index=True) if diags else pd.DataFrame())

    # ------------------------------------------------------------------ chain

    def context(self, task: EvalTask, unique_id: str, start: pd.Timestamp, mode: str):
        """The ForecastContext a chain model sees for one item (strictly before `start`)."""
        builder = self.chain.builder
        if task.kind == "existing":
            return builder.for_product(unique_id, task.horizon, start, with_analogs=mode in ("auto", "few-shot"))
        return builder.for_catalog_launch(unique_id, task.horizon, start)

    def _run_chain(self, task: EvalTask, model: str, folder: Path, key: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        mode = MODELS[model].mode
        chain = self.chain_for(MODELS[model].weights)
        partial_fc, partial_diag = folder / f"{model}.partial.parquet", folder / f"{model}.partial.diag.parquet"
        done_fc, done_diag = [], []
        if not self.force and partial_fc.exists() and partial_diag.exists():
            old = pd.read_parquet(partial_diag)
            if "model_key" in old and (old["model_key"] == key).all() and (old["task_fingerprint"] == task.fingerprint).all():
                done_fc, done_diag = [pd.read_parquet(partial_fc)], [old]
                self.console.print(f"  {model}: resuming after {len(old)} finished forecasts")
        done_keys = set(zip(done_diag[0]["unique_id"], done_diag[0]["cutoff"])) if done_diag else set()
        todo = [item for item in task.items.itertuples() if (item.unique_id, item.cutoff) not in done_keys]
        resumed = len(task.items) - len(todo)
        workers = chain.workers

        def one(item) -> tuple[pd.DataFrame, dict]:
            context = self.context(task, item.unique_id, item.start, mode)
            forecast = chain.run(context, mode)
            return _chain_rows(model, forecast, item), _chain_diag(chain, context, forecast, mode, item)

        new_fc, new_diag = [], []

        def checkpoint() -> None:
            if new_diag:
                fc = pd.concat(done_fc + new_fc, ignore_index=True)
                dg = pd.concat(done_diag + [pd.DataFrame(new_diag)], ignore_index=True).assign(
                    model_key=key, task_fingerprint=task.fingerprint)
                _atomic_parquet(fc, partial_fc)
                _atomic_parquet(dg, partial_diag)

        with self._progress() as progress, ThreadPoolExecutor(workers) as pool:
            bar = progress.add_task(f"{task.kind}: {model}", total=len(task.items), completed=resumed)
            for start in range(0, len(todo), CHECKPOINT_EVERY):
                batch = todo[start:start + CHECKPOINT_EVERY]
                for rows, diag in pool.map(one, batch):
                    new_fc.append(rows)
                    new_diag.append(diag)
                    progress.advance(bar)
                checkpoint()
        forecasts = pd.concat(done_fc + new_fc, ignore_index=True) if (done_fc or new_fc) else pd.DataFrame(
            columns=["unique_id", "ds", "cutoff", *columns(model)])
        diag = pd.concat(done_diag + [pd.DataFrame(new_diag)], ignore_index=True)
        diag = diag.drop(columns=[c for c in ("model_key", "task_fingerprint") if c in diag.columns])
        return forecasts, diag, resumed

    def _progress(self) -> Progress:
        return Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=self.console, disable=not self.progress, transient=True)


def _chain_rows(model: str, forecast, item) -> pd.DataFrame:
    """The library's long frame (agent.forecast.result.forecasts_to_frame) with the window's id and cutoff.

    The item's id, not the forecast's: a new product's forecast has none.
    """
    frame = forecasts_to_frame([forecast], model)
    return frame.assign(unique_id=item.unique_id, cutoff=item.cutoff)[["unique_id", "ds", "cutoff", *columns(model)]]


def _chain_diag(chain, context, forecast, mode: str, item) -> dict:
    planned = chain.plan(context, mode)
    llm = [a for a in forecast.attempts if a.path.startswith("llm-") and a.samples_total]
    return {"unique_id": item.unique_id, "cutoff": item.cutoff, "path": forecast.path, "planned": planned[0],
            "fallback": forecast.path != planned[0], "llm_calls": len(llm),
            "samples_total": int(sum(a.samples_total for a in llm)), "samples_valid": int(sum(a.samples_valid for a in llm)),
            "reasons": " | ".join(forecast.fallback_reasons), "latency_s": float(forecast.latency_s),
            "analog_ids": ",".join(a.unique_id for a in context.analogs), "history_length": len(context.history),
            "backend": forecast.backend or "", "model_ids": ",".join(forecast.model_ids)}


def _derived_run(task: EvalTask, model: str, evidence: Evidence) -> ModelRun:
    """A row computed from the chain paths' held-out forecasts; for `routed` the diagnostics say which path."""
    forecasts = evidence.rows[["unique_id", "ds", "cutoff", *columns(model)]]
    diag = pd.DataFrame()
    if model == "routed":
        per_item = evidence.rows.groupby(["unique_id", "cutoff"], as_index=False)["routed_model"].first()
        diag = per_item.rename(columns={"routed_model": "path"}).assign(fallback=False, samples_total=0, samples_valid=0)
    meta = {"model": model, "task": task.kind, "n_forecasts": len(task.items), "wall_s": None, "forecasts_per_s": None,
            "derived_from": evidence.candidates}
    return ModelRun(task.kind, model, forecasts, diag, meta | {"cached": False})


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def _index_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name) or "catalog"


def _check_dataset(dataset: Dataset) -> None:
    """Clear errors for datasets the harness cannot evaluate (the loader validates the contract itself)."""
    missing = [c for c in ("unique_id", "ds", "y") if c not in dataset.sales.columns]
    if missing:
        raise TaskError(f"dataset {dataset.name!r}: sales lack column(s) {missing}")
    if dataset.sales.empty:
        raise TaskError(f"dataset {dataset.name!r} has no sales rows")
    for col in ("unique_id", "title", "text"):
        if col not in dataset.catalog.columns:
            raise TaskError(f"dataset {dataset.name!r}: catalog lacks column {col!r}")
    y = pd.to_numeric(dataset.sales["y"], errors="coerce")
    if y.isna().any() or (y < 0).any():
        raise TaskError(f"dataset {dataset.name!r}: y must be non-negative numbers")
    if dataset.sales.duplicated(["unique_id", "ds"]).any():
        raise TaskError(f"dataset {dataset.name!r}: duplicate (unique_id, ds) rows")


LLM_MODELS = ("llm-zero-shot", "llm-few-shot", "auto")  # on the base weights; bl.LORA_MODELS on the tuned ones


def load_regressor_or_none(dataset: Dataset):
    """The regression artifact chosen for `dataset`, or None (the chain then records that it has none), and why."""
    try:
        from agent.pipeline import load_regressor

        return load_regressor(dataset)
    except Exception as exc:  # noqa: BLE001 - a broken artifact must not stop a baseline run; it is reported
        return None, f"regression model not loaded: {exc}"


def regression_overlap(regressor, tasks: list[EvalTask]) -> list[str]:
    """Say when the regression artifact's training or validation data reach into the evaluated windows.

    The artifact's training targets lie before its `val_start`; its validation
    region [val_start, test_start) chose the best epoch. An evaluated window
    starting before val_start may contain windows the model was trained on, and
    one inside the validation region was used to select it: both flatter the
    regression rows, so they are reported, not silently scored.
    """
    from agent.config import get_settings

    artifact = str(getattr(regressor, "artifact_id", ""))
    path = get_settings().models_dir / "regression" / artifact / "config.json"
    if not artifact or not path.exists():
        return [f"could not check what regression artifact {artifact or '?'} was trained on (no {path})"]
    data = json.loads(path.read_text()).get("data", {})
    if "val_start" not in data:
        return [f"regression artifact {artifact} does not record its split dates; its rows may include trained-on windows"]
    val_start, test_start = pd.Timestamp(data["val_start"]), pd.Timestamp(data.get("test_start", data["val_start"]))
    notes = []
    for task in tasks:
        starts = task.items["start"]
        trained = int((starts < val_start).sum())
        selected = int(((starts >= val_start) & (starts < test_start)).sum())
        if trained or selected:
            notes.append(f"{task.kind} task: regression artifact {artifact} (dataset {data.get('dataset')}) was trained on "
                         f"targets before {val_start.date()} and validated on [{val_start.date()}, {test_start.date()}); "
                         f"{trained} of {len(starts)} evaluated windows start before its validation region (possibly "
                         f"trained on) and {selected} inside it (used to pick its epoch): its regression/auto rows "
                         "are optimistic there")
    return notes
