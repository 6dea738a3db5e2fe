"""The one way to walk the IR: a visitor with one method per statement kind.

Every pass over statements (checks, both formatters, plan labels and the runtime plan,
include resolution, comment placement) subclasses `StatementVisitor`, so a statement
kind added to the IR is added here once, as an abstract `visit_<kind>` method, and
every pass that does not handle it fails as soon as it is instantiated instead of
misbehaving on the new kind later.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar, get_args

from vitalskills.lang import ir

T = TypeVar("T")

#: Statement class -> the name of the visitor method that handles it: `visit_<kind>`.
#: Derived from `ir.Statement`, so the table cannot drift from the IR.
_METHODS: dict[type, str] = {
    cls: f"visit_{cls.model_fields['kind'].default}" for cls in get_args(get_args(ir.Statement)[0])
}


class StatementVisitor(ABC, Generic[T]):
    """Dispatch a statement to the method for its kind and return that method's result.

    Subclasses implement every `visit_<kind>` method; one that misses a kind cannot be
    instantiated (Python names the missing method).
    """

    def visit(self, statement: ir.IRNode) -> T:
        """Return what this visitor makes of `statement`."""
        method = _METHODS.get(type(statement))
        if method is None:
            raise TypeError(f"not a statement: {statement!r}")
        return getattr(self, method)(statement)

    @abstractmethod
    def visit_locate(self, statement: ir.Locate) -> T: ...

    @abstractmethod
    def visit_reach(self, statement: ir.Reach) -> T: ...

    @abstractmethod
    def visit_move(self, statement: ir.Move) -> T: ...

    @abstractmethod
    def visit_run_skill(self, statement: ir.RunSkill) -> T: ...

    @abstractmethod
    def visit_gripper(self, statement: ir.Gripper) -> T: ...

    @abstractmethod
    def visit_wait(self, statement: ir.Wait) -> T: ...

    @abstractmethod
    def visit_fail(self, statement: ir.Fail) -> T: ...

    @abstractmethod
    def visit_if_found(self, statement: ir.IfFound) -> T: ...

    @abstractmethod
    def visit_try(self, statement: ir.Try) -> T: ...

    @abstractmethod
    def visit_retry(self, statement: ir.Retry) -> T: ...

    @abstractmethod
    def visit_timeout(self, statement: ir.Timeout) -> T: ...

    @abstractmethod
    def visit_repeat(self, statement: ir.Repeat) -> T: ...

    @abstractmethod
    def visit_include(self, statement: ir.Include) -> T: ...


class _ChildBlocks(StatementVisitor[list[list[ir.Statement]]]):
    """The nested statement lists of each kind, in source order: the IR's one block table."""

    def _none(self, statement: ir.IRNode) -> list[list[ir.Statement]]:
        return []

    visit_locate = visit_reach = visit_move = visit_run_skill = _none
    visit_gripper = visit_wait = visit_fail = _none

    def visit_if_found(self, statement: ir.IfFound) -> list[list[ir.Statement]]:
        return [statement.then, statement.orelse]

    def visit_try(self, statement: ir.Try) -> list[list[ir.Statement]]:
        return [statement.body, statement.orelse]

    def visit_retry(self, statement: ir.Retry) -> list[list[ir.Statement]]:
        return [statement.body]

    def visit_timeout(self, statement: ir.Timeout) -> list[list[ir.Statement]]:
        return [statement.body]

    def visit_repeat(self, statement: ir.Repeat) -> list[list[ir.Statement]]:
        return [statement.body]

    def visit_include(self, statement: ir.Include) -> list[list[ir.Statement]]:
        return [statement.body]


_CHILD_BLOCKS = _ChildBlocks()


def child_blocks(statement: ir.IRNode) -> list[list[ir.Statement]]:
    """Return the nested statement lists of `statement` (none for a simple statement)."""
    return _CHILD_BLOCKS.visit(statement)


class StatementWalker(StatementVisitor[None]):
    """Visit statements in document order, going into every block (include bodies too).

    Each `visit_<kind>` only walks into the statement's blocks (a simple statement has
    none); override the kinds a pass cares about, and call the base method (or `walk`)
    where it should go on inside.
    """

    def walk(self, body: list[ir.Statement]) -> None:
        """Visit each statement of `body` in order."""
        for statement in body:
            self.visit(statement)

    def walk_blocks(self, statement: ir.IRNode) -> None:
        """Walk every block nested in `statement`, in source order."""
        for block in child_blocks(statement):
            self.walk(block)

    def _simple(self, statement: ir.IRNode) -> None:
        return None  # no blocks: skips the `child_blocks` look-up on the common kinds

    visit_locate = visit_reach = visit_move = visit_run_skill = _simple
    visit_gripper = visit_wait = visit_fail = _simple
    visit_if_found = visit_try = visit_retry = visit_timeout = visit_repeat = walk_blocks
    visit_include = walk_blocks
