"""Versioned model folders, shared by the regression artifacts and the LoRA adapters.

A folder is `<root>/<id>/` with the model files, `config.json` (a pydantic
config that carries `format_version` and `created`), `curves.csv` (one row per
validation pass) and a `README.md` model card. It is written under a hidden
`.partial-<id>` name and renamed only when complete, so a crashed run never
leaves something that looks like a finished model, and listings skip it.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

Config = TypeVar("Config", bound=BaseModel)


def write_folder(root: Path, folder_id: str, config: BaseModel, curves: Sequence[BaseModel], card: str,
                 write_model: Callable[[Path], None]) -> Path:
    """Write `<root>/<folder_id>/` atomically: `write_model(partial)` saves the weights, then config, curves, card."""
    final = Path(root) / folder_id
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    partial = final.with_name(f".partial-{folder_id}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write_model(partial)
    (partial / "config.json").write_text(config.model_dump_json(indent=2))
    with open(partial / "curves.csv", "w", newline="") as handle:
        fields = list(type(curves[0]).model_fields) if curves else []
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(point.model_dump() for point in curves)
    (partial / "README.md").write_text(card)
    partial.rename(final)
    return final


def list_folders(root: Path, marker: str, read: Callable[[Path], Config], format_version: int) -> list[tuple[Path, Config]]:
    """Complete folders under `root` holding `marker`, in this format version, newest first."""
    root = Path(root)
    found = []
    for marker_file in root.glob(f"*/{marker}") if root.is_dir() else []:
        if marker_file.parent.name.startswith("."):
            continue  # a save in progress or one that crashed
        config = read(marker_file.parent)
        if getattr(config, "format_version") == format_version:
            found.append((marker_file.parent, config))
    return sorted(found, key=lambda item: getattr(item[1], "created"), reverse=True)
