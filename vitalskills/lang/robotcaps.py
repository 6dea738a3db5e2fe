"""Read a robot's capabilities from a YAML/JSON file, for `check --robot-caps`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from vitalskills.errors import Location, UsageError
from vitalskills.lang.yamlnodes import compose, to_plain
from vitalskills.robot import RobotCapabilities


class RobotCapsError(UsageError):
    """A `--robot-caps` file that is missing or does not match `RobotCapabilities`."""

    code = "E242"


def load_capabilities(path: Path) -> RobotCapabilities:
    """Load `RobotCapabilities` from YAML or JSON (JSON is YAML), errors located."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RobotCapsError(f"cannot read robot capabilities `{path}`: {error}") from None
    node = compose(source, str(path))
    if node is None:
        raise RobotCapsError(f"robot capabilities file `{path}` is empty")
    data, spans = to_plain(str(path), node)
    try:
        return RobotCapabilities.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        while loc and loc not in spans:
            loc = loc[:-1]
        span = spans.get(loc)
        field = ".".join(str(p) for p in first["loc"]) or "capabilities"
        raise RobotCapsError(
            f"invalid robot capabilities: `{field}`: {first['msg']}",
            location=span.location() if span else Location(str(path), 1, 1),
        ) from None
