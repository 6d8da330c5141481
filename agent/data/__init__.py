"""Data layer: the built-in dataset, user files in the data contract, and summaries."""

from agent.data.completejourney import BuiltinDataMissing, load_builtin
from agent.data.contract import DataError
from agent.data.dataset import Dataset, Fix
from agent.data.files import load_files


def load_dataset(sales: str | None = None, catalog: str | None = None, store: str | None = None) -> Dataset:
    """The user's files when given, else the built-in dataset (optionally one store)."""
    if sales is None:
        if catalog is not None:
            raise DataError(str(catalog), "a catalog was given without --sales")
        return load_builtin(store=store)
    if store is not None:
        raise DataError(str(sales), "--store applies to the built-in dataset only; filter your file instead")
    return load_files(sales, catalog)


__all__ = ["BuiltinDataMissing", "DataError", "Dataset", "Fix", "load_builtin", "load_dataset", "load_files"]
