"""LoRA fine-tuning of the small generative model on (prompt, answer) text pairs.

Like `finetune.regression`, this package knows nothing about datasets or the
forecasting chain: the agent renders the pairs (agent.training.llm_examples)
exactly as the chain prompts, and hands over plain strings.
"""
