"""Evaluation: backtesting harness, baselines, metrics, benchmarks."""
