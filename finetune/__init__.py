"""Fine-tuned models that back the forecasting chain (the regression fallback).

This package sits below `agent` in the dependency order (eval -> agent -> finetune):
it never imports `agent`. It works on primitives (product text, history and
target arrays in units) so the same code trains on any dataset the agent loads.
"""
