"""The project's error type: every mistake a user can cause is one of these.

The CLI catches `VitalskillsError` at the command boundary and prints `render()`
without a traceback; anything else is a bug and keeps its traceback. Located errors
render the way rustc and ruff do: location, source line, caret, help.

    FILE:LINE:COL: error: MESSAGE
       |
    12 | run skill plug_insrt at strip
       |           ^^^^^^^^^^
    help: did you mean `plug_insert`?
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Location:
    """A place in a source file (1-based line and column), with an optional end."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class VitalskillsError(Exception):
    """An error a user can cause and fix: says what, where and what to do.

    Args:
        message: what went wrong, lowercase, no final period.
        location: where in a source file, when the error has one.
        hint: a concrete fix, shown as `help: ...`.
        code: a stable diagnostic code (e.g. `E101`), for docs and tests.
        notes: context lines shown as `note: ...`, such as the includes that led to a
            statement in an included file.
    """

    code: str = "E000"
    #: How `render()` labels it: `error`, or `warning` for what does not stop a task.
    severity: str = "error"

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        code: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.notes = notes
        if code is not None:
            self.code = code

    def render(self) -> str:
        """Render as `FILE:LINE:COL: error: MESSAGE` plus source excerpt and hint."""
        return render_error(self)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"


def _source_line(file: str, line: int) -> str | None:
    try:
        text = Path(file).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


def _caret(text: str, column: int, width: int) -> str:
    """Return the marker line: tabs kept so the caret lines up under tabbed source."""
    prefix = "".join("\t" if char == "\t" else " " for char in text[: column - 1])
    prefix += " " * max(0, column - 1 - len(text))
    room = max(1, len(text) - column + 1)
    return prefix + "^" * max(1, min(width, room))


def render_error(error: VitalskillsError, source: str | None = None) -> str:
    """Return the full diagnostic text for `error`.

    Args:
        error: the error to render.
        source: the file's text, when it is not (or no longer) on disk.
    """
    loc = error.location
    if loc is None:
        out = [f"{error.severity}: {error.message}"]
    else:
        out = [f"{loc.file}:{loc.line}:{loc.column}: {error.severity}: {error.message}"]
        if source is not None:
            lines = source.splitlines()
            text = lines[loc.line - 1] if 1 <= loc.line <= len(lines) else None
        else:
            text = _source_line(loc.file, loc.line)
        if text is not None:
            gutter = str(loc.line)
            width = 1
            if loc.end_line == loc.line and loc.end_column and loc.end_column > loc.column:
                width = loc.end_column - loc.column
            out.append(f"{' ' * len(gutter)} |")
            out.append(f"{gutter} | {text}".rstrip())
            out.append(f"{' ' * len(gutter)} | {_caret(text, loc.column, width)}")
    out.extend(f"note: {note}" for note in error.notes)
    if error.hint:
        out.append(f"help: {error.hint}")
    return "\n".join(out)


class UsageError(VitalskillsError):
    """A command was called wrongly (bad option value, missing file); exits 2."""

    code = "E001"


def _validation_message(error: ValidationError) -> str:
    """The first problem of a pydantic error, as a user reads it: the field, why, the value."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["loc"]:  # a field's own check; model-wide checks name their fields
        field = ".".join(str(part) for part in first["loc"])
        message = f"`{field}`: {message} (got `{first['input']}`)"
    return message


def validate_model(
    model: type[Model],
    data: Any,
    error: type[VitalskillsError],
    source: str,
    hint: str | None = None,
) -> Model:
    """Validate `data` as `model`; a bad value raises `error` naming `source` and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        raise error(f"{source}: {_validation_message(problem)}", hint=hint) from None
