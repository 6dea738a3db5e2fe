"""Skill versions (`MAJOR.MINOR[.PATCH]`) and the constraints a task may put on them.

A constraint is one or more comma-separated clauses, all of which must hold:
`1.2` or `==1.2` (exactly), `!=1.2`, `>=1.0`, `>1.0`, `<=2`, `<2.0`, `^1.2` (same major,
at least 1.2) and `~=1.2` (PEP 440 compatible release: `>=1.2, ==1.*`). In a task file
it follows the skill name after `@`: `run skill plug_insert@>=1.0,<2`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from vitalskills.lang.errors import VersionSyntaxError

Version = tuple[int, int, int]

_VERSION = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_CLAUSE = re.compile(r"\s*(==|!=|>=|<=|>|<|\^|~=)?\s*([0-9][0-9.]*)\s*")
_OPS: dict[str, Callable[[Version, Version], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_version(text: str) -> Version:
    """Parse `MAJOR[.MINOR[.PATCH]]` into a 3-tuple, or raise `VersionSyntaxError`."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise VersionSyntaxError(
            f"invalid version `{text}`", hint="write versions as MAJOR.MINOR or MAJOR.MINOR.PATCH"
        )
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return (major, minor, patch)


def format_version(version: Version) -> str:
    """Return `MAJOR.MINOR.PATCH`."""
    return ".".join(str(part) for part in version)


def _clause(op: str, text: str) -> Callable[[Version], bool]:
    bound = parse_version(text)
    if op == "^":
        upper = (bound[0] + 1, 0, 0)
        return lambda v: bound <= v < upper
    if op == "~=":
        parts = text.count(".") + 1
        if parts < 2:
            raise VersionSyntaxError(
                f"`~={text}` needs at least MAJOR.MINOR", hint=f"write `~={text}.0`"
            )
        upper = (bound[0] + 1, 0, 0) if parts == 2 else (bound[0], bound[1] + 1, 0)
        return lambda v: bound <= v < upper
    compare = _OPS[op]
    return lambda v: compare(v, bound)


def parse_constraint(text: str) -> Callable[[Version], bool]:
    """Return a predicate for a constraint string, or raise `VersionSyntaxError`."""
    if not text.strip():
        raise VersionSyntaxError(
            "empty version constraint after `@`", hint="write e.g. `plug_insert@>=1.0`"
        )
    checks: list[Callable[[Version], bool]] = []
    for clause in text.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise VersionSyntaxError(
                f"invalid version constraint `{text}`",
                hint="write e.g. `>=1.0`, `^1.2`, `~=1.2`, `==1.0.3` or `>=1.0,<2`",
            )
        checks.append(_clause(match.group(1) or "==", match.group(2)))
    return lambda v: all(check(v) for check in checks)
