"""Read a `.rrd` back through rerun's own reader, for tests of the rerun log."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
from rerun.chunk import RrdReader


def read_rrd(path: Path) -> dict[str, list[pa.RecordBatch]]:
    """Every chunk of the file's recording, as record batches grouped by entity path."""
    entities: dict[str, list[pa.RecordBatch]] = defaultdict(list)
    for chunk in RrdReader(path).stream().to_chunks():
        entities[chunk.entity_path].append(chunk.to_record_batch())
    return dict(entities)


def column(batches: list[pa.RecordBatch], name: str) -> list[Any]:
    """The non-null rows of one column across an entity's chunks, as Python values.

    A component's row is a list (a batch of instances); a timeline's row is its value.
    """
    rows: list[Any] = []
    for batch in batches:
        if name in batch.schema.names:
            rows += [row for row in batch.column(name).to_pylist() if row is not None]
    return rows
