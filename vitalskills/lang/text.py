"""The `.vtl` text surface: the lark grammar, loaded once, and a transformer to the IR.

The grammar lives in `grammar/vitalskills.lark` (shipped in the wheel as
`vitalskills/_grammar`). Rule aliases equal IR class names, so the transformer has one
small method per alias. Values are checked only as far as the IR's types need (a unit
must exist, a count must be whole); everything else is the checker's job, so that both
surfaces share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from vitalskills.lang import ir
from vitalskills.lang.errors import (
    HeaderError,
    TaskSyntaxError,
    UnitError,
    ValueRangeError,
)
from vitalskills.lang.syntax import MAX_NESTING, describe_syntax_error, too_deep

_PACKAGE = Path(__file__).resolve().parent.parent


def grammar_path() -> Path:
    """Return the grammar file: inside the wheel, or `<repo>/grammar` in a checkout."""
    shipped = _PACKAGE / "_grammar" / "vitalskills.lark"
    if shipped.is_file():
        return shipped
    return _PACKAGE.parent / "grammar" / "vitalskills.lark"


@cache
def parser() -> Lark:
    """Build the LALR parser once per process (with positions propagated)."""
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def span_of(file: str, item: Any) -> ir.Span:
    """Return the span of a lark token or of a tree's meta."""
    return ir.Span(
        file=file,
        line=item.line,
        column=item.column,
        end_line=item.end_line,
        end_column=item.end_column,
    )


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


class ToIR:
    """Turn a parse tree into IR nodes; one method per rule alias, called with (meta, children).

    A plain bottom-up walk rather than `lark.Transformer`: lark's per-call `v_args`
    wrapping tripled the cost of this pass on large files (benchmarks/compile.py).
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self._rules: dict[str, Callable[[Any, list[Any]], Any]] = {}

    def transform(self, tree: Tree) -> Any:
        """Build the IR for `tree`, children first."""
        children = [
            self.transform(child) if isinstance(child, Tree) else child for child in tree.children
        ]
        rule = self._rules.get(tree.data)
        if rule is None:
            rule = self._rules[tree.data] = getattr(
                self, "try_" if tree.data == "try" else tree.data
            )
        return rule(tree.meta, children)

    def _span(self, meta: Any) -> ir.Span:
        return span_of(self.file, meta)

    # ------------------------------------------------------------ values

    def string(self, meta: Any, children: list[Token]) -> ir.Text:
        token = children[0]
        try:
            value = json.loads(token, strict=False)
        except json.JSONDecodeError:
            raise TaskSyntaxError(
                "invalid escape sequence in string",
                location=span_of(self.file, token).location(),
                hint='use `\\"`, `\\\\`, `\\n`, `\\t` or `\\uXXXX`',
                code="E169",
            ) from None
        return ir.Text(value=value, span=self._span(meta))

    def number(self, meta: Any, children: list[Token]) -> ir.Number:
        token = children[0]
        return ir.Number(value=_finite(float(token), self.file, token), span=self._span(meta))

    def quantity(self, meta: Any, children: list[Token]) -> ir.Quantity:
        number, unit = children
        span = self._span(meta)
        kind, factor = unit_of(str(unit), span_of(self.file, unit))
        value = _finite(float(number), self.file, number) * factor
        return ir.Quantity(value=value, unit=str(unit), dimension=kind, span=span)

    def vector(self, meta: Any, children: list[Any]) -> ir.Vector:
        *numbers, unit = children
        numbers = [n for n in numbers if n is not None]
        span = self._span(meta)
        if len(numbers) != 3:
            raise TaskSyntaxError(
                f"a vector needs 3 components, got {len(numbers)}",
                location=span.location(),
                hint="write it as `[x, y, z] mm`",
                code="E106",
            )
        kind, factor = unit_of(str(unit), span_of(self.file, unit))
        values = [_finite(float(n), self.file, n) * factor for n in numbers]
        return ir.Vector(values=values, unit=str(unit), dimension=kind, span=span)

    def ref(self, meta: Any, children: list[Token]) -> ir.Ref:
        return ir.Ref(name=str(children[0]), span=self._span(meta))

    # ------------------------------------------------------------ top level

    def header(self, meta: Any, children: list[Any]) -> tuple[str, Any]:
        name, description = children
        text = self.string(meta, [description]).value if description is not None else ""
        return ("header", (str(name), text, self._span(meta), span_of(self.file, name)))

    def param(self, meta: Any, children: list[Any]) -> ir.Param:
        name, value = children
        spans = {"name": span_of(self.file, name)}
        return ir.Param(name=str(name), default=value, span=self._span(meta), field_spans=spans)

    def start(self, meta: Any, children: list[Any]) -> ir.Task:
        name, description = Path(self.file).stem, ""
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

    def locate(self, meta: Any, children: list[Any]) -> ir.Locate:
        query, *options = children
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
        return ir.Locate(query=query, span=self._span(meta), field_spans=spans, **fields)

    def locate_as(self, meta: Any, children: list[Token]) -> tuple[str, str, ir.Span]:
        return ("name", str(children[0]), span_of(self.file, children[0]))

    def locate_min_score(self, meta: Any, children: list[ir.Number]) -> tuple[str, float, ir.Span]:
        return ("min_score", children[0].value, children[0].span)

    def locate_using(self, meta: Any, children: list[Token]) -> tuple[str, str, ir.Span]:
        return ("grounder", str(children[0]), span_of(self.file, children[0]))

    def reach(self, meta: Any, children: list[Any]) -> ir.Reach:
        target, offset = children
        return ir.Reach(target=target, offset=offset, span=self._span(meta))

    def move(self, meta: Any, children: list[Any]) -> ir.Move:
        delta, frame = children
        spans: dict[str, ir.Span] = {}
        if frame is None:
            return ir.Move(delta=delta, span=self._span(meta))
        spans["frame"] = span_of(self.file, frame)
        if str(frame) not in ("base", "ee"):
            raise TaskSyntaxError(
                f"unknown frame `{frame}`",
                location=spans["frame"].location(),
                hint="use `in base` or `in ee`",
                code="E108",
            )
        return ir.Move(delta=delta, frame=str(frame), span=self._span(meta), field_spans=spans)

    def run_skill(self, meta: Any, children: list[Any]) -> ir.RunSkill:
        name, version, *options = children
        spans = {"skill": span_of(self.file, name)}
        fields: dict[str, Any] = {}
        if version is not None:
            fields["version"] = str(version)[1:]
            spans["version"] = span_of(self.file, version)
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
        if "retries" in fields:
            fields["retries"] = whole(fields["retries"], "`retries`", spans["retries"])
        return ir.RunSkill(skill=str(name), span=self._span(meta), field_spans=spans, **fields)

    def run_at(self, meta: Any, children: list[ir.Ref]) -> tuple[str, ir.Ref, ir.Span]:
        return ("at", children[0], children[0].span)

    def run_retries(self, meta: Any, children: list[ir.Number]) -> tuple[str, float, ir.Span]:
        return ("retries", children[0].value, children[0].span)

    def run_timeout(
        self, meta: Any, children: list[ir.Quantity]
    ) -> tuple[str, ir.Quantity, ir.Span]:
        return ("timeout", children[0], children[0].span)

    def gripper(self, meta: Any, children: list[Token]) -> ir.Gripper:
        action = children[0]
        if str(action) not in ("open", "close"):
            raise TaskSyntaxError(
                f"unknown gripper action `{action}`",
                location=span_of(self.file, action).location(),
                hint="use `gripper open` or `gripper close`",
                code="E108",
            )
        return ir.Gripper(action=str(action), span=self._span(meta))

    def wait(self, meta: Any, children: list[ir.Quantity]) -> ir.Wait:
        return ir.Wait(duration=children[0], span=self._span(meta))

    def fail(self, meta: Any, children: list[Token]) -> ir.Fail:
        message = self.string(meta, children).value
        return ir.Fail(message=message, span=self._span(meta))

    def block(self, meta: Any, children: list[Any]) -> list[Any]:
        return list(children)

    def if_found(self, meta: Any, children: list[Any]) -> ir.IfFound:
        name, then, orelse = children
        spans = {"name": span_of(self.file, name)}
        return ir.IfFound(
            name=str(name), then=then, orelse=orelse or [], span=self._span(meta), field_spans=spans
        )

    def try_(self, meta: Any, children: list[Any]) -> ir.Try:
        body, orelse = children
        return ir.Try(body=body, orelse=orelse or [], span=self._span(meta))

    def _counted(self, children: list[Any]) -> tuple[int, list[Any], dict[str, ir.Span]]:
        count, body = children
        spans = {"times": count.span}
        return whole(count.value, "the count", count.span), body, spans

    def retry(self, meta: Any, children: list[Any]) -> ir.Retry:
        times, body, spans = self._counted(children)
        return ir.Retry(times=times, body=body, span=self._span(meta), field_spans=spans)

    def repeat(self, meta: Any, children: list[Any]) -> ir.Repeat:
        times, body, spans = self._counted(children)
        return ir.Repeat(times=times, body=body, span=self._span(meta), field_spans=spans)

    def timeout(self, meta: Any, children: list[Any]) -> ir.Timeout:
        duration, body = children
        return ir.Timeout(duration=duration, body=body, span=self._span(meta))

    def include(self, meta: Any, children: list[Token]) -> ir.Include:
        path = self.string(meta, children).value
        spans = {"path": span_of(self.file, children[0])}
        return ir.Include(path=path, span=self._span(meta), field_spans=spans)


# `try` is a Python keyword: route the rule of that name to `try_`.
setattr(ToIR, "try", ToIR.try_)


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
