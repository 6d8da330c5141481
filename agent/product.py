"""The text a product is known by: one function for catalog rows and for new products.

Retrieval and the regression model both read this text, so every door a new
product comes in through (CLI `new-product`, API `/new-product`, `ask`'s
forecast_new_product tool, the evaluation harness) must build it the same way,
or the same launch gets different analogs. They all pass fields to
`ContextBuilder.for_new_product`, which calls `product_text`, the function the
data loaders use for catalog rows. A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping

# Catalog columns added to the title, in this order; `description` comes last.
TEXT_FIELDS = ("department", "category", "subcategory", "package_size", "brand")


def label(value: object) -> str | None:
    """A catalog label (e.g. a product's category) when it is text, else None (missing: None, NaN, blank)."""
    return value if isinstance(value, str) and value.strip() else None


def product_text(fields: Mapping[str, object]) -> str:
    """Title, taxonomy, size and brand, then description, joined by ' / '.

    Fields already contained in the title are skipped so the encoder does not
    weigh the same words twice.
    """
    title = str(fields.get("title") or "").strip()
    parts = [title] if title else []
    for value in [fields.get(col) for col in TEXT_FIELDS] + [fields.get("description")]:
        if isinstance(value, str) and value.strip() and value.strip().lower() not in title.lower():
            parts.append(value.strip())
    return " / ".join(parts)
