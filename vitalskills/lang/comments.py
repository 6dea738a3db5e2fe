"""Keep comments through `fmt`: find them in the source and attach them to IR nodes.

Comments are not part of the IR (they mean nothing to a run), so they travel beside it:
`scan_comments` finds them by line, `attach_comments` hangs each on the param or
statement it belongs to (a comment on its own line leads the next node; one after code
trails the node that starts on that line), and `format_task` prints them back in place,
on either surface. A comment inside a block stays in that block: after the block's last
statement (before its `}` or `} else {`) it is the block's tail and prints there; inside
a statement that spans lines (YAML options) it leads that statement. Blank lines travel
the same way: a node (with its leading comments) that had a blank line above it gets one
above it again, one at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vitalskills.lang import ir
from vitalskills.lang.visit import StatementWalker, child_blocks


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
    #: Comments after a block's last statement, by `id()` of the block's statement list.
    tails: dict[int, list[str]] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    header: str | None = None
    bottom: list[str] = field(default_factory=list)

    def of(self, node: object) -> Notes | None:
        return self.nodes.get(id(node))

    def tail(self, block: list[ir.Statement]) -> list[str]:
        """The comments that end `block` (after its last statement)."""
        return self.tails.get(id(block), [])


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


class _Blocks(StatementWalker):
    """Every block as (first line, last line, statements), innermost last; and every
    statement that spans several lines."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.blocks: list[tuple[int, int, list[ir.Statement]]] = []
        self.spanning: list[ir.IRNode] = []

    def visit(self, statement: ir.IRNode) -> None:
        span = statement.span
        blocks = child_blocks(statement) if span is not None else []
        if span is not None and span.end_line > span.line:
            if any(blocks):
                self._split(span.line, span.end_line, blocks)
            else:
                self.spanning.append(statement)
        super().visit(statement)

    def _split(self, first: int, last: int, blocks: list[list[ir.Statement]]) -> None:
        """Give each of a statement's blocks its lines: a second block (`else`) starts at
        the last `else` line between the first block's last statement and the second
        block's first (an `else` nested in that last statement comes before it)."""
        start = first
        for index, block in enumerate(blocks):
            end = last
            if index + 1 < len(blocks):
                after = block[-1].span.line if block and block[-1].span else start
                following = blocks[index + 1]
                before = following[0].span.line if following and following[0].span else last
                found = [
                    n for n in range(after + 1, min(before, len(self.lines)) + 1)
                    if _is_else(self.lines[n - 1])
                ]  # fmt: skip
                end = found[-1] if found else last
            self.blocks.append((start, end, block))
            start = end


def _is_else(line: str) -> bool:
    text = line.strip()
    return text.startswith("} else") or text.startswith("else:")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _home(
    line: int, blocks: list[tuple[int, int, list[ir.Statement]]], lines: list[str],
    by_indent: bool,
) -> list[ir.Statement] | None:  # fmt: skip
    """The innermost block whose lines hold comment line `line` (None: the top level).

    In YAML (`by_indent`) a block's span runs on to the next item, so a comment after
    its last statement belongs to it only when indented as deep as its statements.
    """
    inside = [(first, last, b) for first, last, b in blocks if first < line < last]
    if by_indent:
        depth = _indent(lines[line - 1])
        inside = [
            (first, last, b) for first, last, b in inside
            if not b or b[0].span is None or depth >= _indent(lines[b[0].span.line - 1])
        ]  # fmt: skip
    return min(inside, key=lambda item: item[1] - item[0])[2] if inside else None


def _content_end(statement: ir.IRNode, lines: list[str]) -> int:
    """A statement's last line of its own: indented deeper than its first line (YAML
    spans run on to the next item's line)."""
    assert statement.span is not None
    first = statement.span.line
    depth = _indent(lines[first - 1])
    last = first
    for number in range(first + 1, min(statement.span.end_line, len(lines)) + 1):
        text = lines[number - 1]
        if text.strip() and not text.strip().startswith("#"):
            if _indent(text) <= depth:
                break
            last = number
    return last


def attach_comments(
    task: ir.Task, comments: list[Comment], source: str | None = None,
    surface: Literal["vtl", "yaml"] = "vtl",
) -> CommentMap:  # fmt: skip
    """Attach each comment to the node it belongs to; see the module docstring.

    With `source` (the file's text), comments stay in the block they were written in and
    a node whose first line, or first leading comment, follows a blank line is marked
    `blank_before`.
    """
    lines = source.splitlines() if source is not None else []
    blank = blank_lines(source) if source is not None else set()
    walker = _Blocks(lines)
    if source is not None:
        walker.walk(task.body)
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
        within = next(
            (s for s in walker.spanning
             if s.span and s.span.line < comment.line < _content_end(s, lines)),
            None,
        )  # fmt: skip
        if within is not None:  # between a statement's options: it leads the statement
            mapping.nodes.setdefault(id(within), Notes()).leading.append(comment.text)
            continue
        block = _home(comment.line, walker.blocks, lines, by_indent=surface == "yaml")
        if block is not None:
            following = next(
                (s for s in block if s.span is not None and s.span.line > comment.line), None
            )
            if following is None:
                mapping.tails.setdefault(id(block), []).append(comment.text)
                continue
        else:
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
