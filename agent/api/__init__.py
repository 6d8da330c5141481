"""The HTTP API (FastAPI): `create_app(shelfcast, settings)`, served by `shelfcast serve`."""

from agent.api.app import create_app
from agent.api.security import ApiSettings

__all__ = ["ApiSettings", "create_app"]
