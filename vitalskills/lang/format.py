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


def _annotated(lines: list[str], notes: Notes | None, pad: str) -> list[str]:
    """Put a node's comments back: leading ones above it, a trailing one after line one."""
    if notes is None:
        return lines
    if notes.trailing is not None:
        lines = [f"{lines[0]}  #{notes.trailing}", *lines[1:]]
    return [*(f"{pad}#{text}" for text in notes.leading), *lines]


def _vtl_block(body: list, depth: int, cm: CommentMap) -> list[str]:
    out = []
    for statement in body:
        lines = _vtl_statement(statement, depth, cm)
        out.extend(_annotated(lines, cm.of(statement), _INDENT * depth))
    return out


def _vtl_braced(
    head: str, body: list, depth: int, cm: CommentMap, orelse: list | None = None
) -> list[str]:
    pad = _INDENT * depth
    lines = [f"{pad}{head} {{", *_vtl_block(body, depth + 1, cm)]
    if orelse:
        lines += [f"{pad}}} else {{", *_vtl_block(orelse, depth + 1, cm)]
    return [*lines, f"{pad}}}"]


def _vtl_statement(s: ir.IRNode, depth: int, cm: CommentMap) -> list[str]:
    pad = _INDENT * depth
    if isinstance(s, ir.Locate):
        line = f"locate {_vtl_value(s.query)}"
        if s.name:
            line += f" as {s.name}"
        if s.min_score is not None:
            line += f" min_score {number(s.min_score)}"
        if s.grounder:
            grounder = s.grounder if NAME.fullmatch(s.grounder) else string(s.grounder)
            line += f" using {grounder}"
        return [pad + line]
    if isinstance(s, ir.Reach):
        offset = f" offset {_vtl_value(s.offset)}" if s.offset else ""
        return [f"{pad}reach {s.target.name}{offset}"]
    if isinstance(s, ir.Move):
        return [f"{pad}move {_vtl_value(s.delta)} in {s.frame}"]
    if isinstance(s, ir.RunSkill):
        line = f"run skill {s.skill}" + (f"@{s.version}" if s.version is not None else "")
        if s.at:
            line += f" at {s.at.name}"
        if s.retries:
            line += f" retries {s.retries}"
        if s.timeout:
            line += f" timeout {quantity(s.timeout)}"
        return [pad + line]
    if isinstance(s, ir.Gripper):
        return [f"{pad}gripper {s.action}"]
    if isinstance(s, ir.Wait):
        return [f"{pad}wait {quantity(s.duration)}"]
    if isinstance(s, ir.Fail):
        return [f"{pad}fail {string(s.message)}"]
    if isinstance(s, ir.Include):
        return [f"{pad}include {string(s.path)}"]
    if isinstance(s, ir.IfFound):
        return _vtl_braced(f"if found {s.name}", s.then, depth, cm, s.orelse)
    if isinstance(s, ir.Try):
        return _vtl_braced("try", s.body, depth, cm, s.orelse)
    if isinstance(s, ir.Retry):
        return _vtl_braced(f"retry {s.times}", s.body, depth, cm)
    if isinstance(s, ir.Repeat):
        return _vtl_braced(f"repeat {s.times}", s.body, depth, cm)
    if isinstance(s, ir.Timeout):
        return _vtl_braced(f"timeout {quantity(s.duration)}", s.body, depth, cm)
    raise TypeError(f"not a statement: {s!r}")


def format_vtl(task: ir.Task, cm: CommentMap) -> str:
    header = f"task {task.name}" + (f" {string(task.description)}" if task.description else "")
    if cm.header is not None:
        header += f"  #{cm.header}"
    lines = [*(f"#{text}" for text in cm.top), header]
    if task.params:
        lines.append("")
        for p in task.params:
            lines += _annotated([f"param {p.name} = {_vtl_value(p.default)}"], cm.of(p), "")
    lines.append("")
    lines += _vtl_block(task.body, 0, cm)
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
    """Return a YAML scalar that reads back as the text `text` (plain when safe)."""
    return text if _reads_as_text(text) else json.dumps(text, ensure_ascii=True)


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


def _yaml_steps(body: list, depth: int, cm: CommentMap) -> list[str]:
    out: list[str] = []
    for statement in body:
        first, *rest = _yaml_step(statement, cm)
        pad = _INDENT * depth
        lines = [f"{pad}- {first}", *(f"{pad}  {line}" for line in rest)]
        out.extend(_annotated(lines, cm.of(statement), pad))
    return out


def _yaml_block(key: str, body: list, cm: CommentMap) -> list[str]:
    if not body:
        return [f"{key}: []"]
    return [f"{key}:", *_yaml_steps(body, 1, cm)]


def _yaml_step(s: ir.IRNode, cm: CommentMap) -> list[str]:
    """Return a step's lines relative to its `- ` (nested lines already indented)."""
    if isinstance(s, ir.Locate):
        lines = [f"locate: {_yaml_value(s.query)}"]
        if s.name:
            lines.append(f"as: {s.name}")
        if s.min_score is not None:
            lines.append(f"min_score: {yaml_number(number(s.min_score))}")
        if s.grounder:
            lines.append(f"using: {yaml_text(s.grounder)}")
        return lines
    if isinstance(s, ir.Reach):
        lines = [f"reach: {s.target.name}"]
        return lines + ([f"offset: {_yaml_value(s.offset)}"] if s.offset else [])
    if isinstance(s, ir.Move):
        return [f"move: {_yaml_value(s.delta)}", f"in: {s.frame}"]
    if isinstance(s, ir.RunSkill):
        lines = [f"run: {s.skill}"]
        if s.version is not None:
            lines.append(f"version: {json.dumps(s.version)}")
        if s.at:
            lines.append(f"at: {s.at.name}")
        if s.retries:
            lines.append(f"retries: {s.retries}")
        if s.timeout:
            lines.append(f"timeout: {quantity(s.timeout)}")
        return lines
    if isinstance(s, ir.Gripper):
        return [f"gripper: {s.action}"]
    if isinstance(s, ir.Wait):
        return [f"wait: {quantity(s.duration)}"]
    if isinstance(s, ir.Fail):
        return [f"fail: {yaml_text(s.message)}"]
    if isinstance(s, ir.Include):
        return [f"include: {yaml_text(s.path)}"]
    if isinstance(s, ir.IfFound):
        lines = [f"if_found: {s.name}", *_yaml_block("steps", s.then, cm)]
        return lines + (_yaml_block("else", s.orelse, cm) if s.orelse else [])
    if isinstance(s, ir.Try):
        lines = _yaml_block("try", s.body, cm)
        return lines + (_yaml_block("else", s.orelse, cm) if s.orelse else [])
    if isinstance(s, ir.Retry):
        return [f"retry: {s.times}", *_yaml_block("steps", s.body, cm)]
    if isinstance(s, ir.Repeat):
        return [f"repeat: {s.times}", *_yaml_block("steps", s.body, cm)]
    if isinstance(s, ir.Timeout):
        return [f"timeout: {quantity(s.duration)}", *_yaml_block("steps", s.body, cm)]
    raise TypeError(f"not a statement: {s!r}")


def format_yaml(task: ir.Task, cm: CommentMap) -> str:
    name = f"task: {task.name}" + (f"  #{cm.header}" if cm.header is not None else "")
    lines = [*(f"#{text}" for text in cm.top), name]
    if task.description:
        lines.append(f"description: {yaml_text(task.description)}")
    if task.params:
        lines.append("params:")
        for p in task.params:
            lines += _annotated([f"  {p.name}: {_yaml_value(p.default)}"], cm.of(p), "  ")
    lines.append("steps:")
    lines += _yaml_steps(task.body, 1, cm)
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


def format_file(path: Path, to: Literal["vtl", "yaml"] | None = None) -> str:
    """Return a task file in canonical form on surface `to` (default: its own), comments kept.

    Includes are not read: they print as `include` statements.
    """
    surface = surface_of(path)
    task = parse_file(path, includes=False)
    source = decode(path.read_bytes(), str(path))
    comments = attach_comments(task, scan_comments(source, surface))
    return format_task(task, to or surface, comments)
