"""LLM backends: one interface, an OpenAI-compatible HTTP client (vLLM) and an embedded transformers model."""
