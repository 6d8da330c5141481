"""Prompt templates as versioned files (Jinja2), read by agent.forecast.prompting."""
