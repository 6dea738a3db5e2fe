"""Print a Task in canonical form on either surface (`vitalskills fmt`).

Lossless: quantities print in the unit the author wrote, with the shortest number that
reads back to the same SI value, and YAML scalars are quoted whenever a plain scalar
would read back as something else. Includes print as `include` (their bodies are not
inlined), so formatting never changes which files a task depends on. Comments, which
the IR does not hold, come back in place through `format_file` (see comments.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import yaml

from vitalskills.lang import ir
from vitalskills.lang.comments import CommentMap, Notes, attach_comments, scan_comments
from vitalskills.lang.loader import decode, parse_file, surface_of
from vitalskills.lang.visit import StatementVisitor
from vitalskills.lang.yaml_surface import NAME, QUANTITY, REF

_INDENT = "  "
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .,/()'-]*[A-Za-z0-9_.)]|[A-Za-z_]")


def number(value: float) -> str:
    """Return the shortest text for a plain number (`3`, not `3.0`)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def scaled(value: float, unit: str) -> str:
    """Return the shortest number in `unit` that reads back to `value` (in SI) exactly."""
    factor = ir.UNITS[unit][1]
    for digits in range(1, 18):
        text = f"{value / factor:.{digits}g}"
        if float(text) * factor == value:
            return number(float(text))
    return number(value / factor)


def yaml_number(text: str) -> str:
    """Make a number YAML 1.1 reads as a float: `1e-07` needs a dot (`1.0e-07`)."""
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def quantity(q: ir.Quantity) -> str:
    return f"{scaled(q.value, q.unit)} {q.unit}"


def vector_items(v: ir.Vector) -> str:
    return ", ".join(scaled(x, v.unit) for x in v.values)


def string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# ---------------------------------------------------------------- .vtl


def _vtl_value(value: ir.IRNode) -> str:
    if isinstance(value, ir.Text):
        return string(value.value)
    if isinstance(value, ir.Number):
        return number(value.value)
    if isinstance(value, ir.Quantity):
        return quantity(value)
    if isinstance(value, ir.Vector):
        return f"[{vector_items(value)}] {value.unit}"
    if isinstance(value, ir.Ref):
        return value.name
    raise TypeError(f"not a value: {value!r}")


def _vtl_field(value: float | str | ir.IRNode) -> str:
    """A statement field as `.vtl`: a plain number, text, or a value node (a param's name)."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, int | float):
        return number(value)
    return _vtl_value(value)


def _annotated(lines: list[str], notes: Notes | None, pad: str, first: bool = False) -> list[str]:
    """Put a node's comments back: leading ones above it, a trailing one after line one,
    and the blank line that was above it (not above the `first` node of a block)."""
    if notes is None:
        return lines
    if notes.trailing is not None:
        lines = [f"{lines[0]}  #{notes.trailing}", *lines[1:]]
    blank = [""] if notes.blank_before and not first else []
    return [*blank, *(f"{pad}#{text}" for text in notes.leading), *lines]


class _VtlLine(StatementVisitor[str]):
    """A statement's first `.vtl` line: all of a simple statement, the head of a block."""

    def visit_locate(self, s: ir.Locate) -> str:
        line = f"locate {_vtl_value(s.query)}"
        if s.name:
            line += f" as {s.name}"
        if s.min_score is not None:
            line += f" min_score {_vtl_field(s.min_score)}"
        if s.grounder:
            grounder = s.grounder if NAME.fullmatch(s.grounder) else string(s.grounder)
            line += f" using {grounder}"
        return line

    def visit_reach(self, s: ir.Reach) -> str:
        offset = f" offset {_vtl_value(s.offset)}" if s.offset else ""
        return f"reach {s.target.name}{offset}"

    def visit_move(self, s: ir.Move) -> str:
        return f"move {_vtl_value(s.delta)} in {s.frame}"

    def visit_run_skill(self, s: ir.RunSkill) -> str:
        line = f"run skill {s.skill}" + (f"@{s.version}" if s.version is not None else "")
        if s.at:
            line += f" at {s.at.name}"
        if s.retries:
            line += f" retries {_vtl_field(s.retries)}"
        if s.timeout:
            line += f" timeout {_vtl_value(s.timeout)}"
        return line

    def visit_gripper(self, s: ir.Gripper) -> str:
        return f"gripper {s.action}"

    def visit_wait(self, s: ir.Wait) -> str:
        return f"wait {_vtl_value(s.duration)}"

    def visit_fail(self, s: ir.Fail) -> str:
        return f"fail {_vtl_field(s.message)}"

    def visit_if_found(self, s: ir.IfFound) -> str:
        return f"if found {s.name}"

    def visit_try(self, s: ir.Try) -> str:
        return "try"

    def visit_retry(self, s: ir.Retry) -> str:
        return f"retry {_vtl_field(s.times)}"

    def visit_timeout(self, s: ir.Timeout) -> str:
        return f"timeout {_vtl_value(s.duration)}"

    def visit_repeat(self, s: ir.Repeat) -> str:
        return f"repeat {_vtl_field(s.times)}"

    def visit_include(self, s: ir.Include) -> str:
        args = ", ".join(f"{arg.name} = {_vtl_value(arg.value)}" for arg in s.args)
        return f"include {string(s.path)}" + (f" with {args}" if args else "")


_VTL_LINE = _VtlLine()


def statement_line(statement: ir.IRNode) -> str:
    """Return a statement's canonical one-line `.vtl` text, without its blocks.

    A simple statement prints whole (`wait 500 ms`); a block statement prints its head
    (`retry 3`, `if found strip`). This is also each plan node's label.
    """
    return _VTL_LINE.visit(statement)


class _VtlPrinter(StatementVisitor[list[str]]):
    """A statement's `.vtl` lines at the current depth, blocks and comments included."""

    def __init__(self, cm: CommentMap) -> None:
        self.cm = cm
        self.depth = 0

    def block(self, body: list[ir.Statement]) -> list[str]:
        out = []
        for index, statement in enumerate(body):
            lines = self.visit(statement)
            notes = self.cm.of(statement)
            out.extend(_annotated(lines, notes, _INDENT * self.depth, first=index == 0))
        out += [f"{_INDENT * self.depth}#{text}" for text in self.cm.tail(body)]
        return out

    def line(self, s: ir.IRNode) -> list[str]:
        return [_INDENT * self.depth + statement_line(s)]

    def braced(
        self, s: ir.IRNode, body: list[ir.Statement], orelse: list[ir.Statement] | None = None
    ) -> list[str]:
        pad = _INDENT * self.depth
        self.depth += 1
        lines = [f"{pad}{statement_line(s)} {{", *self.block(body)]
        if orelse:
            lines += [f"{pad}}} else {{", *self.block(orelse)]
        self.depth -= 1
        return [*lines, f"{pad}}}"]

    # An include prints as the statement, never its body: formatting keeps the file split.
    visit_locate = visit_reach = visit_move = visit_run_skill = line
    visit_gripper = visit_wait = visit_fail = visit_include = line

    def visit_if_found(self, s: ir.IfFound) -> list[str]:
        return self.braced(s, s.then, s.orelse)

    def visit_try(self, s: ir.Try) -> list[str]:
        return self.braced(s, s.body, s.orelse)

    def visit_retry(self, s: ir.Retry) -> list[str]:
        return self.braced(s, s.body)

    def visit_timeout(self, s: ir.Timeout) -> list[str]:
        return self.braced(s, s.body)

    def visit_repeat(self, s: ir.Repeat) -> list[str]:
        return self.braced(s, s.body)


def format_vtl(task: ir.Task, cm: CommentMap) -> str:
    header = f"task {task.name}" + (f" {string(task.description)}" if task.description else "")
    if cm.header is not None:
        header += f"  #{cm.header}"
    lines = [*(f"#{text}" for text in cm.top), header]
    if task.params:
        lines.append("")
        for index, p in enumerate(task.params):
            line = f"param {p.name} = {_vtl_value(p.default)}"
            lines += _annotated([line], cm.of(p), "", first=index == 0)
    lines.append("")
    lines += _VtlPrinter(cm).block(task.body)
    lines += [f"#{text}" for text in cm.bottom]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- YAML


def _reads_as_text(text: str) -> bool:
    """Whether `text` as a plain YAML scalar reads back as this same text."""
    if not _PLAIN.fullmatch(text) or QUANTITY.fullmatch(text) or REF.fullmatch(text):
        return False
    if ": " in text or " #" in text:
        return False
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


def yaml_text(text: str) -> str:
    """Return a YAML scalar that reads back as the text `text` (plain when safe).

    Quoted text keeps its letters as they are (UTF-8, `"prise électrique"`); only what
    a reader could not see, or YAML would read as a line break, is escaped.
    """
    if _reads_as_text(text):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def _yaml_value(value: ir.IRNode) -> str:
    if isinstance(value, ir.Text):
        return yaml_text(value.value)
    if isinstance(value, ir.Number):
        return yaml_number(number(value.value))
    if isinstance(value, ir.Quantity):
        return quantity(value)
    if isinstance(value, ir.Vector):
        items = ", ".join(yaml_number(scaled(x, value.unit)) for x in value.values)
        return f"{{{value.unit}: [{items}]}}"
    if isinstance(value, ir.Ref):
        return f"${value.name}"
    raise TypeError(f"not a value: {value!r}")


def _yaml_field(value: float | str | ir.IRNode) -> str:
    """A step field as YAML: a plain number, text, or a value node (`$name` for a param)."""
    if isinstance(value, str):
        return yaml_text(value)
    if isinstance(value, int | float):
        return yaml_number(number(value))
    return _yaml_value(value)


class _YamlStep(StatementVisitor[list[str]]):
    """A step's lines relative to its `- ` (nested steps already indented)."""

    def __init__(self, cm: CommentMap) -> None:
        self.cm = cm

    def steps(self, body: list[ir.Statement], depth: int) -> list[str]:
        out: list[str] = []
        pad = _INDENT * depth
        for index, statement in enumerate(body):
            first, *rest = self.visit(statement)
            lines = [f"{pad}- {first}", *(f"{pad}  {line}" if line else "" for line in rest)]
            out.extend(_annotated(lines, self.cm.of(statement), pad, first=index == 0))
        return out

    def block(self, key: str, body: list[ir.Statement]) -> list[str]:
        tail = [f"{_INDENT}#{text}" for text in self.cm.tail(body)]
        if not body:
            return [f"{key}: []", *tail]
        return [f"{key}:", *self.steps(body, 1), *tail]

    def visit_locate(self, s: ir.Locate) -> list[str]:
        lines = [f"locate: {_yaml_value(s.query)}"]
        if s.name:
            lines.append(f"as: {s.name}")
        if s.min_score is not None:
            lines.append(f"min_score: {_yaml_field(s.min_score)}")
        if s.grounder:
            lines.append(f"using: {yaml_text(s.grounder)}")
        return lines

    def visit_reach(self, s: ir.Reach) -> list[str]:
        lines = [f"reach: {s.target.name}"]
        return lines + ([f"offset: {_yaml_value(s.offset)}"] if s.offset else [])

    def visit_move(self, s: ir.Move) -> list[str]:
        return [f"move: {_yaml_value(s.delta)}", f"in: {s.frame}"]

    def visit_run_skill(self, s: ir.RunSkill) -> list[str]:
        lines = [f"run: {s.skill}"]
        if s.version is not None:
            lines.append(f"version: {json.dumps(s.version)}")
        if s.at:
            lines.append(f"at: {s.at.name}")
        if s.retries:
            lines.append(f"retries: {_yaml_field(s.retries)}")
        if s.timeout:
            lines.append(f"timeout: {_yaml_value(s.timeout)}")
        return lines

    def visit_gripper(self, s: ir.Gripper) -> list[str]:
        return [f"gripper: {s.action}"]

    def visit_wait(self, s: ir.Wait) -> list[str]:
        return [f"wait: {_yaml_value(s.duration)}"]

    def visit_fail(self, s: ir.Fail) -> list[str]:
        return [f"fail: {_yaml_field(s.message)}"]

    def visit_include(self, s: ir.Include) -> list[str]:
        lines = [f"include: {yaml_text(s.path)}"]
        if s.args:
            lines.append("with:")
            lines.extend(f"{_INDENT}{arg.name}: {_yaml_value(arg.value)}" for arg in s.args)
        return lines

    def visit_if_found(self, s: ir.IfFound) -> list[str]:
        lines = [f"if_found: {s.name}", *self.block("steps", s.then)]
        return lines + (self.block("else", s.orelse) if s.orelse else [])

    def visit_try(self, s: ir.Try) -> list[str]:
        lines = self.block("try", s.body)
        return lines + (self.block("else", s.orelse) if s.orelse else [])

    def visit_retry(self, s: ir.Retry) -> list[str]:
        return [f"retry: {_yaml_field(s.times)}", *self.block("steps", s.body)]

    def visit_repeat(self, s: ir.Repeat) -> list[str]:
        return [f"repeat: {_yaml_field(s.times)}", *self.block("steps", s.body)]

    def visit_timeout(self, s: ir.Timeout) -> list[str]:
        return [f"timeout: {_yaml_value(s.duration)}", *self.block("steps", s.body)]


def format_yaml(task: ir.Task, cm: CommentMap) -> str:
    name = f"task: {task.name}" + (f"  #{cm.header}" if cm.header is not None else "")
    lines = [*(f"#{text}" for text in cm.top), name]
    if task.description:
        lines.append(f"description: {yaml_text(task.description)}")
    if task.params:
        lines.append("params:")
        for index, p in enumerate(task.params):
            line = f"  {p.name}: {_yaml_value(p.default)}"
            lines += _annotated([line], cm.of(p), "  ", first=index == 0)
    lines.append("steps:")
    lines += _YamlStep(cm).steps(task.body, 1)
    lines += [f"#{text}" for text in cm.bottom]
    return "\n".join(lines) + "\n"


def format_task(
    task: ir.Task, to: Literal["vtl", "yaml"], comments: CommentMap | None = None
) -> str:
    """Return `task` as canonical `.vtl` text or canonical YAML.

    Args:
        task: the task (includes need not be resolved: they print as `include`).
        to: the surface to print.
        comments: comments to print back in place (`attach_comments`); none by default.
    """
    cm = comments or CommentMap()
    return format_vtl(task, cm) if to == "vtl" else format_yaml(task, cm)


def format_file(
    path: Path, to: Literal["vtl", "yaml"] | None = None, source: str | None = None
) -> str:
    """Return a task file in canonical form on surface `to` (default: its own), comments kept.

    Includes are not read: they print as `include` statements. `source` is the file's
    text when an editor holds a newer one than the disk.
    """
    surface = surface_of(path)
    task = parse_file(path, includes=False, source=source)
    if source is None:
        source = decode(path.read_bytes(), str(path))
    comments = attach_comments(task, scan_comments(source, surface), source, surface)
    return format_task(task, to or surface, comments)
