"""Which params a statement sees, and what a param reference stands for.

A task's params are in scope everywhere in it. An included file's params are in scope
only inside that file, set by the include's arguments (`include "x.vtl" with a = 1`) or
left at their defaults; they hide a task param of the same name there. The checker and
the planner walk includes the same way, so both use this one lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from vitalskills.lang import ir


@dataclass(frozen=True)
class Bound:
    """A param's value in a scope, and its declaration (for messages that point at it)."""

    value: ir.ParamValue
    param: ir.Param


class Scope(Mapping[str, Bound]):
    """The params in scope, by name."""

    def __init__(self, bound: Mapping[str, Bound]) -> None:
        self._bound = dict(bound)

    @classmethod
    def of_task(cls, task: ir.Task) -> Scope:
        """The top-level scope: the task's params (overrides already applied)."""
        return cls({param.name: Bound(param.default, param) for param in task.params})

    def __getitem__(self, name: str) -> Bound:
        return self._bound[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._bound)

    def __len__(self) -> int:
        return len(self._bound)

    def enter(self, include: ir.Include) -> Scope:
        """The scope inside `include`: this one, with the included file's params on top,
        each set by its argument (resolved here) or left at its default."""
        args = {arg.name: arg.value for arg in include.args}
        inner = dict(self._bound)
        for param in include.params:
            value = self.resolve(args.get(param.name, param.default))
            # An argument of the wrong kind is the include's error; inside, the default holds.
            fits = value is not None and same_kind(value, param.default)
            inner[param.name] = Bound(value if fits else param.default, param)
        return Scope(inner)

    def resolve(self, value: ir.ParamValue | ir.Ref) -> ir.ParamValue | None:
        """A value as written, or what the param it names holds (None: no such param)."""
        if isinstance(value, ir.Ref):
            bound = self._bound.get(value.name)
            return bound.value if bound else None
        return value


def kind_of(value: ir.IRNode) -> str:
    """Describe a value's kind: `text`, `number`, `time quantity`, `length vector`."""
    if isinstance(value, ir.Quantity | ir.Vector):
        return f"{value.dimension} {value.kind}"
    return str(getattr(value, "kind", "value"))


def same_kind(value: ir.ParamValue, like: ir.ParamValue) -> bool:
    """Whether `value` fits where `like` does: the same node type and dimension."""
    if type(value) is not type(like):
        return False
    if isinstance(value, ir.Quantity | ir.Vector):
        return value.dimension == like.dimension  # type: ignore[union-attr]
    return True
