"""Retrieval: embeddings, the persistent product index, filters, shape re-ranking.

Fast tests use a tiny synthetic catalog and a deterministic bag-of-words encoder
(related texts share words, so they land near each other, as with a real model).
Slow tests run the real MiniLM weights on a stratified few-thousand-product
subset of the built-in catalog, embedded once per session in a temporary home.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from agent.config import get_settings
from agent.retrieval import ProductIndex, SalesCurves, catalog_fingerprint, embed_texts, shape_correlation


class FakeEncoder:
    """Sum of fixed pseudo-random vectors, one per lower-cased word: deterministic and cheap."""

    def __init__(self, encoder_id: str = "fake-bow-v1", dim: int = 64) -> None:
        self.encoder_id = encoder_id
        self.dim = dim
        self.calls = 0

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([sum(self._word(w) for w in re.findall(r"[a-z0-9]+", t.lower())) for t in texts])


KINDS = {
    "BAKERY": ["bagels plain", "bagels sesame", "bread white", "muffins blueberry"],
    "DAIRY": ["milk whole", "milk oat", "yogurt greek", "cheese cheddar"],
    "PRODUCE": ["apples gala", "bananas", "carrots baby", "lettuce romaine"],
}


def tiny_catalog() -> pd.DataFrame:
    """24 products in 3 categories; two sizes per kind, so some texts are near-duplicates."""
    rows = []
    for category, kinds in KINDS.items():
        for kind in kinds:
            for size in ("small", "large"):
                n = len(rows)
                rows.append({
                    "unique_id": f"p{n:02d}",
                    "title": f"{kind} {size}",
                    "text": f"{category.lower()} {kind} {size}",
                    "category": category,
                    "launch_date": pd.Timestamp("2017-01-02") + pd.Timedelta(weeks=n),
                })
    return pd.DataFrame(rows)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private SHELFCAST_HOME, so indexes never touch the user's."""
    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_embed_texts_keeps_order_and_normalizes():
    encoder = FakeEncoder()
    texts = ["a much longer text than the others", "b", "milk oat", "b"]
    vectors = embed_texts(texts, encoder, batch_size=2, progress=False)
    assert vectors.dtype == np.float32 and vectors.shape == (4, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[1], vectors[3])
    expected = encoder.encode(["milk oat"])[0]
    np.testing.assert_allclose(vectors[2], expected / np.linalg.norm(expected), rtol=1e-5)
    assert encoder.calls == 3  # two batches of two, plus the direct call above


def test_search_returns_k_nearest_with_catalog_columns(home):
    index = ProductIndex.load_or_build(tiny_catalog(), name="tiny", encoder=FakeEncoder(), progress=False)
    hits = index.search("bagels plain", k=5)
    assert len(hits) == 5
    assert list(hits.columns[:4]) == ["unique_id", "score", "similarity", "shape_correlation"]
    assert {"title", "category", "launch_date"} <= set(hits.columns)
    assert hits["title"].iloc[0].startswith("bagels plain")
    assert hits["similarity"].is_monotonic_decreasing
    assert hits["shape_correlation"].isna().all()


def test_index_persists_and_rebuilds_only_when_fingerprint_changes(home):
    catalog = tiny_catalog()
    first = FakeEncoder()
    ProductIndex.load_or_build(catalog, name="tiny", encoder=first, progress=False)
    assert first.calls == 1
    folders = list((home / "index" / "tiny").iterdir())
    assert [f.name for f in folders] == [catalog_fingerprint(catalog, first.encoder_id)[:16]]
    assert {p.name for p in folders[0].iterdir()} == {"vectors.npy", "hnsw.bin", "meta.json"}

    again = FakeEncoder()  # same catalog (shuffled rows, edited titles), same encoder: loaded, not embedded
    shuffled = catalog.sample(frac=1.0, random_state=0).assign(title="renamed")
    loaded = ProductIndex.load_or_build(shuffled, name="tiny", encoder=again, progress=False)
    assert again.calls == 0
    assert loaded.search("milk oat", k=1)["title"].iloc[0] == "renamed"

    changed = catalog.copy()
    changed.loc[0, "text"] = "bakery bagels everything small"
    edited = FakeEncoder()
    ProductIndex.load_or_build(changed, name="tiny", encoder=edited, progress=False)
    assert edited.calls == 1

    other_model = FakeEncoder(encoder_id="fake-bow-v2")
    ProductIndex.load_or_build(changed, name="tiny", encoder=other_model, progress=False)
    assert other_model.calls == 1
    assert len(list((home / "index" / "tiny").iterdir())) == 1  # stale fingerprints are removed


def test_unreadable_saved_index_is_rebuilt(home):
    catalog = tiny_catalog()
    ProductIndex.load_or_build(catalog, name="tiny", encoder=FakeEncoder(), progress=False)
    folder = next((home / "index" / "tiny").iterdir())
    (folder / "hnsw.bin").write_bytes(b"garbage")
    encoder = FakeEncoder()
    index = ProductIndex.load_or_build(catalog, name="tiny", encoder=encoder, progress=False)
    assert encoder.calls == 1 and len(index.search("milk", k=3)) == 3


def test_filters_exclude_cutoff_category(home):
    catalog = tiny_catalog()
    index = ProductIndex.load_or_build(catalog, name="tiny", encoder=FakeEncoder(), progress=False)
    own = catalog.loc[catalog["title"] == "milk oat small", "unique_id"].iloc[0]
    hits = index.search(index.vector_of(own), k=3, exclude_ids=[own])
    assert own not in set(hits["unique_id"]) and len(hits) == 3

    cutoff = pd.Timestamp("2017-03-01")
    hits = index.search("milk oat", k=5, launched_before=cutoff)
    assert len(hits) == 5 and (hits["launch_date"] < cutoff).all()

    hits = index.search("bagels plain", k=6, category="dairy")  # case-insensitive
    assert len(hits) == 6 and (hits["category"] == "DAIRY").all()

    hits = index.search("bagels", k=50, category="PRODUCE", launched_before=cutoff)
    assert hits.empty  # produce launches after the cutoff: no candidate passes both filters

    with pytest.raises(ValueError, match="unknown category"):
        index.search("milk", category="DAIRYY")


def test_products_without_launch_date_are_excluded_by_a_cutoff(home):
    catalog = tiny_catalog()
    catalog.loc[catalog["title"] == "bagels plain small", "launch_date"] = pd.NaT
    index = ProductIndex.load_or_build(catalog, name="tiny", encoder=FakeEncoder(), progress=False)
    assert "bagels plain small" in set(index.search("bagels plain", k=2)["title"])
    hits = index.search("bagels plain", k=2, launched_before="2030-01-01")
    assert "bagels plain small" not in set(hits["title"]) and len(hits) == 2


def test_graph_search_with_filters_matches_exact_scan(home, monkeypatch):
    """On a catalog big enough for the HNSW path, filtered results equal a brute-force answer."""
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(words, size=4)) + f" n{j}" for j in range(1500)]
    n = 2 * len(texts)  # every text twice, as with same-size products of one brand
    catalog = pd.DataFrame({
        "unique_id": [f"s{i:05d}" for i in range(n)],
        "text": [texts[i % len(texts)] for i in range(n)],
        "category": rng.choice(["A", "B", "C"], size=n),
        "launch_date": pd.Timestamp("2017-01-02") + pd.to_timedelta(rng.integers(0, 52, size=n), unit="W"),
    })
    catalog["title"] = catalog["text"]
    encoder = FakeEncoder(dim=48)
    graph = ProductIndex.build(catalog, encoder=encoder, progress=False)
    graph.exact_below = 0  # force the graph path, and make sure it never falls back to a scan
    monkeypatch.setattr(graph, "_exact", lambda *args: pytest.fail("graph search fell back to an exact scan"))
    exact = ProductIndex(catalog, graph.text_vectors, graph.graph, graph.fingerprint, encoder, exact_below=10**9)
    cutoff = pd.Timestamp("2017-07-01")
    for query in ("w1 w2 w3", "w10 w20", "w59 n7"):
        for kwargs in ({}, {"launched_before": cutoff}, {"exclude_ids": ["s00001", "s00002"]}):
            got = graph.search(query, k=10, **kwargs)
            want = exact.search(query, k=10, **kwargs)
            assert len(got) == 10
            # Recall counted with ties: a hit is right when it is at least as similar as the 10th exact one.
            assert (got["similarity"] >= want["similarity"].iloc[-1] - 1e-6).mean() >= 0.9
            if "launched_before" in kwargs:
                assert (got["launch_date"] < cutoff).all()


def test_shape_rerank_prefers_matching_curves(home):
    catalog = tiny_catalog()
    weeks = pd.date_range("2017-01-02", periods=12, freq="W-MON")
    rising, falling = np.arange(1, 13, dtype=float), np.arange(12, 0, -1, dtype=float)
    milk = catalog.loc[catalog["title"].str.startswith("milk"), "unique_id"].tolist()
    curves = {uid: (rising * 10 if i % 2 else falling) for i, uid in enumerate(milk)}
    sales = pd.DataFrame([
        {"unique_id": uid, "ds": ds, "y": y} for uid, curve in curves.items() for ds, y in zip(weeks, curve)
    ])
    index = ProductIndex.load_or_build(catalog, name="tiny", encoder=FakeEncoder(), sales=sales, progress=False)
    hits = index.search("milk", k=2, history=[1, 2, 3, 4], shape_weight=0.9)
    risers = {uid for i, uid in enumerate(milk) if i % 2}
    assert set(hits["unique_id"]) <= risers
    np.testing.assert_allclose(hits["shape_correlation"], 1.0)
    assert (hits["score"] >= hits["score"].iloc[-1]).all()

    with pytest.raises(ValueError, match="sales="):
        ProductIndex.load_or_build(catalog, name="tiny", encoder=FakeEncoder(), progress=False).search(
            "milk", history=[1, 2, 3])


def test_shape_window_ends_before_cutoff_and_flat_curves_score_zero():
    sales = pd.DataFrame({
        "unique_id": ["a"] * 6,
        "ds": pd.date_range("2017-01-02", periods=6, freq="W-MON"),
        "y": [1.0, 2.0, 3.0, 100.0, 200.0, 300.0],
    })
    curves = SalesCurves(sales)
    np.testing.assert_allclose(curves.window(["a", "zz"], 3, end=pd.Timestamp("2017-01-23")), [[1, 2, 3], [0, 0, 0]])
    np.testing.assert_allclose(curves.window(["a"], 8), [[0, 0, 1, 2, 3, 100, 200, 300]])
    np.testing.assert_allclose(shape_correlation([5, 5, 5], np.array([[1, 2, 3]])), [0.0])
    np.testing.assert_allclose(shape_correlation([1, 2, 3], np.array([[10, 20, 30], [3, 2, 1], [4, 4, 4]])),
                               [1.0, -1.0, 0.0])


def test_bad_catalogs_are_refused():
    encoder = FakeEncoder()
    with pytest.raises(ValueError, match="'text'"):
        ProductIndex.build(pd.DataFrame({"unique_id": ["a"]}), encoder=encoder, progress=False)
    with pytest.raises(ValueError, match="duplicate"):
        ProductIndex.build(pd.DataFrame({"unique_id": ["a", "a"], "text": ["x", "y"]}), encoder=encoder, progress=False)
    with pytest.raises(ValueError, match="no text"):
        ProductIndex.build(pd.DataFrame({"unique_id": ["a", "b"], "text": ["x", " "]}), encoder=encoder, progress=False)


# ------------------------------------------------------------------ real weights


@pytest.fixture(scope="session")
def real_index(tmp_path_factory):
    """MiniLM over a stratified subset of the built-in catalog: every bagel, 2% of the rest per department.

    Embedding all ~17k distinct texts costs minutes on two cores; the subset
    (~1,500 products, ~1,100 texts) costs seconds and still holds plenty of
    distractors, bread and rolls included.
    """
    from agent.data import load_builtin

    dataset = load_builtin()
    catalog = dataset.catalog
    bagels = catalog["text"].str.contains("bagel", case=False)
    others = catalog[~bagels].groupby("department").sample(frac=0.02, random_state=0)
    subset = pd.concat([catalog[bagels], others])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHELFCAST_HOME", str(tmp_path_factory.mktemp("home")))
        get_settings.cache_clear()
        index = ProductIndex.load_or_build(subset, name="subset", progress=False)
    get_settings.cache_clear()
    return index


@pytest.mark.slow
def test_real_bagel_query_finds_bagels(real_index):
    hits = real_index.search("plain bagels 6 ct", k=10)
    assert len(hits) == 10
    assert hits["text"].str.contains("bagel", case=False).mean() >= 0.8
    assert hits["similarity"].iloc[0] > 0.5


@pytest.mark.slow
def test_real_cutoff_excludes_later_launches(real_index):
    cutoff = pd.Timestamp("2017-06-05")
    everything = real_index.search("plain bagels 6 ct", k=200)
    assert (everything["launch_date"] >= cutoff).any()  # the filter has something to remove
    hits = real_index.search("plain bagels 6 ct", k=200, launched_before=cutoff)
    assert len(hits) == 200 and (hits["launch_date"] < cutoff).all()
    kept = everything[everything["launch_date"] < cutoff]["unique_id"]
    assert set(kept) <= set(hits["unique_id"])  # filtering before top-k: nothing eligible is lost


def test_similar_command_prints_neighbours_and_recent_sales(home, monkeypatch):
    from typer.testing import CliRunner

    from agent.cli import similar as similar_cli
    from agent.data import Dataset

    catalog = tiny_catalog()
    weeks = pd.date_range("2017-01-02", periods=10, freq="W-MON")
    sales = pd.DataFrame([{"unique_id": uid, "ds": ds, "y": float(i + w)}
                          for i, uid in enumerate(catalog["unique_id"]) for w, ds in enumerate(weeks)])
    dataset = Dataset(name="tiny", sales=sales, catalog=catalog, freq="W-MON")
    monkeypatch.setattr(similar_cli, "load_with_status", lambda *args: dataset)
    monkeypatch.setattr("agent.retrieval.index.MiniLMEncoder", FakeEncoder)
    runner = CliRunner()

    result = runner.invoke(similar_cli.app, ["bagels plain", "-k", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "bagels plain small" in result.output
    first = catalog.index[catalog["title"] == "bagels plain small"][0]
    assert " ".join(f"{first + w:g}" for w in range(2, 10)) in result.output  # its last 8 weeks

    result = runner.invoke(similar_cli.app, ["milk", "--before", "2017-01-20", "--category", "dairy"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "No product passes the filters" in result.output  # dairy launches later

    result = runner.invoke(similar_cli.app, ["milk", "--category", "nope"])
    assert result.exit_code == 2 and "unknown category" in result.output
