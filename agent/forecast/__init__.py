"""Forecasting: context building, number serialization, prompts, sampling, the fallback chain."""
