"""Retrieval benchmark: embedding throughput, and the search engine chosen by measurement.

Prints, for the real built-in catalog and for 100k / 1M synthetic 384-d vectors:
embedding throughput, index build time, top-10 query latency p50/p99 on one
thread, recall@10 against an exact scan, index size and peak process RSS
(psutil, sampled while building) per engine: numpy
brute force, faiss IndexFlatIP (exact) and hnswlib HNSW (with ProductIndex's
parameters). Then it times `ProductIndex.search` end to end, filters included.

    python eval/bench_retrieval.py            # everything (~30+ min on 2 busy cores)
    python eval/bench_retrieval.py --sizes 100000 --embed-sample 2000   # quicker

Timing on a shared machine is noisy: the header records the load average, and
p99 mostly measures the neighbours' work. Progress bars go to stderr, results to
stdout (`make bench` tees stdout into eval/results/bench_retrieval.txt).
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread for everything timed per query; set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import version

import faiss
import numpy as np
import psutil

from agent.config import ensure_offline
from agent.retrieval.index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, ProductIndex, build_graph

K = 10
THREAD_PROBE = 600
PROCESS = psutil.Process()


# ------------------------------------------------------------------ measuring


class PeakRSS:
    """Samples this process's RSS every 10 ms in a thread: psutil has no peak counter on Linux."""

    def __init__(self) -> None:
        self.start = self.peak = PROCESS.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, PROCESS.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end = PROCESS.memory_info().rss
        self.peak = max(self.peak, self.end)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    box: list[float] = []
    started = time.perf_counter()
    yield box
    box.append(time.perf_counter() - started)


def latencies(run: Callable[[int], object], n: int, budget_s: float, min_runs: int = 20) -> np.ndarray:
    """Seconds per call of run(i), for i < n or until the time budget is spent (at least min_runs)."""
    times = []
    deadline = time.perf_counter() + budget_s
    for i in range(n):
        started = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - started)
        if i + 1 >= min_runs and time.perf_counter() > deadline:
            break
    return np.asarray(times)


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """k-th best similarity per query (the recall threshold), by blocked matrix products."""
    kth = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), 64):
        sims = queries[start : start + 64] @ data.T
        kth[start : start + 64] = -np.partition(-sims, k - 1, axis=1)[:, k - 1]
    return kth


def recall(data: np.ndarray, queries: np.ndarray, found: list[np.ndarray], kth: np.ndarray) -> float:
    """Share of returned ids at least as similar as the exact k-th: ties (duplicate texts) count as hits."""
    hits = [np.mean(data[ids] @ q >= t - 1e-5) for ids, q, t in zip(found, queries, kth)]
    return float(np.mean(hits))


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f}"


def row(*cells: object, widths: tuple[int, ...] = (26, 10, 10, 10, 10, 10, 12, 14)) -> str:
    return "".join(f"{str(c):>{w}}" if i else f"{str(c):<{w}}" for i, (c, w) in enumerate(zip(cells, widths)))


# -------------------------------------------------------------------- engines


class Engine:
    name: str

    def build(self, data: np.ndarray) -> None: ...

    def query(self, q: np.ndarray) -> np.ndarray: ...

    def size(self) -> int:
        """Bytes the engine holds beyond the caller's matrix."""
        return 0


class NumpyBrute(Engine):
    name = "numpy brute force"

    def build(self, data: np.ndarray) -> None:
        self.data = data  # nothing to build: the matrix is the index

    def query(self, q: np.ndarray) -> np.ndarray:
        sims = self.data @ q
        top = np.argpartition(-sims, K - 1)[:K]
        return top[np.argsort(-sims[top])]


class FaissFlat(Engine):
    name = "faiss IndexFlatIP"

    def build(self, data: np.ndarray) -> None:
        self.index = faiss.IndexFlatIP(data.shape[1])
        self.index.add(data)

    def query(self, q: np.ndarray) -> np.ndarray:
        return self.index.search(q[None, :], K)[1][0]

    def size(self) -> int:
        return self.index.ntotal * self.index.d * 4  # a copy of the vectors


class Hnsw(Engine):
    def __init__(self, ef: int = HNSW_EF_SEARCH) -> None:
        self.ef = ef
        self.name = f"hnswlib ef={ef}"

    def build(self, data: np.ndarray) -> None:
        self.index = build_graph(data)

    def with_ef(self, ef: int) -> Hnsw:
        """The same graph searched with another ef: no rebuild."""
        other = Hnsw(ef)
        other.index = self.index
        return other

    def query(self, q: np.ndarray) -> np.ndarray:
        self.index.set_ef(self.ef)
        return self.index.knn_query(q, k=K, num_threads=1)[0][0]

    def size(self) -> int:
        return self.index.index_file_size()  # a copy of the vectors plus the graph's links


def compare_engines(title: str, data: np.ndarray, queries: np.ndarray, budget_s: float) -> None:
    """Build each engine over `data`, time top-10 queries on one thread, check recall against exact."""
    print(f"\n## {title}: {len(data):,} x {data.shape[1]} float32 ({mib(data.nbytes)} MiB), {len(queries)} queries")
    print(row("engine", "build s", "p50 ms", "p99 ms", "queries", "recall@10", "index MiB", "RSS peak MiB"))
    kth = exact_topk(data, queries)
    for make in (NumpyBrute, FaissFlat, Hnsw):
        engine = make()
        with PeakRSS() as memory, stopwatch() as built:
            engine.build(data)
        variants = [engine] + ([engine.with_ef(ef) for ef in (32, 128)] if isinstance(engine, Hnsw) else [])
        for variant in variants:
            found: list[np.ndarray] = []
            times = latencies(lambda i: found.append(variant.query(queries[i])), len(queries), budget_s)
            quality = recall(data, queries[: len(found)], found, kth)
            first = variant is engine
            print(row(variant.name, f"{built[0]:.2f}" if first else "", f"{np.median(times) * 1e3:.3f}",
                      f"{np.percentile(times, 99) * 1e3:.3f}", len(times), f"{quality:.4f}",
                      mib(engine.size()) if first else "", mib(memory.peak) if first else ""))
        del engine, variants


def synthetic(n: int, n_queries: int, dim: int = 384, centers: int = 2000, noise: float = 0.3, seed: int = 0):
    """Clustered unit vectors (a Gaussian mixture) as a stand-in for a large catalog's embeddings.

    Real text embeddings cluster (one product kind, many sizes and brands);
    uniform random vectors would be an unrealistically hard case for a graph
    index. Points of one cluster have cosine ~0.9, across clusters ~0.
    """
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centers, dim), dtype=np.float32)
    out = np.empty((n + n_queries, dim), dtype=np.float32)
    for start in range(0, len(out), 100_000):
        stop = min(start + 100_000, len(out))
        block = means[rng.integers(0, centers, stop - start)]
        block += noise * rng.standard_normal((stop - start, dim), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out[:n], out[n:]


# ---------------------------------------------------------------- real catalog


def real_catalog(n_queries: int, embed_sample: int | None, budget_s: float, save: bool) -> None:
    from agent.data import load_builtin
    from agent.retrieval.embedder import MiniLMEncoder, embed_texts
    from agent.retrieval.index import catalog_fingerprint

    dataset = load_builtin()
    catalog = dataset.catalog
    texts = catalog["text"].drop_duplicates().tolist()
    queries_text = catalog["title"].sample(50, random_state=1).tolist()
    print(f"\n## Real catalog: {dataset.name}, {len(catalog):,} products, {len(texts):,} distinct texts "
          f"(ProductIndex embeds and indexes distinct texts)")

    encoder = MiniLMEncoder()  # torch threads from the settings, as ProductIndex uses it
    with stopwatch() as loaded:
        encoder.model
    print(f"encoder load {loaded[0]:.1f} s; batches of 256 texts, shortest first")
    probe = texts[:THREAD_PROBE]
    for threads in sorted({1, os.cpu_count() or 1}):
        with stopwatch() as took:
            embed_texts(probe, MiniLMEncoder(threads=threads), progress=False)
        print(f"  {threads} torch thread(s): {len(probe) / took[0]:,.0f} texts/s on the first {len(probe):,} texts")
    sample = texts if embed_sample is None else texts[:embed_sample]
    with PeakRSS() as memory, stopwatch() as took:
        vectors = embed_texts(sample, encoder, batch_size=256, description=f"Embedding {len(sample):,} texts")
    rate = len(sample) / took[0]
    full_s = len(texts) / rate
    print(f"  default ({encoder.threads} thread(s)): {len(sample):,} texts in {took[0]:.1f} s = {rate:,.0f} texts/s "
          f"= {len(catalog) / full_s:,.0f} catalog products/s; the full catalog "
          f"{'took' if embed_sample is None else 'would take'} {full_s / 60:.1f} min (target < 10); "
          f"peak RSS {mib(memory.peak)} MiB")
    times = latencies(lambda i: encoder.encode([queries_text[i]]), len(queries_text), budget_s)
    print(f"query text encoding ({encoder.threads} thread(s)): p50 {np.median(times) * 1e3:.1f} ms, "
          f"p99 {np.percentile(times, 99) * 1e3:.1f} ms")
    if embed_sample is not None:
        print("(engine rows below skipped: they need every text embedded; run without --embed-sample)")
        return

    rng = np.random.default_rng(2)
    picks = rng.choice(np.flatnonzero(catalog["category"].notna()), size=n_queries, replace=False)
    codes = catalog["text"].map({text: i for i, text in enumerate(texts)}).to_numpy()
    queries = vectors[codes[picks]]
    compare_engines("Real catalog, distinct texts (what ProductIndex indexes)", vectors, queries, budget_s)
    compare_engines("Real catalog, one vector per product (duplicates kept)", vectors[codes], queries, budget_s)

    with stopwatch() as graph_took:
        graph = build_graph(vectors)
    index = ProductIndex(catalog, vectors, graph, catalog_fingerprint(catalog, encoder.encoder_id), encoder,
                         sales=dataset.sales)
    index.build_stats = {"embed_s": round(took[0], 2), "graph_s": round(graph_took[0], 2)}
    ids = catalog["unique_id"].to_numpy()[picks]
    cutoff = catalog["launch_date"].quantile(0.5)
    history = index.curves.window(ids, 8)  # warms the lazily built sales matrix as well
    cases: dict[str, Callable[[int], object]] = {
        "no filter": lambda i: index.search(queries[i], k=K),
        "exclude self": lambda i: index.search(queries[i], k=K, exclude_ids=[ids[i]]),
        f"launched_before {cutoff:%Y-%m-%d}": lambda i: index.search(
            queries[i], k=K, exclude_ids=[ids[i]], launched_before=cutoff),
        "category of the query": lambda i: index.search(
            queries[i], k=K, category=catalog["category"].iloc[picks[i]]),
        "history re-rank (8 weeks)": lambda i: index.search(queries[i], k=K, exclude_ids=[ids[i]], history=history[i]),
        "text query (encode + search)": lambda i: index.search(queries_text[i % len(queries_text)], k=K),
    }
    print(f"\n## ProductIndex.search end to end, top-{K} as a DataFrame, 1 thread (graph build {graph_took[0]:.1f} s)")
    print(row("case", "p50 ms", "p99 ms", "queries", widths=(36, 10, 10, 10)))
    for name, run in cases.items():
        times = latencies(run, n_queries, budget_s)
        print(row(name, f"{np.median(times) * 1e3:.2f}", f"{np.percentile(times, 99) * 1e3:.2f}", len(times),
                  widths=(36, 10, 10, 10)))
    if save:
        print(f"saved the index for `shelfcast similar`: {index.save(name=dataset.name)}")


def header() -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print("# Shelfcast retrieval benchmark")
    print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: nproc {os.cpu_count()}, CPU {cpu}, "
          f"RAM {psutil.virtual_memory().total / 2**30:.0f} GiB; load average at start: {load}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, faiss-cpu {faiss.__version__}, "
          f"hnswlib {version('hnswlib')}, torch {version('torch')}")
    print(f"queries on 1 thread (BLAS, OpenMP, faiss, hnswlib); HNSW M={HNSW_M}, ef_construction="
          f"{HNSW_EF_CONSTRUCTION}, ef_search={HNSW_EF_SEARCH}, built on {os.cpu_count()} threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="synthetic index sizes")
    parser.add_argument("--queries", type=int, default=500, help="queries per engine (fewer when over budget)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of queries per engine at most")
    parser.add_argument("--embed-sample", type=int, default=None, help="embed only this many texts (quick run)")
    parser.add_argument("--no-real", action="store_true", help="skip the built-in catalog")
    parser.add_argument("--no-save", action="store_true", help="do not save the real index under SHELFCAST_HOME")
    args = parser.parse_args()
    ensure_offline()
    faiss.omp_set_num_threads(1)
    header()
    if not args.no_real:
        real_catalog(args.queries, args.embed_sample, args.budget, save=not args.no_save)
    for n in args.sizes:
        data, queries = synthetic(n, args.queries)
        compare_engines(f"Synthetic clustered, {n:,}", data, queries, args.budget)
        del data, queries
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
