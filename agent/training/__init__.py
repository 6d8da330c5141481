"""Training: the agent's side of fine-tuning, which the CLI only calls and prints from.

`windows` cuts leak-free train / validation / test windows with the forecasting
chain's own `ContextBuilder`; `llm_examples` renders them as the chain's prompts;
`regression` and `lora` run a whole training (data, fit, evaluation, artifact) and
return what happened. The models themselves (`finetune/`) know nothing of datasets.
"""
