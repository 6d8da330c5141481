"""Plain-language questions answered from the data: `ask(app, question)` (see agent/ask/run.py)."""

from agent.ask.answer import Answer
from agent.ask.query import Query
from agent.ask.run import ask

__all__ = ["Answer", "Query", "ask"]
