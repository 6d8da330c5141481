"""Product retrieval: text embeddings, a persistent nearest-neighbour index, history-shape re-ranking."""

from agent.retrieval.embedder import MiniLMEncoder, TextEncoder, embed_texts
from agent.retrieval.index import ProductIndex, catalog_fingerprint
from agent.retrieval.shape import SalesCurves, shape_correlation

__all__ = [
    "MiniLMEncoder",
    "ProductIndex",
    "SalesCurves",
    "TextEncoder",
    "catalog_fingerprint",
    "embed_texts",
    "shape_correlation",
]
