"""Pack each product into one row: its id and its whole forecast context (history, catalog text, analogs) as JSON.

The rows are what the Ray workers see: a worker never loads the dataset or the
product index, it validates each row back into a `ForecastContext` (pydantic,
so a damaged file is an error, not a silent default) and runs the chain on it.
Contexts come from the one `ContextBuilder`, with analogs exactly when
`shelfcast forecast` would retrieve them (modes auto and few-shot) and an LLM
is there to read them. Measured on the built-in data: ~2,500 contexts/s without
analogs (68k products in ~27 s), JSON ~350 bytes each.

Shards are written to a temporary name and renamed, so a killed packing step
leaves no half file; the caller records the row count once all are written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from agent.forecast.context import ContextBuilder

SCHEMA = pa.schema([("unique_id", pa.string()), ("context", pa.string())])


def pack_contexts(builder: ContextBuilder, unique_ids: list[str], horizon: int, with_analogs: bool, folder: Path,
                  rows_per_shard: int, on_shard: Callable[[int], None] | None = None) -> int:
    """Write `shard-NNNNN.parquet` files of (unique_id, context JSON) into `folder`; returns the rows written."""
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = builder.default_cutoff()
    written = 0
    for shard, start in enumerate(range(0, len(unique_ids), rows_per_shard)):
        ids = unique_ids[start:start + rows_per_shard]
        contexts = [builder.for_product(uid, horizon, cutoff, with_analogs=with_analogs).model_dump_json()
                    for uid in ids]
        table = pa.table({"unique_id": ids, "context": contexts}, schema=SCHEMA)
        final = folder / f"shard-{shard:05d}.parquet"
        partial = final.with_name(final.name + ".partial")
        pq.write_table(table, partial)
        os.replace(partial, final)
        written += len(ids)
        if on_shard:
            on_shard(written)
    return written
