"""Shelfcast runtime: data, retrieval, local models, forecasting chain, CLI and API."""

__version__ = "0.1.0"
