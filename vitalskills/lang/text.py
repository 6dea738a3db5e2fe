"""The `.vtl` text surface: parse with the grammar (grammar.py) and transform to the IR.

Rule aliases in `grammar/vitalskills.lark` equal the IR nodes' `kind` names (`run_skill`,
`if_found`, ...), so the transformer has one small method per alias. Values are checked
only as far as the IR's types need (a unit must exist, a count must be whole); everything
else is the checker's job, so that both surfaces share it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from vitalskills.lang import ir
from vitalskills.lang.errors import (
    HeaderError,
    TaskSyntaxError,
    UnitError,
    ValueRangeError,
)
from vitalskills.lang.grammar import parser
from vitalskills.lang.syntax import MAX_NESTING, describe_syntax_error, too_deep


def span_of(file: str, item: Any) -> ir.Span:
    """Return the span of a lark token."""
    return ir.Span(
        file=file,
        line=item.line,
        column=item.column,
        end_line=item.end_line,
        end_column=item.end_column,
    )


def default_task_name(file: str) -> str:
    """Name a task without a `task` header after its file, made a valid name."""
    name = re.sub(r"\W", "_", Path(file).stem, flags=re.ASCII) or "task"
    return f"_{name}" if name[0].isdigit() else name


def _finite(value: float, file: str, token: Token) -> float:
    if not math.isfinite(value):
        raise ValueRangeError(
            f"number `{token}` is too large", location=span_of(file, token).location()
        )
    return value


def unit_of(name: str, where: ir.Span) -> tuple[ir.UnitKind, float]:
    """Return (kind, factor to SI) of a unit name, or raise a located `UnitError`."""
    if name not in ir.UNITS:
        raise UnitError(
            f"unknown unit `{name}`",
            location=where.location(),
            hint=f"use one of {', '.join(ir.UNITS)}",
        )
    return ir.UNITS[name]


def whole(value: float, what: str, where: ir.Span) -> int:
    """Return `value` as an int, or raise when it is not a whole number."""
    if value != int(value):
        raise ValueRangeError(
            f"{what} must be a whole number, got {value:g}", location=where.location()
        )
    return int(value)


class _Block(list):
    """A block's statements, remembering where its closing brace ends."""

    end: tuple[int, int]


class ToIR:
    """Turn a parse tree into IR nodes; one method per rule alias, called with its children.

    A plain bottom-up walk rather than `lark.Transformer`, and positions taken from each
    node's first and last tokens rather than lark's `propagate_positions`: together they
    halve the time to build the IR of a large file (benchmarks/compile.py).
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self._rules: dict[str, Callable[[list[Any]], Any]] = {}

    def transform(self, tree: Tree) -> Any:
        """Build the IR for `tree`, children first."""
        children = [
            self.transform(child) if isinstance(child, Tree) else child for child in tree.children
        ]
        rule = self._rules.get(tree.data)
        if rule is None:
            name = "try_" if tree.data == "try" else str(tree.data)
            rule = self._rules[tree.data] = getattr(self, name)
        return rule(children)

    def _token(self, token: Token) -> ir.Span:
        return span_of(self.file, token)

    def _span(self, first: Token, children: list[Any]) -> ir.Span:
        """Span from the `first` token to the end of the last child that has one."""
        for item in reversed(children):
            end = _end_of(item)
            if end is not None:
                break
        else:
            end = (first.end_line, first.end_column)
        return ir.Span(
            file=self.file, line=first.line, column=first.column, end_line=end[0], end_column=end[1]
        )

    # ------------------------------------------------------------ values

    def string(self, children: list[Token]) -> ir.Text:
        token = children[0]
        try:
            value = json.loads(token, strict=False)
        except json.JSONDecodeError:
            raise TaskSyntaxError(
                "invalid escape sequence in string",
                location=self._token(token).location(),
                hint='use `\\"`, `\\\\`, `\\n`, `\\t` or `\\uXXXX`',
                code="E169",
            ) from None
        return ir.Text(value=value, span=self._token(token))

    def number(self, children: list[Token]) -> ir.Number:
        token = children[0]
        return ir.Number(value=_finite(float(token), self.file, token), span=self._token(token))

    def quantity(self, children: list[Token]) -> ir.Quantity:
        number, unit = children
        span = self._span(number, children)
        kind, factor = unit_of(str(unit), self._token(unit))
        value = _finite(float(number), self.file, number) * factor
        return ir.Quantity(value=value, unit=str(unit), dimension=kind, span=span)

    def vector(self, children: list[Any]) -> ir.Vector:
        bracket, *numbers, unit = children
        numbers = [n for n in numbers if n is not None]
        span = self._span(bracket, children)
        if len(numbers) != 3:
            raise TaskSyntaxError(
                f"a vector needs 3 components, got {len(numbers)}",
                location=span.location(),
                hint="write it as `[x, y, z] mm`",
                code="E106",
            )
        kind, factor = unit_of(str(unit), self._token(unit))
        values = [_finite(float(n), self.file, n) * factor for n in numbers]
        return ir.Vector(values=values, unit=str(unit), dimension=kind, span=span)

    def ref(self, children: list[Token]) -> ir.Ref:
        return ir.Ref(name=str(children[0]), span=self._token(children[0]))

    # ------------------------------------------------------------ top level

    def header(self, children: list[Any]) -> tuple[str, Any]:
        keyword, name, description = children
        text = self.string([description]).value if description is not None else ""
        return ("header", (str(name), text, self._span(keyword, children), self._token(name)))

    def param(self, children: list[Any]) -> ir.Param:
        keyword, name, value = children
        spans = {"name": self._token(name)}
        span = self._span(keyword, children)
        return ir.Param(name=str(name), default=value, span=span, field_spans=spans)

    def start(self, children: list[Any]) -> ir.Task:
        name, description = default_task_name(self.file), ""
        params: list[ir.Param] = []
        body: list[Any] = []
        spans: dict[str, ir.Span] = {}
        for position, item in enumerate(children):
            if isinstance(item, tuple):
                _, (name, description, span, name_span) = item
                if position != 0:
                    raise HeaderError(
                        "the `task` header must come first",
                        location=span.location(),
                        hint="move this line to the top of the file",
                    )
                spans["name"] = name_span
            elif isinstance(item, ir.Param):
                params.append(item)
            else:
                body.append(item)
        return ir.Task(
            name=name, description=description, params=params, body=body, field_spans=spans
        )

    # ------------------------------------------------------------ statements

    def _options(self, options: list[tuple[str, Any, ir.Span]]) -> tuple[dict, dict]:
        fields: dict[str, Any] = {}
        spans: dict[str, ir.Span] = {}
        for key, value, span in options:
            if key in fields:
                raise TaskSyntaxError(
                    f"`{key}` given twice",
                    location=span.location(),
                    hint=f"keep one `{key}`",
                    code="E107",
                )
            fields[key] = value
            spans[key] = span
        return fields, spans

    def locate(self, children: list[Any]) -> ir.Locate:
        keyword, query, *options = children
        fields, spans = self._options(options)
        return ir.Locate(
            query=query, span=self._span(keyword, children), field_spans=spans, **fields
        )

    def locate_as(self, children: list[Token]) -> tuple[str, str, ir.Span]:
        return ("name", str(children[0]), self._token(children[0]))

    def locate_min_score(
        self, children: list[ir.Number | ir.Ref]
    ) -> tuple[str, float | ir.Ref, ir.Span]:
        (score,) = children
        assert score.span is not None
        return ("min_score", score.value if isinstance(score, ir.Number) else score, score.span)

    def locate_using(self, children: list[Token | ir.Text]) -> tuple[str, str, ir.Span]:
        # Grounder names like `owlv2-sam` are not identifiers, so they may be quoted.
        (grounder,) = children
        if isinstance(grounder, ir.Text):
            return ("grounder", grounder.value, grounder.span)
        return ("grounder", str(grounder), self._token(grounder))

    def reach(self, children: list[Any]) -> ir.Reach:
        keyword, target, offset = children
        return ir.Reach(target=target, offset=offset, span=self._span(keyword, children))

    def move(self, children: list[Any]) -> ir.Move:
        keyword, delta, frame = children
        span = self._span(keyword, children)
        if frame is None:
            return ir.Move(delta=delta, span=span)
        spans = {"frame": self._token(frame)}
        if str(frame) not in ("base", "ee"):
            raise TaskSyntaxError(
                f"unknown frame `{frame}`",
                location=spans["frame"].location(),
                hint="use `in base` or `in ee`",
                code="E108",
            )
        return ir.Move(delta=delta, frame=str(frame), span=span, field_spans=spans)

    def run_skill(self, children: list[Any]) -> ir.RunSkill:
        keyword, name, version, *options = children
        fields, spans = self._options(options)
        spans["skill"] = self._token(name)
        if version is not None:
            fields["version"] = str(version)[1:]
            spans["version"] = self._token(version)
        if isinstance(fields.get("retries"), float):
            fields["retries"] = whole(fields["retries"], "`retries`", spans["retries"])
        span = self._span(keyword, children)
        return ir.RunSkill(skill=str(name), span=span, field_spans=spans, **fields)

    def run_at(self, children: list[ir.Ref]) -> tuple[str, ir.Ref, ir.Span]:
        return ("at", children[0], children[0].span)

    def run_retries(self, children: list[ir.Number | ir.Ref]) -> tuple[str, Any, ir.Span]:
        (count,) = children
        assert count.span is not None
        return ("retries", count.value if isinstance(count, ir.Number) else count, count.span)

    def run_timeout(
        self, children: list[ir.Quantity | ir.Ref]
    ) -> tuple[str, ir.Quantity | ir.Ref, ir.Span]:
        (duration,) = children
        assert duration.span is not None
        return ("timeout", duration, duration.span)

    def gripper(self, children: list[Token]) -> ir.Gripper:
        keyword, action = children
        if str(action) not in ("open", "close"):
            raise TaskSyntaxError(
                f"unknown gripper action `{action}`",
                location=self._token(action).location(),
                hint="use `gripper open` or `gripper close`",
                code="E108",
            )
        return ir.Gripper(action=str(action), span=self._span(keyword, children))

    def wait(self, children: list[Any]) -> ir.Wait:
        keyword, duration = children
        return ir.Wait(duration=duration, span=self._span(keyword, children))

    def fail(self, children: list[Any]) -> ir.Fail:
        keyword, message = children
        text = message.value if isinstance(message, ir.Text) else message
        return ir.Fail(message=text, span=self._span(keyword, children))

    def block(self, children: list[Any]) -> _Block:
        block = _Block(children[1:-1])
        block.end = (children[-1].end_line, children[-1].end_column)
        return block

    def if_found(self, children: list[Any]) -> ir.IfFound:
        keyword, name, then, orelse = children
        return ir.IfFound(
            name=str(name),
            then=list(then),
            orelse=list(orelse or []),
            span=self._span(keyword, children),
            field_spans={"name": self._token(name)},
        )

    def try_(self, children: list[Any]) -> ir.Try:
        keyword, body, orelse = children
        return ir.Try(
            body=list(body), orelse=list(orelse or []), span=self._span(keyword, children)
        )

    def _counted(self, children: list[Any]) -> tuple[int | ir.Ref, list[Any], dict[str, ir.Span]]:
        _, count, body = children
        spans = {"times": count.span}
        if isinstance(count, ir.Ref):
            return count, list(body), spans
        return whole(count.value, "the count", count.span), list(body), spans

    def retry(self, children: list[Any]) -> ir.Retry:
        times, body, spans = self._counted(children)
        span = self._span(children[0], children)
        return ir.Retry(times=times, body=body, span=span, field_spans=spans)

    def repeat(self, children: list[Any]) -> ir.Repeat:
        times, body, spans = self._counted(children)
        span = self._span(children[0], children)
        return ir.Repeat(times=times, body=body, span=span, field_spans=spans)

    def timeout(self, children: list[Any]) -> ir.Timeout:
        keyword, duration, body = children
        span = self._span(keyword, children)
        return ir.Timeout(duration=duration, body=list(body), span=span)

    def include(self, children: list[Any]) -> ir.Include:
        keyword, path, *args = children
        args = [arg for arg in args if arg is not None]
        text = self.string([path]).value
        spans = {"path": self._token(path)}
        names: set[str] = set()
        for arg in args:
            if arg.name in names:
                raise TaskSyntaxError(
                    f"argument `{arg.name}` given twice",
                    location=arg.field_spans["name"].location(),
                    hint=f"keep one `{arg.name} = ...`",
                    code="E107",
                )
            names.add(arg.name)
        span = self._span(keyword, children)
        return ir.Include(path=text, args=args, span=span, field_spans=spans)

    def argument(self, children: list[Any]) -> ir.Argument:
        name, value = children
        spans = {"name": self._token(name)}
        span = self._span(name, children)
        return ir.Argument(name=str(name), value=value, span=span, field_spans=spans)


def _end_of(item: Any) -> tuple[int, int] | None:
    """Where a child ends: a token, an IR node, a block or an option (key, value, span)."""
    if isinstance(item, Token):
        return (item.end_line, item.end_column)
    if isinstance(item, _Block):
        return item.end
    if isinstance(item, ir.IRNode) and item.span is not None:
        return (item.span.end_line, item.span.end_column)
    if isinstance(item, tuple) and len(item) == 3 and isinstance(item[2], ir.Span):
        return (item[2].end_line, item[2].end_column)
    return None


def _depth(tree: Tree) -> int:
    """Return how deeply blocks nest, without recursion (the transformer recurses)."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data == "block":
            depth += 1
            deepest = max(deepest, depth)
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))
    return deepest


def parse_text(source: str, file: str) -> ir.Task:
    """Parse `.vtl` source into a Task (includes unresolved), or raise a located error."""
    try:
        tree = parser().parse(source)
    except UnexpectedInput as error:
        raise describe_syntax_error(error, source, file) from None
    if _depth(tree) > MAX_NESTING:
        raise too_deep(source, file)
    return ToIR(file).transform(tree)
