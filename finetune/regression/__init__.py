"""Text encoder + quantile head: direct multi-step forecasts from product text and scaled history.

Modules: `data` (examples and batch order), `scaling` (history features),
`model` (encoder + head, pinball loss), `metrics` (MASE/WAPE and the naive
baseline), `train` (fit with early stopping), `artifact` (versioned folders),
`predict` (`RegressionForecaster`, what the chain calls).
"""
