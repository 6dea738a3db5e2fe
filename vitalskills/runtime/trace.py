"""The JSONL trace: one event per line, flushed as it happens, readable back.

A trace survives a crash up to the last event written, so it is flushed per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from vitalskills.errors import VitalskillsError
from vitalskills.runtime.events import Event


class TraceError(VitalskillsError):
    """A trace file could not be written or read back."""

    code = "X003"


class TraceWriter:
    """Subscriber writing each event as one JSON line to a file or an open stream.

    Args:
        target: a path (created with its parent folders, overwritten) or a text stream.
    """

    def __init__(self, target: Path | IO[str]) -> None:
        if isinstance(target, Path):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self.stream: IO[str] = target.open("w", encoding="utf-8")
            except OSError as error:
                raise TraceError(
                    f"cannot write the trace to `{target}`: {error.strerror}",
                    hint="pass a writable path with --trace",
                ) from None
            self.owned = True
        else:
            self.stream = target
            self.owned = False

    def __call__(self, event: Event) -> None:
        self.stream.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
        self.stream.flush()
        if self.owned and event.event == "task_finished":
            self.close()

    def close(self) -> None:
        """Close the file (streams the caller opened are left open)."""
        if self.owned and not self.stream.closed:
            self.stream.close()


def read_trace(path: Path) -> list[dict[str, Any]]:
    """Parse a JSONL trace into its events, in order.

    Raises:
        TraceError: the file is missing or a line is not a JSON object.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(f"cannot read the trace `{path}`: {error}") from None
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            raise TraceError(f"`{path}` line {number} is not JSON: {error.msg}") from None
        if not isinstance(event, dict) or "event" not in event:
            raise TraceError(f"`{path}` line {number} is not a trace event")
        events.append(event)
    return events
