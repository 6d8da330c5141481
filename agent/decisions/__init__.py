"""Decisions from forecasts: how much to reorder, what a price change would do. Pure functions, pydantic in/out."""
