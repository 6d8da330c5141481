"""What a question asks for, as a bounded pydantic model.

Every reader (the deterministic rules, the question tagger, the LLM) produces a `Query`; every
field is bounded here, so whatever a parser read from untrusted text, the tools
downstream only ever see sane values (a horizon of 1..52 periods, at most a few
products of short text, a positive price).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Intent = Literal["forecast", "new_product", "trend_report", "compare", "what_if_price", "reorder"]
Measure = Literal["quantity", "revenue"]
ParsedBy = Literal["tagger", "llm", "rules"]
INTENTS: tuple[str, ...] = get_args(Intent)

DEFAULT_HORIZON = 4
MAX_HORIZON = 52
MAX_PRODUCTS = 4
ProductText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class Query(BaseModel):
    """One question, understood. Product texts stay as the user wrote them; resolve.py maps them to ids."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent = "forecast"
    products: list[ProductText] = Field(default_factory=list, max_length=MAX_PRODUCTS,
                                        description="Product texts as written, 0..n.")
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = Field(
        None, description="Department or category text (trend reports).")
    store: Annotated[str, StringConstraints(pattern=r"^\d{1,12}$")] | None = None
    horizon: int | None = Field(None, ge=1, le=MAX_HORIZON, description="Periods; None when the question gave none.")
    measure: Measure = "quantity"
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = Field(
        None, description="The new product's title (new_product).")
    price: float | None = Field(None, gt=0, le=10_000, description="New shelf price (what_if_price, new_product).")
    lead_time: int | None = Field(None, ge=1, le=26, description="Periods until an order arrives (reorder).")
    service_level: float | None = Field(None, ge=0.5, le=0.999, description="Wanted chance of no stock-out (reorder).")
    on_hand: float | None = Field(None, ge=0, le=1_000_000, description="Units in stock now (reorder).")

    @field_validator("products")
    @classmethod
    def _distinct(cls, products: list[str]) -> list[str]:
        """The same product twice is one product (case-insensitive, first spelling kept)."""
        seen: set[str] = set()
        return [p for p in products if not (p.casefold() in seen or seen.add(p.casefold()))]

    @property
    def periods(self) -> int:
        """The horizon to forecast: the question's, else the default (answer.py says so)."""
        return self.horizon or DEFAULT_HORIZON
