"""Read a task file of either surface into the IR, with its includes spliced in.

This is the only place that touches the disk for task files: it decodes bytes (binary
and non-UTF-8 input are located errors), picks the surface by suffix, and resolves
`include` relative to the including file, reporting missing files and cycles. An included
file's params come with its statements; the checker matches them with the arguments.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vitalskills.errors import Location
from vitalskills.lang import ir
from vitalskills.lang.errors import (
    EmptyFileError,
    EncodingError,
    IncludeCycleError,
    IncludeNotFoundError,
    TaskFileNotFoundError,
)
from vitalskills.lang.grammar import examples_dir
from vitalskills.lang.text import parse_text
from vitalskills.lang.visit import StatementWalker
from vitalskills.lang.yaml_surface import parse_yaml

TEXT_SUFFIXES = (".vtl",)
YAML_SUFFIXES = (".yaml", ".yml")
TASK_SUFFIXES = TEXT_SUFFIXES + YAML_SUFFIXES


def surface_of(path: Path) -> str:
    """Return `vtl` or `yaml` from a file's suffix, or raise a usage error."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "vtl"
    if suffix in YAML_SUFFIXES:
        return "yaml"
    raise TaskFileNotFoundError(
        f"`{path}` is not a task file", hint="task files end in .vtl, .yaml or .yml"
    )


def decode(data: bytes, file: str) -> str:
    """Decode UTF-8 (a BOM is dropped); binary or invalid bytes are located errors."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise EncodingError(
            "file is binary, not a task file",
            location=Location(file, line, 1),
            hint="task files are UTF-8 text (.vtl) or YAML (.yaml)",
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        before = data[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before.rsplit("\n", 1)[-1]) + 1
        raise EncodingError(
            f"file is not valid UTF-8 (byte 0x{data[error.start]:02x})",
            location=Location(file, line, column, line, column + 1),
            hint="save the file as UTF-8",
        ) from None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building the IR: it holds no cycles, and on large files
    repeated collections over the growing graph cost more than the parse itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_source(source: str, file: str, surface: str) -> ir.Task:
    """Parse one file's text with the given surface; includes are left unresolved."""
    with _gc_paused():
        task = parse_text(source, file) if surface == "vtl" else parse_yaml(source, file)
    if not task.body:
        hint = (
            'add a statement, e.g. `locate "power strip"`'
            if surface == "vtl"
            else "add `steps:` with at least one step"
        )
        raise EmptyFileError(
            "file has no statements", location=Location(file, 1, 1, 1, 2), hint=hint
        )
    return task


def _read(path: Path, file: str) -> ir.Task:
    surface = surface_of(path)
    return parse_source(decode(path.read_bytes(), file), file, surface)


class _Includes(StatementWalker):
    """Splice every `include` in a body, at any depth, reading paths relative to `base`."""

    def __init__(self, base: Path, stack: Sequence[Path]) -> None:
        self.base = base
        self.stack = stack

    def visit_include(self, statement: ir.Include) -> None:
        # The included file's own includes are resolved when it is read, not walked here.
        _splice(statement, self.base, self.stack)


def _resolve(task: ir.Task, base: Path, stack: Sequence[Path]) -> None:
    _Includes(base, stack).walk(task.body)


def _splice(include: ir.Include, base: Path, stack: Sequence[Path]) -> None:
    where = (include.field_spans.get("path") or include.span or _nowhere()).location()
    target = base / include.path
    shown = os.path.normpath(str(target))
    if not target.is_file() and (examples_dir() / include.path).is_file():
        target = examples_dir() / include.path  # a shipped example (`vitalskills tasks list`)
        shown = os.path.normpath(str(target))
    if not target.is_file():
        raise IncludeNotFoundError(
            f"included file `{include.path}` does not exist (looked for `{shown}`)",
            location=where,
            hint="include paths are relative to the including file, or name a shipped "
            "example (`vitalskills tasks list`)",
        )
    real = target.resolve()
    if real in stack:
        chain = " -> ".join(p.name for p in [*stack[stack.index(real) :], real])
        raise IncludeCycleError(
            f"include cycle: {chain}",
            location=where,
            hint="remove one of these includes",
        )
    included = _read(target, shown)
    _resolve(included, target.parent, [*stack, real])
    include.params = included.params
    include.body = included.body


def _nowhere() -> ir.Span:
    return ir.Span(file="<unknown>", line=1, column=1, end_line=1, end_column=2)


def resolve_includes(task: ir.Task, file: Path) -> ir.Task:
    """Splice every `include` of `task` (read from `file`) in place and return it."""
    _resolve(task, file.parent, [file.resolve()])
    return task


def parse_file(path: Path, *, includes: bool = True, source: str | None = None) -> ir.Task:
    """Read a `.vtl` or `.yaml`/`.yml` task file, includes resolved, without checks.

    Args:
        path: the task file.
        includes: resolve `include` statements (False leaves their bodies empty, which
            is all `fmt` needs).
        source: the file's text when an editor holds a newer one than the disk (the
            language server); the file need not exist then.

    Raises:
        TaskFileNotFoundError: the path does not exist or is not a task file (exit 2).
        LangError: a located syntax, encoding, YAML or include error.
    """
    path = Path(path)
    if source is not None:
        task = parse_source(source, str(path), surface_of(path))
        return resolve_includes(task, path) if includes else task
    if path.is_dir():
        raise TaskFileNotFoundError(
            f"`{path}` is a directory, not a task file", hint="pass .vtl or .yaml files"
        )
    if not path.is_file():
        raise TaskFileNotFoundError(
            f"task file `{path}` does not exist", hint="check the path and try again"
        )
    task = _read(path, str(path))
    return resolve_includes(task, path) if includes else task
