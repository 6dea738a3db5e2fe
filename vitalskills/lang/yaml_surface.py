"""The YAML surface: composed YAML nodes (with their marks) to the same IR as `.vtl`.

Plain and quoted scalars differ on purpose: a plain `$target` is a reference and a
plain `30 mm` a quantity, while a quoted `"$target"` or `"30 mm"` is always text. That
keeps `vtl <-> yaml` conversion lossless. Vectors are one-key mappings from the unit to
the three components: `{mm: [0, 0, 40]}`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vitalskills.lang import ir
from vitalskills.lang.errors import EmptyFileError, YamlKeyError, YamlShapeError
from vitalskills.lang.text import default_task_name, unit_of, whole
from vitalskills.lang.yamlnodes import MAX_DEPTH, TAG, compose, node_span, scalar_value

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z_][A-Za-z0-9_]*)")
REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

TOP_KEYS = ("task", "description", "params", "steps")
#: Statement key -> the other keys its step may have.
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "locate": ("as", "min_score", "using"),
    "reach": ("offset",),
    "move": ("in",),
    "run": ("version", "at", "retries", "timeout"),
    "gripper": (),
    "wait": (),
    "fail": (),
    "if_found": ("steps", "else"),
    "try": ("else",),
    "retry": ("steps",),
    "timeout": ("steps",),
    "repeat": ("steps",),
    "include": ("with",),
}


def _close(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


class _Reader:
    """Converts one file's nodes; holds the file name for spans."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.seen: set[int] = set()

    def span(self, node: Node) -> ir.Span:
        return node_span(self.file, node)

    def shape(self, node: Node, message: str, hint: str | None = None) -> YamlShapeError:
        return YamlShapeError(message, location=self.span(node).location(), hint=hint)

    # ------------------------------------------------------------ scalars

    def scalar(self, node: Node, what: str) -> ScalarNode:
        if not isinstance(node, ScalarNode) or node.tag == TAG + "null":
            raise self.shape(node, f"{what} must be a single value")
        return node

    def name(self, node: Node, what: str) -> str:
        value = self.scalar(node, what).value
        if not NAME.fullmatch(value):
            raise self.shape(node, f"{what} must be a name (letters, digits, `_`), got `{value}`")
        return value

    def ref(self, node: Node, what: str) -> ir.Ref:
        value = self.scalar(node, what).value
        if not node.style and REF.fullmatch(value):
            value = value[1:]
        if not NAME.fullmatch(value):
            raise self.shape(node, f"{what} must be a name, got `{value}`")
        return ir.Ref(name=value, span=self.span(node))

    def or_ref(self, node: Node, what: str, build: Callable[[Node, str], Any]) -> Any:
        """A plain `$name` is a param reference; anything else is read by `build`."""
        if isinstance(node, ScalarNode) and not node.style and REF.fullmatch(node.value):
            return self.ref(node, what)
        return build(node, what)

    def text(self, node: Node, what: str) -> ir.Text:
        return ir.Text(value=self.scalar(node, what).value, span=self.span(node))

    def number(self, node: Node, what: str) -> ir.Number:
        scalar = self.scalar(node, what)
        # YAML 1.1 reads `1e-7` (no dot) as text; a plain scalar like that is a number too.
        loose = not scalar.style and NUMBER.fullmatch(scalar.value)
        if not loose and (scalar.style or scalar.tag not in (TAG + "int", TAG + "float")):
            raise self.shape(node, f"{what} must be a number, got `{scalar.value}`")
        try:
            value = float(scalar.value) if loose else float(scalar_value(scalar))
        except (ValueError, OverflowError):
            value = math.inf
        if not math.isfinite(value):
            raise self.shape(node, f"{what} must be a finite number, got `{scalar.value}`")
        return ir.Number(value=value, span=self.span(node))

    def count(self, node: Node, what: str) -> int:
        number = self.number(node, what)
        return whole(number.value, what, number.span)

    def quantity(self, node: Node, what: str) -> ir.Quantity:
        scalar = self.scalar(node, what)
        match = QUANTITY.fullmatch(scalar.value.strip()) if not scalar.style else None
        if match is None:
            quoted = scalar.style and QUANTITY.fullmatch(scalar.value.strip())
            raise self.shape(
                node,
                f"{what} must be a number with a unit, got `{scalar.value}`",
                hint=f"drop the quotes: a quoted value is text; write `{scalar.value.strip()}`"
                if quoted
                else "write e.g. `500 ms` or `30 s`",
            )
        span = self.span(node)
        kind, factor = unit_of(match.group(2), span)
        value = float(match.group(1)) * factor
        if not math.isfinite(value):
            raise self.shape(node, f"{what} must be a finite number, got `{scalar.value}`")
        return ir.Quantity(value=value, unit=match.group(2), dimension=kind, span=span)

    def vector(self, node: Node, what: str) -> ir.Vector:
        hint = "write a vector as `{mm: [x, y, z]}`"
        if not isinstance(node, MappingNode) or len(node.value) != 1:
            raise self.shape(node, f"{what} must be a vector", hint=hint)
        unit_node, items = node.value[0]
        unit = self.name(unit_node, "a vector's unit")
        if not isinstance(items, SequenceNode) or len(items.value) != 3:
            raise self.shape(items, f"{what} needs 3 components", hint=hint)
        kind, factor = unit_of(unit, self.span(unit_node))
        values = [self.number(item, "a vector component").value * factor for item in items.value]
        return ir.Vector(values=values, unit=unit, dimension=kind, span=self.span(node))

    def value(self, node: Node, what: str) -> ir.Text | ir.Number | ir.Quantity | ir.Vector:
        if isinstance(node, MappingNode):
            return self.vector(node, what)
        scalar = self.scalar(node, what)
        if scalar.style or scalar.tag == TAG + "str":
            if not scalar.style and QUANTITY.fullmatch(scalar.value.strip()):
                return self.quantity(node, what)
            if not scalar.style and NUMBER.fullmatch(scalar.value):
                return self.number(node, what)
            return self.text(node, what)
        if scalar.tag in (TAG + "int", TAG + "float"):
            return self.number(node, what)
        raise self.shape(node, f"{what} must be text, a number, a quantity or a vector")

    # ------------------------------------------------------------ structure

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.shape(node, f"{what} must be a mapping of keys to values")
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise self.shape(key, "keys must be plain names")
            if key.value in out:
                raise YamlKeyError(
                    f"key `{key.value}` appears twice",
                    location=self.span(key).location(),
                    hint="keep one of them",
                )
            out[key.value] = (key, value)
        return out

    def unknown_key(self, key: Node, allowed: tuple[str, ...], where: str) -> YamlKeyError:
        hint = _close(key.value, allowed) or (
            f"allowed here: {', '.join(f'`{k}`' for k in allowed)}" if allowed else None
        )
        return YamlKeyError(
            f"unknown key `{key.value}` {where}", location=self.span(key).location(), hint=hint
        )

    def steps(self, node: Node, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise self.shape(node, "steps are nested too deeply")
        if isinstance(node, ScalarNode) and node.tag == TAG + "null":
            return []
        if not isinstance(node, SequenceNode):
            raise self.shape(node, "steps must be a list", hint="start each step with `- `")
        return [self.step(item, depth) for item in node.value]

    def step(self, node: Node, depth: int) -> Any:
        if id(node) in self.seen:
            raise self.shape(node, "YAML aliases are not supported for steps")
        self.seen.add(id(node))
        if isinstance(node, ScalarNode) and NAME.fullmatch(node.value):
            hint = f"write `- {node.value}: ...`" if node.value in STEP_KEYS else None
            hint = hint or _close(node.value, tuple(STEP_KEYS))
            raise YamlKeyError(
                f"unknown statement `{node.value}`", location=self.span(node).location(), hint=hint
            )
        keys = self.mapping(node, "a step")
        if not keys:
            raise YamlKeyError(
                "empty step",
                location=self.span(node).location(),
                hint="write a statement key, e.g. `- wait: 1 s`",
            )
        heads = [k for k in keys if k in STEP_KEYS]
        if "run" in heads:
            heads = ["run"]
        if not heads:
            key = next(iter(keys.values()))[0] if keys else node
            word = getattr(key, "value", "")
            raise YamlKeyError(
                f"unknown statement `{word}`",
                location=self.span(key).location(),
                hint=_close(str(word), tuple(STEP_KEYS)),
            )
        if len(heads) > 1:
            raise YamlKeyError(
                f"a step holds one statement, found `{heads[0]}` and `{heads[1]}`",
                location=self.span(keys[heads[1]][0]).location(),
                hint="split them into two steps",
            )
        head = heads[0]
        allowed = STEP_KEYS[head]
        for key, (key_node, _) in keys.items():
            if key != head and key not in allowed:
                raise self.unknown_key(key_node, allowed, f"for `{head}`")
        values = {key: value for key, (_, value) in keys.items()}
        build: Callable[[dict[str, Node], ir.Span, int], Any] = getattr(self, f"_{head}")
        return build(values, self.span(node), depth)

    # ------------------------------------------------------------ statements

    def _locate(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Locate:
        node = v["locate"]
        scalar = self.scalar(node, "`locate`")
        query: ir.Text | ir.Ref
        if not scalar.style and REF.fullmatch(scalar.value):
            query = self.ref(node, "`locate`")
        else:
            query = self.text(node, "`locate`")
        fields: dict[str, Any] = {}
        spans: dict[str, ir.Span] = {}
        if "as" in v:
            fields["name"] = self.name(v["as"], "`as`")
            spans["name"] = self.span(v["as"])
        if "min_score" in v:
            score = self.or_ref(v["min_score"], "`min_score`", self.number)
            fields["min_score"] = score.value if isinstance(score, ir.Number) else score
            spans["min_score"] = self.span(v["min_score"])
        if "using" in v:
            fields["grounder"] = self.text(v["using"], "`using`").value
            spans["grounder"] = self.span(v["using"])
        return ir.Locate(query=query, span=span, field_spans=spans, **fields)

    def _reach(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Reach:
        offset = self.or_ref(v["offset"], "`offset`", self.vector) if "offset" in v else None
        return ir.Reach(target=self.ref(v["reach"], "`reach`"), offset=offset, span=span)

    def _move(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Move:
        delta = self.or_ref(v["move"], "`move`", self.vector)
        if "in" not in v:
            return ir.Move(delta=delta, span=span)
        frame = self.name(v["in"], "`in`")
        if frame not in ("base", "ee"):
            raise self.shape(v["in"], f"unknown frame `{frame}`", hint="use `base` or `ee`")
        return ir.Move(
            delta=delta, frame=frame, span=span, field_spans={"frame": self.span(v["in"])}
        )

    def _run(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.RunSkill:
        node = v["run"]
        raw = self.scalar(node, "`run`").value
        skill, _, inline = raw.partition("@")
        if not NAME.fullmatch(skill):
            raise self.shape(node, f"`run` must name a skill, got `{raw}`")
        spans = {"skill": self.span(node)}
        fields: dict[str, Any] = {}
        if "@" in raw:
            fields["version"] = inline
            spans["version"] = self.span(node)
        if "version" in v:
            if "@" in raw:
                raise self.shape(v["version"], "version given twice: after `@` and in `version`")
            fields["version"] = self.scalar(v["version"], "`version`").value
            spans["version"] = self.span(v["version"])
        if "at" in v:
            fields["at"] = self.ref(v["at"], "`at`")
        if "retries" in v:
            fields["retries"] = self.or_ref(v["retries"], "`retries`", self.count)
            spans["retries"] = self.span(v["retries"])
        if "timeout" in v:
            fields["timeout"] = self.or_ref(v["timeout"], "`timeout`", self.quantity)
        return ir.RunSkill(skill=skill, span=span, field_spans=spans, **fields)

    def _gripper(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Gripper:
        action = self.name(v["gripper"], "`gripper`")
        if action not in ("open", "close"):
            raise self.shape(
                v["gripper"], f"unknown gripper action `{action}`", hint="use `open` or `close`"
            )
        return ir.Gripper(action=action, span=span)

    def _wait(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Wait:
        return ir.Wait(duration=self.or_ref(v["wait"], "`wait`", self.quantity), span=span)

    def _fail(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Fail:
        message = self.or_ref(v["fail"], "`fail`", self.text)
        text = message.value if isinstance(message, ir.Text) else message
        return ir.Fail(message=text, span=span)

    def _include(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Include:
        path = self.text(v["include"], "`include`")
        args = []
        if "with" in v:
            for name, (key, value) in self.mapping(v["with"], "`with`").items():
                if not NAME.fullmatch(name):
                    raise self.shape(key, f"argument names are names, got `{name}`")
                args.append(
                    ir.Argument(
                        name=name,
                        value=self.or_ref(value, f"argument `{name}`", self.value),
                        span=self.span(key),
                        field_spans={"name": self.span(key)},
                    )
                )
        return ir.Include(path=path.value, args=args, span=span, field_spans={"path": path.span})

    def _body(self, v: dict[str, Node], key: str, depth: int) -> list[Any]:
        return self.steps(v[key], depth + 1) if key in v else []

    def _if_found(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.IfFound:
        name = self.name(v["if_found"], "`if_found`")
        return ir.IfFound(
            name=name,
            then=self._body(v, "steps", depth),
            orelse=self._body(v, "else", depth),
            span=span,
            field_spans={"name": self.span(v["if_found"])},
        )

    def _try(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Try:
        return ir.Try(
            body=self._body(v, "try", depth), orelse=self._body(v, "else", depth), span=span
        )

    def _retry(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Retry:
        times = self.or_ref(v["retry"], "`retry`", self.count)
        spans = {"times": self.span(v["retry"])}
        return ir.Retry(
            times=times, body=self._body(v, "steps", depth), span=span, field_spans=spans
        )

    def _repeat(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Repeat:
        times = self.or_ref(v["repeat"], "`repeat`", self.count)
        spans = {"times": self.span(v["repeat"])}
        return ir.Repeat(
            times=times, body=self._body(v, "steps", depth), span=span, field_spans=spans
        )

    def _timeout(self, v: dict[str, Node], span: ir.Span, depth: int) -> ir.Timeout:
        duration = self.or_ref(v["timeout"], "`timeout`", self.quantity)
        return ir.Timeout(duration=duration, body=self._body(v, "steps", depth), span=span)

    # ------------------------------------------------------------ the file

    def task(self, node: Node | None) -> ir.Task:
        if node is None:
            raise EmptyFileError(
                "file is empty",
                location=ir.Span(
                    file=self.file, line=1, column=1, end_line=1, end_column=2
                ).location(),
                hint="add `steps:` with at least one step",
            )
        keys = self.mapping(node, "a task file")
        for key, (key_node, _) in keys.items():
            if key not in TOP_KEYS:
                raise self.unknown_key(key_node, TOP_KEYS, "at the top level of a task file")
        fields: dict[str, Any] = {"name": default_task_name(self.file)}
        spans: dict[str, ir.Span] = {}
        if "task" in keys:
            fields["name"] = self.name(keys["task"][1], "`task`")
            spans["name"] = self.span(keys["task"][1])
        if "description" in keys:
            fields["description"] = self.text(keys["description"][1], "`description`").value
        params: list[ir.Param] = []
        if "params" in keys and not (
            isinstance(keys["params"][1], ScalarNode) and keys["params"][1].tag == TAG + "null"
        ):
            for pname, (key_node, value_node) in self.mapping(
                keys["params"][1], "`params`"
            ).items():
                if not NAME.fullmatch(pname):
                    raise self.shape(key_node, f"param names are names, got `{pname}`")
                default = self.value(value_node, f"param `{pname}`")
                params.append(
                    ir.Param(
                        name=pname,
                        default=default,
                        span=self.span(key_node),
                        field_spans={"name": self.span(key_node)},
                    )
                )
        body = self.steps(keys["steps"][1], 0) if "steps" in keys else []
        return ir.Task(params=params, body=body, span=self.span(node), field_spans=spans, **fields)


def parse_yaml(source: str, file: str) -> ir.Task:
    """Parse a YAML task file into a Task (includes unresolved), or raise a located error."""
    return _Reader(file).task(compose(source, file))
