"""One open task file, analysed: diagnostics as `vitalskills check` makes them, and an index
of the names written in it for completion, hover and go to definition.

Diagnostics come from `compile_task` itself (given the editor's text), so the server can
never disagree with `check`. The index comes from a separate parse, because a file with
check errors still has names worth navigating.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vitalskills.errors import VitalskillsError
from vitalskills.lang import CheckFailed, LangError, SkillLookup, compile_task, ir, parse_file
from vitalskills.lang.loader import TASK_SUFFIXES

#: An editor's language id -> the suffix a buffer without a task suffix is read with.
_SUFFIX_OF_LANGUAGE = {"vtl": ".vtl", "yaml": ".yaml"}

SymbolKind = Literal["param", "located", "ref", "skill", "include"]


def task_path(path: str, language_id: str | None = None) -> Path:
    """Return the path a buffer is read as: its own, or (an unsaved buffer) with the
    suffix of its language, since the suffix picks the surface."""
    own = Path(path)
    if own.suffix.lower() in TASK_SUFFIXES:
        return own
    return own.with_name(own.name + _SUFFIX_OF_LANGUAGE.get(language_id or "", ".vtl"))


def diagnose(path: Path, text: str, library: SkillLookup | None) -> list[VitalskillsError]:
    """Return what `vitalskills check` reports for `text`: its errors, else its warnings."""
    warnings: list[VitalskillsError] = []
    try:
        compile_task(path, library=library, source=text, warnings=warnings)
    except CheckFailed as failed:
        return failed.errors
    except VitalskillsError as error:  # not a task file at all: `check` prints it too
        return [error]
    return warnings


@dataclass(frozen=True)
class Symbol:
    """A name written somewhere: what it names, its text, and where it is written.

    `anchor` is where it sits in the open file: its own span there, or the span of the
    `include` that brought it in from another file (for "defined above the cursor").
    """

    kind: SymbolKind
    name: str
    span: ir.Span
    node: ir.IRNode
    anchor: ir.Span


@dataclass
class Index:
    """The names of one parsed task: declarations and every use, in document order."""

    file: str
    task: ir.Task
    symbols: list[Symbol] = field(default_factory=list)

    @property
    def params(self) -> dict[str, ir.Param]:
        """The task's params by name."""
        return {param.name: param for param in self.task.params}

    def declarations(self, kind: Literal["param", "located"], name: str) -> list[Symbol]:
        """Where `name` is declared as a param or bound by `locate ... as`."""
        return [s for s in self.symbols if s.kind == kind and s.name == name]

    def located_before(self, line: int) -> list[Symbol]:
        """The `locate ... as` names bound above 1-based `line` of the open file."""
        return [s for s in self.symbols if s.kind == "located" and s.anchor.line < line]

    def at(self, line: int, column: int) -> Symbol | None:
        """The symbol written at 1-based `line` and `column` of the open file, if any.

        The column just after a name still counts, as editors put the cursor there.
        """
        for symbol in self.symbols:
            span = symbol.span
            if span.file == self.file and _within(span, line, column):
                return symbol
        return None

    def files_of(self, include: ir.Include) -> set[str]:
        """Every file an `include` brought statements from (itself and nested includes)."""
        return {node.span.file for node in _nodes(include.body) if node.span is not None}


def _within(span: ir.Span, line: int, column: int) -> bool:
    after_start = (line, column) >= (span.line, span.column)
    return after_start and (line, column) <= (span.end_line, span.end_column)


def _nodes(value: object) -> Iterator[ir.IRNode]:
    """Every IR node in `value`, in document order: generic, so new statement kinds need
    no change here."""
    if isinstance(value, ir.IRNode):
        yield value
        for name in type(value).model_fields:
            yield from _nodes(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nodes(item)


def _symbols(node: ir.IRNode) -> Iterator[tuple[SymbolKind, str, ir.Span | None]]:
    """The names `node` itself writes (not those of nodes inside it)."""
    spans = node.field_spans
    if isinstance(node, ir.Param):
        yield "param", node.name, spans.get("name")
    elif isinstance(node, ir.Locate) and node.name:
        yield "located", node.name, spans.get("name")
    elif isinstance(node, ir.IfFound):
        yield "ref", node.name, spans.get("name")
    elif isinstance(node, ir.RunSkill):
        yield "skill", node.skill, spans.get("skill")
    elif isinstance(node, ir.Include):
        yield "include", node.path, spans.get("path")
    elif isinstance(node, ir.Ref):
        yield "ref", node.name, node.span


def build_index(task: ir.Task, file: str) -> Index:
    """Index every name of `task` (parsed from `file`), included files' names too."""
    index = Index(file=file, task=task)
    anchor = ir.Span(file=file, line=1, column=1, end_line=1, end_column=1)
    for node in _nodes(task):
        if node.span is not None and node.span.file == file:
            anchor = node.span
        for kind, name, span in _symbols(node):
            if span is not None:
                index.symbols.append(Symbol(kind, name, span, node, anchor))
    return index


def parse_index(path: Path, text: str) -> Index | None:
    """Parse `text` and index it; includes that cannot be read are left out; None when the
    text itself does not parse (the caller keeps its last good index)."""
    for includes in (True, False):
        try:
            task = parse_file(path, includes=includes, source=text)
        except LangError:
            continue
        return build_index(task, str(path))
    return None
