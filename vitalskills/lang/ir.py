"""The one intermediate representation that both surfaces (`.vtl` and YAML) compile to.

Class names equal the grammar's rule aliases, so the lark transformer has one small
method per rule. Quantities are stored in SI (metres, seconds, radians); the unit the
author wrote is kept only so that `fmt` can print the file back the way it was written.
Every node carries its source span; spans are left out of `compile --json` so that a
file and its conversion to the other surface give the same JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vitalskills.errors import Location

UnitKind = Literal["length", "time", "angle"]

#: Unit name -> (kind, factor to SI).
UNITS: dict[str, tuple[UnitKind, float]] = {
    "mm": ("length", 1e-3),
    "cm": ("length", 1e-2),
    "m": ("length", 1.0),
    "ms": ("time", 1e-3),
    "s": ("time", 1.0),
    "deg": ("angle", 3.141592653589793 / 180.0),
    "rad": ("angle", 1.0),
}


class Span(BaseModel):
    """Where a node came from: file, 1-based line and column, and the end."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def location(self) -> Location:
        return Location(self.file, self.line, self.column, self.end_line, self.end_column)


class IRNode(BaseModel):
    """Base of every IR node: an optional source span, excluded from JSON output."""

    model_config = ConfigDict(extra="forbid")

    span: Span | None = Field(default=None, exclude=True, repr=False)
    #: Spans of individual fields (e.g. a skill's name), so diagnostics can point at the
    #: smallest piece of source that shows the problem. Excluded from JSON like `span`.
    field_spans: dict[str, Span] = Field(default_factory=dict, exclude=True, repr=False)


# ---------------------------------------------------------------- values


class Quantity(IRNode):
    """A number with a unit; `value` is in SI, `unit` is what the author wrote."""

    kind: Literal["quantity"] = "quantity"
    value: float
    unit: str
    dimension: UnitKind


class Vector(IRNode):
    """A 3-vector with one unit for all components; `values` are in SI."""

    kind: Literal["vector"] = "vector"
    values: list[float]
    unit: str
    dimension: UnitKind


class Ref(IRNode):
    """A reference to a param or to a name bound by `locate ... as NAME`."""

    kind: Literal["ref"] = "ref"
    name: str


class Text(IRNode):
    """A string literal."""

    kind: Literal["text"] = "text"
    value: str


class Number(IRNode):
    """A plain number without a unit (counts, scores)."""

    kind: Literal["number"] = "number"
    value: float


Value = Annotated[Text | Number | Quantity | Vector | Ref, Field(discriminator="kind")]

#: What a param holds: any value but a reference.
ParamValue = Text | Number | Quantity | Vector


# ---------------------------------------------------------------- statements


class Locate(IRNode):
    """Ground a text query (or a param holding one) to a 3D target in the base frame."""

    kind: Literal["locate"] = "locate"
    query: Text | Ref
    name: str | None = None
    min_score: float | Ref | None = None
    grounder: str | None = None


class Reach(IRNode):
    """Move the end effector to a located target plus an optional offset (base frame)."""

    kind: Literal["reach"] = "reach"
    target: Ref
    offset: Vector | Ref | None = None


class Move(IRNode):
    """Move the end effector by a relative displacement in the named frame."""

    kind: Literal["move"] = "move"
    delta: Vector | Ref
    frame: Literal["base", "ee"] = "base"


class RunSkill(IRNode):
    """Reach the target at the skill's approach offset, then run its local policy."""

    kind: Literal["run_skill"] = "run_skill"
    skill: str
    version: str | None = None
    at: Ref | None = None
    retries: int | Ref = 0
    timeout: Quantity | Ref | None = None


class Gripper(IRNode):
    """Open or close the gripper."""

    kind: Literal["gripper"] = "gripper"
    action: Literal["open", "close"]


class Wait(IRNode):
    """Do nothing for a duration."""

    kind: Literal["wait"] = "wait"
    duration: Quantity | Ref


class Fail(IRNode):
    """Fail the enclosing block with a message."""

    kind: Literal["fail"] = "fail"
    message: str | Ref


class IfFound(IRNode):
    """Branch on whether a located name was found."""

    kind: Literal["if_found"] = "if_found"
    name: str
    then: list[Statement]
    orelse: list[Statement] = Field(default_factory=list)


class Try(IRNode):
    """Run `body`; if it fails, run `orelse` instead (whose outcome is the result)."""

    kind: Literal["try"] = "try"
    body: list[Statement]
    orelse: list[Statement] = Field(default_factory=list)


class Retry(IRNode):
    """Run `body` until it succeeds, at most `times` attempts."""

    kind: Literal["retry"] = "retry"
    times: int | Ref
    body: list[Statement]


class Timeout(IRNode):
    """Run `body`; halt it and fail if it takes longer than `duration`."""

    kind: Literal["timeout"] = "timeout"
    duration: Quantity | Ref
    body: list[Statement]


class Repeat(IRNode):
    """Run `body` `times` times in a row; fail at the first failure."""

    kind: Literal["repeat"] = "repeat"
    times: int | Ref
    body: list[Statement]


class Param(IRNode):
    """A task parameter with a default; `--set name=value` overrides it."""

    name: str
    default: ParamValue


class Argument(IRNode):
    """`name = value` in `include "file" with ...`: sets the included file's param."""

    name: str
    value: ParamValue | Ref


class Include(IRNode):
    """Run another task file's statements in place, its params set by `args`.

    `params` and `body` are filled by the loader from the included file. Its params are
    visible only inside it; located names stay visible after it, as if written in place.
    """

    kind: Literal["include"] = "include"
    path: str
    args: list[Argument] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    body: list[Statement] = Field(default_factory=list)


Statement = Annotated[
    Locate
    | Reach
    | Move
    | RunSkill
    | Gripper
    | Wait
    | Fail
    | IfFound
    | Try
    | Retry
    | Timeout
    | Repeat
    | Include,
    Field(discriminator="kind"),
]


class Task(IRNode):
    """A whole task file: name, description, params and the statement list."""

    ir_version: Literal[1] = 1
    name: str
    description: str = ""
    params: list[Param] = Field(default_factory=list)
    body: list[Statement] = Field(default_factory=list)


for _model in (IfFound, Try, Retry, Timeout, Repeat, Include, Task):
    _model.model_rebuild()
