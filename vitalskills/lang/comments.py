"""Keep comments through `fmt`: find them in the source and attach them to IR nodes.

Comments are not part of the IR (they mean nothing to a run), so they travel beside it:
`scan_comments` finds them by line, `attach_comments` hangs each on the param or
statement it belongs to (a comment on its own line leads the next node; one after code
trails the node that starts on that line), and `format_task` prints them back in place,
on either surface. Blank lines travel the same way: a node (with its leading comments)
that had a blank line above it gets one above it again, one at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vitalskills.lang import ir
from vitalskills.lang.visit import StatementWalker


@dataclass(frozen=True)
class Comment:
    """One `#` comment: its line, its text after `#`, and whether code precedes it."""

    line: int
    text: str
    own_line: bool


@dataclass
class Notes:
    """The comments attached to one node."""

    leading: list[str] = field(default_factory=list)
    trailing: str | None = None
    blank_before: bool = False  # a blank line above it (and its leading comments)


@dataclass
class CommentMap:
    """Comments by node (keyed by `id(node)`), plus those above and below everything."""

    nodes: dict[int, Notes] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    header: str | None = None
    bottom: list[str] = field(default_factory=list)

    def of(self, node: object) -> Notes | None:
        return self.nodes.get(id(node))


def _comment_start(line: str, surface: Literal["vtl", "yaml"]) -> int | None:
    """Return the index of the `#` that starts a comment on `line`, outside quotes."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(line):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = None
        elif char == '"' or (char == "'" and surface == "yaml"):
            quote = char
        elif char == "#" and (surface == "vtl" or index == 0 or line[index - 1] in " \t"):
            return index
    return None


def scan_comments(source: str, surface: Literal["vtl", "yaml"]) -> list[Comment]:
    """Return every comment in `source`, in order."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        start = _comment_start(line, surface)
        if start is not None:
            before = line[:start].strip(" \t;")
            found.append(Comment(number, line[start + 1 :].rstrip(), own_line=not before))
    return found


class _Positions(StatementWalker):
    """Collect every statement that has a span, as (line, column, node)."""

    def __init__(self, out: list[tuple[int, int, ir.IRNode]]) -> None:
        self.out = out

    def visit(self, statement: ir.IRNode) -> None:
        if statement.span is not None:
            self.out.append((statement.span.line, statement.span.column, statement))
        super().visit(statement)


def _nodes(task: ir.Task) -> list[tuple[int, int, ir.IRNode]]:
    """Every param and statement with a span, as (line, column, node), in source order."""
    out: list[tuple[int, int, ir.IRNode]] = []
    for param in task.params:
        if param.span is not None:
            out.append((param.span.line, param.span.column, param))
    _Positions(out).walk(task.body)
    return sorted(out, key=lambda item: (item[0], item[1]))


def blank_lines(source: str) -> set[int]:
    """The numbers of the source's blank lines (only whitespace)."""
    return {number for number, line in enumerate(source.splitlines(), start=1) if not line.strip()}


def attach_comments(
    task: ir.Task, comments: list[Comment], blank: set[int] | None = None
) -> CommentMap:
    """Attach each comment to the node it belongs to; see the module docstring.

    `blank` holds the source's blank line numbers (`blank_lines`): a node whose first
    line, or first leading comment, follows one is marked `blank_before`.
    """
    mapping = CommentMap()
    starts_at: dict[int, int] = {}  # id(node) -> its first line, leading comments included
    nodes = _nodes(task)
    first_line = nodes[0][0] if nodes else None
    header = task.field_spans.get("name")
    starts = [line for line in (first_line, header.line if header else None) if line is not None]
    top_end = min(starts) if starts else None
    for comment in comments:
        if comment.own_line and top_end is not None and comment.line < top_end:
            mapping.top.append(comment.text)
            continue
        if not comment.own_line and header and comment.line == header.line and not mapping.header:
            mapping.header = comment.text
            continue
        if not comment.own_line:
            starting_here = [node for line, _, node in nodes if line == comment.line]
            if starting_here:
                notes = mapping.nodes.setdefault(id(starting_here[-1]), Notes())
                if notes.trailing is None:
                    notes.trailing = comment.text
                    continue
        following = next((node for line, _, node in nodes if line > comment.line), None)
        if following is None:
            mapping.bottom.append(comment.text)
        else:
            mapping.nodes.setdefault(id(following), Notes()).leading.append(comment.text)
            starts_at.setdefault(id(following), comment.line)
    for line, _, node in nodes:
        if blank and starts_at.get(id(node), line) - 1 in blank:
            mapping.nodes.setdefault(id(node), Notes()).blank_before = True
    return mapping
