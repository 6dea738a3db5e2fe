"""Read a `.rrd` back through rerun's own reader, and serve a stand-in viewer, for tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from rerun.chunk import RrdReader

from vitalskills.report.rerun_log import RerunUnavailable, check_viewer_url, viewer_executable


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


def free_port() -> int:
    """A loopback TCP port nothing listens on (free when this returns)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def viewer_server(saved: Path) -> Iterator[str]:
    """Run rerun's own gRPC server (the CLI, headless) saving what it receives; yield its URL.

    It stands in for a viewer, which needs a display: it accepts the same stream.
    """
    # The binary itself: terminating the `rerun` wrapper script would leave it running.
    rerun = viewer_executable()
    assert rerun is not None, "the rerun CLI comes with rerun-sdk"
    port = free_port()
    server = subprocess.Popen(
        [rerun, "--serve-grpc", "--bind", "127.0.0.1", "--port", str(port), "--save", str(saved)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"rerun+http://127.0.0.1:{port}/proxy"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                check_viewer_url(url)
                break
            except RerunUnavailable:
                assert time.monotonic() < deadline, "the rerun server did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_text(path: Path, entity: str, text: str, timeout: float = 30.0) -> None:
    """Wait until a file a server is still writing has a text log line at `entity` with `text`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = column(read_rrd(path).get(entity, []), "TextLog:text")
            if any(text in row[0] for row in rows):
                return
        except Exception:  # the server has not written its first chunks yet
            pass
        assert time.monotonic() < deadline, f"{path} got no `{text}` at {entity}"
        time.sleep(0.2)
