"""A persistent nearest-neighbour index over the product catalog.

Design choices, each measured in `eval/bench_retrieval.py` (results in
eval/results/bench_retrieval.txt, 2 shared cores):

- One vector per distinct product text, not per product. The built-in catalog has
  68k products but only 17k distinct texts (taxonomy + size + brand), so
  embedding distinct texts is 4x cheaper, and the ANN graph stays healthy: with
  the duplicates kept, HNSW recall@10 fell to 0.96 (1.00 over distinct texts),
  because exact duplicates fill each other's neighbour lists and cut the graph
  into islands.
- HNSW (hnswlib, inner product on unit vectors = cosine) is the engine: top-10
  in ~0.13 ms p50 on the real catalog and ~0.3 ms at 100k (recall@10 >= 0.998),
  where exact scans (numpy or faiss IndexFlatIP, memory-bound at one core) cost
  4-7 ms and 18-22 ms: ten times the 2 ms budget at 100k. Selective filters (a
  category, an early cutoff) leave few candidates, and an exact scan over those
  is both cheap and exact, so the index switches to it below `exact_below`
  eligible texts.
- Filters are applied before taking the top k: the graph is over-fetched and
  widened until k eligible products turn up, falling back to an exact scan, so k
  results come back whenever k products pass the filters.
- The saved index is addressed by a fingerprint of (ids, texts, encoder id): a
  changed catalog or encoder gets a new folder, built in a temporary folder and
  renamed into place, so a crash never leaves a half-written index that loads.
  Other catalog columns (title, category, launch_date) are read from the catalog
  passed in, so editing them does not cost a re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np
import pandas as pd

from agent.config import get_settings
from agent.retrieval.embedder import MiniLMEncoder, TextEncoder, embed_texts, normalize
from agent.retrieval.shape import SalesCurves, blend, shape_correlation

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 64
EXACT_BELOW = 2048
RERANK_POOL = 50
ELIGIBLE_CACHE = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class _Eligible:
    rows: np.ndarray  # per product: passes the filters
    texts: np.ndarray  # per distinct text: at least one of its products passes
    count: int  # texts passing


def catalog_fingerprint(catalog: pd.DataFrame, encoder_id: str) -> str:
    """sha256 of the encoder id and every (id, text) pair, in id order (row order does not matter)."""
    rows = catalog.sort_values("unique_id", kind="stable")
    digest = hashlib.sha256(f"shelfcast-index/{FORMAT_VERSION}\n{encoder_id}\n".encode())
    digest.update("\x1e".join(rows["unique_id"].astype(str) + "\x1f" + rows["text"].astype(str)).encode())
    return digest.hexdigest()


def _prepare(catalog: pd.DataFrame) -> pd.DataFrame:
    """Validate the columns retrieval needs and sort by id, so row positions are stable across runs."""
    missing = [col for col in ("unique_id", "text") if col not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks column(s) {missing}; retrieval needs 'unique_id' and 'text'")
    if catalog.empty:
        raise ValueError("catalog is empty: nothing to index")
    frame = catalog.assign(unique_id=catalog["unique_id"].astype(str))
    duplicated = frame["unique_id"].duplicated()
    if duplicated.any():
        raise ValueError(f"catalog has duplicate unique_id {frame.loc[duplicated, 'unique_id'].iloc[0]!r}")
    blank = frame["text"].isna() | (frame["text"].astype(str).str.strip() == "")
    if blank.any():
        raise ValueError(f"catalog row for unique_id {frame.loc[blank, 'unique_id'].iloc[0]!r} has no text")
    return frame.sort_values("unique_id", kind="stable").reset_index(drop=True)


def _folder(name: str, root: Path | None, fingerprint: str) -> Path:
    if not _NAME.match(name):
        raise ValueError(f"index name {name!r} must be letters, digits, '.', '_' or '-'")
    return (root or get_settings().index_dir) / name / fingerprint[:16]


def build_graph(vectors: np.ndarray) -> hnswlib.Index:
    """The HNSW graph over unit vectors (inner product = cosine), built on every core, searched at HNSW_EF_SEARCH."""
    graph = hnswlib.Index(space="ip", dim=vectors.shape[1])
    graph.init_index(max_elements=len(vectors), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=0)
    graph.add_items(vectors, np.arange(len(vectors)), num_threads=os.cpu_count() or 1)
    graph.set_ef(HNSW_EF_SEARCH)
    return graph


class ProductIndex:
    """Cosine nearest neighbours among catalog products, with leakage-safe filters.

    Build or load with `ProductIndex.load_or_build(catalog, name=...)`; query with
    `search`. Pass `sales` to enable re-ranking by history shape.
    """

    def __init__(
        self,
        catalog: pd.DataFrame,
        text_vectors: np.ndarray,
        graph: hnswlib.Index,
        fingerprint: str,
        encoder: TextEncoder,
        sales: pd.DataFrame | None = None,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        self.catalog = _prepare(catalog)
        codes, texts = pd.factorize(self.catalog["text"])
        if len(texts) != len(text_vectors):
            raise ValueError(f"{len(text_vectors)} vectors for {len(texts)} distinct catalog texts")
        self.row_text = codes
        self.text_vectors = text_vectors
        self.graph = graph
        self.fingerprint = fingerprint
        self.encoder = encoder
        self.exact_below = exact_below
        self._sales = sales
        self.build_stats: dict[str, float] = {}  # seconds spent embedding and building the graph
        self._curves: SalesCurves | None = None
        # Rows grouped by text (CSR layout), so a ranked list of texts expands to products quickly.
        self._rows_by_text = np.argsort(codes, kind="stable")
        self._text_start = np.searchsorted(codes[self._rows_by_text], np.arange(len(texts) + 1))
        self._row_of = pd.Index(self.catalog["unique_id"])
        # Results are assembled from column arrays: slicing a DataFrame per query costs milliseconds.
        self._columns = {
            name: column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
            for name, column in self.catalog.items()
        }
        self._eligible_cache: dict[tuple[pd.Timestamp | None, str | None], _Eligible] = {}
        # Filter columns as plain arrays: a per-query pandas comparison over the catalog costs milliseconds.
        self._launch = (
            self.catalog["launch_date"].to_numpy(dtype="datetime64[ns]") if "launch_date" in self.catalog else None
        )
        self._category_code, self._categories = (
            pd.factorize(self.catalog["category"].astype("string").str.casefold()) if "category" in self.catalog
            else (None, None)
        )

    def __len__(self) -> int:
        return len(self.catalog)

    @property
    def curves(self) -> SalesCurves | None:
        """The sales as a dense matrix, built on the first re-ranked search (most searches never need it)."""
        if self._curves is None and self._sales is not None:
            self._curves = SalesCurves(self._sales)
        return self._curves

    # ----------------------------------------------------------------- building

    @classmethod
    def build(
        cls,
        catalog: pd.DataFrame,
        encoder: TextEncoder | None = None,
        sales: pd.DataFrame | None = None,
        progress: bool = True,
    ) -> ProductIndex:
        """Embed every distinct catalog text and build the graph, in memory (`save` persists it)."""
        encoder = encoder or MiniLMEncoder()
        frame = _prepare(catalog)
        texts = pd.unique(frame["text"]).tolist()
        started = time.perf_counter()
        vectors = embed_texts(texts, encoder, progress=progress, description=f"Embedding {len(texts):,} texts")
        embedded = time.perf_counter()
        graph = build_graph(vectors)
        index = cls(frame, vectors, graph, catalog_fingerprint(frame, encoder.encoder_id), encoder, sales)
        index.build_stats = {"embed_s": round(embedded - started, 2), "graph_s": round(time.perf_counter() - embedded, 2)}
        log.info("indexed %d products (%d texts): %s", len(frame), len(texts), index.build_stats)
        return index

    @classmethod
    def load_or_build(
        cls,
        catalog: pd.DataFrame,
        name: str = "catalog",
        encoder: TextEncoder | None = None,
        sales: pd.DataFrame | None = None,
        root: Path | None = None,
        progress: bool = True,
    ) -> ProductIndex:
        """The saved index for this exact catalog and encoder, built and saved first when there is none.

        Looked up under `root / name / <fingerprint prefix>` (root defaults to
        the settings' index_dir); an unreadable saved index is rebuilt.
        """
        encoder = encoder or MiniLMEncoder()
        frame = _prepare(catalog)
        fingerprint = catalog_fingerprint(frame, encoder.encoder_id)
        folder = _folder(name, root, fingerprint)
        if (folder / "meta.json").exists():
            try:
                return cls._load(folder, frame, fingerprint, encoder, sales)
            except (OSError, ValueError, RuntimeError) as err:
                log.warning("rebuilding unreadable index %s: %s", folder, err)
                shutil.rmtree(folder, ignore_errors=True)
        index = cls.build(frame, encoder, sales, progress=progress)
        index.save(name, root)
        return index

    def save(self, name: str = "catalog", root: Path | None = None) -> Path:
        """Write the index to `root / name / <fingerprint prefix>` and remove older fingerprints' folders.

        Files are written into a temporary folder that is renamed into place, so
        readers see a complete index or none; when another process saved the
        same fingerprint first, its copy is kept.
        """
        folder = _folder(name, root, self.fingerprint)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
        try:
            np.save(tmp / "vectors.npy", np.ascontiguousarray(self.text_vectors))
            self.graph.save_index(str(tmp / "hnsw.bin"))
            meta = {
                "format": FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "encoder_id": self.encoder.encoder_id,
                "products": len(self.catalog),
                "texts": len(self.text_vectors),
                "dim": int(self.text_vectors.shape[1]),
                "hnsw": {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
                "build": self.build_stats,
                "saved_at": pd.Timestamp.now(tz="UTC").isoformat(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            os.rename(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / "meta.json").exists():  # not another process winning the race: a real failure
                raise
        for stale in folder.parent.iterdir():
            if stale.is_dir() and stale.name != folder.name and not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
        return folder

    @classmethod
    def _load(
        cls, folder: Path, frame: pd.DataFrame, fingerprint: str, encoder: TextEncoder, sales: pd.DataFrame | None
    ) -> ProductIndex:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("fingerprint") != fingerprint:
            raise ValueError("fingerprint or format differs from the catalog's")
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        graph = hnswlib.Index(space="ip", dim=vectors.shape[1])
        graph.load_index(str(folder / "hnsw.bin"), max_elements=len(vectors))
        graph.set_ef(HNSW_EF_SEARCH)
        if graph.get_current_count() != len(vectors):
            raise ValueError("graph and vectors disagree on the number of texts")
        index = cls(frame, vectors, graph, fingerprint, encoder, sales)
        index.build_stats = meta.get("build", {})
        return index

    # ---------------------------------------------------------------- searching

    def embed_query(self, text: str) -> np.ndarray:
        """The normalized vector of a free-text query."""
        return embed_texts([text], self.encoder, progress=False)[0]

    def vector_of(self, unique_id: str) -> np.ndarray:
        """The vector of a catalog product (to find its neighbours; exclude it from the search)."""
        row = self._row_of.get_indexer([str(unique_id)])[0]
        if row < 0:
            raise KeyError(f"unknown product id {unique_id!r}")
        return np.asarray(self.text_vectors[self.row_text[row]])

    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        exclude_ids: Iterable[str] = (),
        launched_before: pd.Timestamp | str | None = None,
        category: str | None = None,
        history: Sequence[float] | None = None,
        shape_weight: float = 0.3,
    ) -> pd.DataFrame:
        """The k products most similar to `query` (a text or a vector) that pass every filter.

        Returns one row per product, best first: unique_id, score (what the
        ranking used), similarity (cosine of texts), shape_correlation (NaN
        without `history`), then the catalog columns.

        - `exclude_ids`: never returned (the query product itself, typically).
        - `launched_before`: only products whose catalog launch_date is strictly
          earlier. Products with no launch date (NaT: never sold) are excluded
          too: they leak nothing, but they carry no history to learn from either.
        - `category`: exact catalog category, case-insensitive; an unknown name
          raises ValueError (most likely a typo, not an empty answer).
        - `history`: the query product's most recent sales, one value per period,
          ending at `launched_before` (or at the end of the data). Candidates'
          sales over the same periods are correlated with it and the ranking uses
          `(1 - shape_weight) * similarity + shape_weight * correlation`.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        cutoff = pd.Timestamp(launched_before) if launched_before is not None else None
        vector = self.embed_query(query) if isinstance(query, str) else normalize(query).reshape(-1)
        if vector.shape != (self.text_vectors.shape[1],):
            raise ValueError(f"query vector has shape {vector.shape}; the index holds {self.text_vectors.shape[1]}-d vectors")
        eligible = self._eligible(cutoff, category)
        ids = [exclude_ids] if isinstance(exclude_ids, str) else [str(i) for i in exclude_ids]
        excluded = self._row_of.get_indexer(ids)
        pool = k if history is None else max(k, RERANK_POOL)
        rows, similarity = self._top_rows(vector, pool, eligible, excluded[excluded >= 0])
        correlation = np.full(len(rows), np.nan)
        score = similarity
        if history is not None and len(rows):
            curves = self.curves
            if curves is None:
                raise ValueError("re-ranking by history needs the index built or loaded with sales=")
            found = self._columns["unique_id"][rows]
            correlation = shape_correlation(history, curves.window(found, len(history), cutoff))
            score = blend(similarity, correlation, shape_weight)
            best = np.lexsort((found, -score))[:k]
            rows, similarity, correlation, score = rows[best], similarity[best], correlation[best], score[best]
        columns = {"unique_id": self._columns["unique_id"][rows], "score": score, "similarity": similarity,
                   "shape_correlation": correlation}
        columns.update((name, values[rows]) for name, values in self._columns.items() if name != "unique_id")
        return pd.DataFrame(columns, copy=False)

    def _eligible(self, cutoff: pd.Timestamp | None, category: str | None) -> _Eligible | None:
        """Products and texts passing the launch and category filters (None: all), cached per filter.

        A backtest asks thousands of queries with the same cutoff; building the
        masks once per (cutoff, category) keeps a filtered query as cheap as a plain one.
        """
        if cutoff is None and category is None:
            return None
        key = (cutoff, None if category is None else category.casefold())
        if key not in self._eligible_cache:
            mask = np.ones(len(self.catalog), dtype=bool)
            if cutoff is not None:
                if self._launch is None:
                    raise ValueError("launched_before needs a 'launch_date' column in the catalog")
                mask &= self._launch < np.datetime64(cutoff.tz_localize(None), "ns")  # NaT compares False
            if category is not None:
                if self._categories is None:
                    raise ValueError("a category filter needs a 'category' column in the catalog")
                code = self._categories.get_indexer([category.casefold()])[0]
                if code < 0:
                    raise ValueError(f"unknown category {category!r}")
                mask &= self._category_code == code
            texts = np.zeros(len(self.text_vectors), dtype=bool)
            texts[self.row_text[mask]] = True
            if len(self._eligible_cache) >= ELIGIBLE_CACHE:
                self._eligible_cache.clear()
            self._eligible_cache[key] = _Eligible(mask, texts, int(texts.sum()))
        return self._eligible_cache[key]

    def _top_rows(
        self, vector: np.ndarray, k: int, eligible: _Eligible | None, excluded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row positions and similarities of the best k eligible, non-excluded products, best first.

        Ranks distinct texts, then expands each to its eligible products. Every
        eligible text holds at least one eligible product and each excluded id
        removes at most one, so the best k + len(excluded) eligible texts always
        hold the best k products.
        """
        n_eligible = len(self.text_vectors) if eligible is None else eligible.count
        want = min(k + len(excluded), n_eligible)
        if want == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        text_mask = None if eligible is None else eligible.texts
        if n_eligible <= self.exact_below:
            texts = self._exact(vector, None if text_mask is None else np.flatnonzero(text_mask), want)
        else:
            texts = self._approximate(vector, text_mask, n_eligible, want)
        rows = self._expand(texts, vector)
        if eligible is not None:
            rows = rows[eligible.rows[rows]]
        if len(excluded):
            rows = rows[~np.isin(rows, excluded)]
        rows = rows[:k]
        return rows, (self.text_vectors[self.row_text[rows]] @ vector).astype(np.float32)

    def _exact(self, vector: np.ndarray, candidates: np.ndarray | None, want: int) -> np.ndarray:
        sims = (self.text_vectors if candidates is None else self.text_vectors[candidates]) @ vector
        top = np.argpartition(-sims, want - 1)[:want] if want < len(sims) else np.arange(len(sims))
        return top if candidates is None else candidates[top]

    def _approximate(self, vector: np.ndarray, eligible: np.ndarray | None, n_eligible: int, want: int) -> np.ndarray:
        """Over-fetch from the graph, widening 4x until `want` eligible texts are found.

        The first fetch is sized by the eligible fraction, so a filter passing
        half the catalog fetches ~2x; past a quarter of the catalog a graph walk
        costs more than the exact scan it falls back to.
        """
        n_texts = len(self.text_vectors)
        fetch = min(n_texts, math.ceil(want * n_texts / n_eligible * 1.5) + 8)
        while fetch <= n_texts // 4:
            self.graph.set_ef(max(HNSW_EF_SEARCH, fetch))
            labels, _ = self.graph.knn_query(vector, k=fetch, num_threads=1)
            texts = labels[0].astype(np.int64)
            if eligible is not None:
                texts = texts[eligible[texts]]
            if len(texts) >= want:
                return texts[:want]
            fetch *= 4
        return self._exact(vector, np.flatnonzero(eligible) if eligible is not None else None, want)

    def _expand(self, texts: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """All product rows of `texts`, ranked by exact similarity (ties by text, then id)."""
        texts = np.sort(texts)
        order = texts[np.argsort(-(self.text_vectors[texts] @ vector), kind="stable")]
        return np.concatenate([self._rows_by_text[self._text_start[t] : self._text_start[t + 1]] for t in order])
