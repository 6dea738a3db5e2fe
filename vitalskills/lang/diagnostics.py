"""Render located errors the way rustc and ruff do: location, source line, caret, help.

FILE:LINE:COL: error: MESSAGE
   |
12 | run skill plug_insrt at strip
   |           ^^^^^^^^^^
help: did you mean `plug_insert`?
"""

from __future__ import annotations

from pathlib import Path

from vitalskills.errors import VitalskillsError


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
        out = [f"error: {error.message}"]
    else:
        out = [f"{loc.file}:{loc.line}:{loc.column}: error: {error.message}"]
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
    if error.hint:
        out.append(f"help: {error.hint}")
    return "\n".join(out)
