"""Read a `.rrd` back through rerun's own reader, for tests of the rerun log."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
from rerun.chunk import RrdReader


def read_rrd(path: Path) -> dict[str, list[pa.RecordBatch]]:
    """Every chunk of the file's recording, as record batches grouped by entity path."""
    entities: dict[str, list[pa.RecordBatch]] = defaultdict(list)
    for chunk in RrdReader(path).stream().to_chunks():
        entities[chunk.entity_path].append(chunk.to_record_batch())
    return dict(entities)


def column(batches: list[pa.RecordBatch], name: str) -> list:
    """The non-null values of one column (component or timeline) across an entity's chunks."""
    values = []
    for batch in batches:
        if name in batch.schema.names:
            array = batch.column(name)
            values += [array[i] for i in range(len(array)) if array[i].is_valid]
    return values
