"""Numbers every layer agrees on, below agent and finetune: quantile levels, the baseline rule, the metrics.

`finetune` scores its artifacts, the chain's floor answers and the evaluation
harness ranks models with these same definitions, so "beats naive" on an
artifact card means what it means on the leaderboard. Imports numpy, pandas
and utilsforecast only; nothing of the project.
"""
