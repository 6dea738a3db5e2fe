"""YAML with source positions: compose to nodes (which keep their marks), never construct.

Both YAML task files and `skill.yaml` manifests are read through here, so every error
can point at the line and column of the offending node. Composing (rather than
loading) also means no YAML tag can ever build a Python object.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vitalskills.lang import ir
from vitalskills.lang.errors import YamlShapeError, YamlSyntaxError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TAG = "tag:yaml.org,2002:"
#: Deepest nesting accepted; deeper input is an error rather than a RecursionError.
MAX_DEPTH = 100


def node_span(file: str, node: Node) -> ir.Span:
    """Return the span of a YAML node (marks are 0-based; spans are 1-based)."""
    start, end = node.start_mark, node.end_mark
    return ir.Span(
        file=file,
        line=start.line + 1,
        column=start.column + 1,
        end_line=end.line + 1,
        end_column=end.column + 1,
    )


def compose(source: str, file: str) -> Node | None:
    """Compose one YAML document into nodes, or raise a located `YamlSyntaxError`."""
    try:
        return yaml.compose(source, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        lines = source.splitlines()
        at = lines[line - 1][column - 1 : column] if line <= len(lines) else ""
        raise YamlSyntaxError(
            f"invalid YAML: {problem}",
            location=ir.Span(
                file=file, line=line, column=column, end_line=line, end_column=column + 1
            ).location(),
            hint="YAML does not allow tabs for indentation: indent with spaces"
            if at == "\t"
            else None,
        ) from None
    except RecursionError:
        raise YamlSyntaxError(
            "YAML is nested too deeply",
            location=ir.Span(file=file, line=1, column=1, end_line=1, end_column=2).location(),
            hint="split the task into included files",
        ) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(
            f"invalid YAML: {error}",
            location=ir.Span(file=file, line=1, column=1, end_line=1, end_column=2).location(),
        ) from None


def scalar_value(node: ScalarNode) -> Any:
    """Return a scalar's Python value by its resolved tag (str, int, float, bool, None)."""
    tag = node.tag.removeprefix(TAG)
    text = node.value
    if tag == "int":
        return int(yaml.safe_load(text))
    if tag == "float":
        return float(yaml.safe_load(text))
    if tag == "bool":
        return bool(yaml.safe_load(text))
    if tag == "null":
        return None
    return text


def to_plain(file: str, node: Node) -> tuple[Any, dict[tuple[Any, ...], ir.Span]]:
    """Convert nodes to plain data plus the span of every path (`("a", 0, "b")`).

    Duplicate keys, anchors reused as aliases and non-scalar keys are located errors.
    """
    spans: dict[tuple[Any, ...], ir.Span] = {}
    seen: set[int] = set()

    def walk(current: Node, path: tuple[Any, ...]) -> Any:
        if id(current) in seen:
            raise YamlShapeError(
                "YAML aliases are not supported", location=node_span(file, current).location()
            )
        if len(path) > MAX_DEPTH:
            raise YamlShapeError(
                "nesting is too deep", location=node_span(file, current).location()
            )
        seen.add(id(current))
        spans[path] = node_span(file, current)
        if isinstance(current, ScalarNode):
            return scalar_value(current)
        if isinstance(current, SequenceNode):
            return [walk(item, (*path, i)) for i, item in enumerate(current.value)]
        if isinstance(current, MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, ScalarNode):
                    raise YamlShapeError(
                        "mapping keys must be plain names",
                        location=node_span(file, key_node).location(),
                    )
                key = key_node.value
                if key in out:
                    raise YamlShapeError(
                        f"key `{key}` appears twice",
                        location=node_span(file, key_node).location(),
                        hint="keep one of them",
                    )
                spans[(*path, key, "<key>")] = node_span(file, key_node)
                out[key] = walk(value_node, (*path, key))
            return out
        raise YamlShapeError("unsupported YAML node", location=node_span(file, current).location())

    return walk(node, ()), spans
