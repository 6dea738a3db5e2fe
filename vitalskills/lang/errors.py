"""The task language's error classes, one per diagnostic family, each with a stable code.

The codes are documented in docs/language.md ("Diagnostics"); a snapshot test pins the
rendered text of each. Classes keep the base constructor so that an error raised
without a location (e.g. by the skill library) can be re-raised at a statement's span
with `at()`.
"""

from __future__ import annotations

from typing import Self

from vitalskills.errors import Location, UsageError, VitalskillsError


class LangError(VitalskillsError):
    """Base of every task-language diagnostic."""

    code = "E100"

    def at(self, location: Location | None) -> Self:
        """Return a copy of this error placed at `location`."""
        return type(self)(
            self.message, location=location, hint=self.hint, code=self.code, notes=self.notes
        )


class TaskSyntaxError(LangError):
    """The text does not follow the grammar (E100-E109, see SYNTAX_CODES)."""

    code = "E100"


class EmptyFileError(LangError):
    """The file holds no statements."""

    code = "E110"


class EncodingError(LangError):
    """The file is binary or not UTF-8."""

    code = "E111"


class YamlSyntaxError(LangError):
    """The YAML surface is not well-formed YAML."""

    code = "E112"


class YamlKeyError(LangError):
    """A YAML key that means nothing in this place."""

    code = "E113"


class YamlShapeError(LangError):
    """A YAML value of the wrong shape or type (a list where a name belongs, ...)."""

    code = "E114"


class HeaderError(LangError):
    """A misplaced or repeated `task` header, or a repeated param."""

    code = "E115"


class IncludeNotFoundError(LangError):
    """An `include` names a file that does not exist."""

    code = "E120"


class IncludeCycleError(LangError):
    """An `include` chain leads back to a file already being included."""

    code = "E121"


class IncludeArgumentError(LangError):
    """An include's argument names no param of the included file, or has the wrong kind."""

    code = "E122"


class UnknownSkillError(LangError):
    """No installed skill has this name."""

    code = "E200"


class SkillVersionError(LangError):
    """Installed versions of the skill do not satisfy the constraint."""

    code = "E201"


class VersionSyntaxError(LangError):
    """A version or version constraint that cannot be read."""

    code = "E202"


class UndefinedReferenceError(LangError):
    """A name that no param and no `locate ... as` defines."""

    code = "E210"


class UsedBeforeLocateError(LangError):
    """A located name used before any `locate` defines it."""

    code = "E211"


class ReferenceKindError(LangError):
    """A param used where a located name belongs, or the other way round."""

    code = "E212"


class NoTargetError(LangError):
    """A `run skill` without `at` before any `locate`: there is no target to reach."""

    code = "E213"


class UnitError(LangError):
    """An unknown unit, or a unit of the wrong kind (`wait 30 mm`)."""

    code = "E220"


class ValueRangeError(LangError):
    """A value outside its allowed range (negative retries, min_score above 1, ...)."""

    code = "E221"


class MissingSensorError(LangError):
    """A skill needs a sensor or capability the chosen robot lacks."""

    code = "E230"


class OverrideError(UsageError):
    """A `--set name=value` that names no param or has a value of the wrong kind."""

    code = "E240"


class TaskFileNotFoundError(UsageError):
    """The task file given on the command line does not exist."""

    code = "E241"


class UnusedParamWarning(LangError):
    """A param is declared and never used: `--set` on it would change nothing."""

    code = "W100"
    severity = "warning"


class CheckFailed(VitalskillsError):
    """One or more diagnostics for a task; `render()` shows each of them once.

    Args:
        errors: the diagnostics, in source order.
    """

    code = "E000"

    def __init__(self, errors: list[VitalskillsError]) -> None:
        unique: list[VitalskillsError] = []
        seen: set[tuple[str, str, str]] = set()
        for error in errors:
            key = (error.code, str(error.location), error.message)
            if key not in seen:
                seen.add(key)
                unique.append(error)
        self.errors = unique
        first = unique[0] if unique else None
        count = len(unique)
        summary = f"{count} error{'s' if count != 1 else ''}"
        super().__init__(
            first.message if count == 1 and first else summary,
            location=first.location if first else None,
            code=first.code if count == 1 and first else None,
        )

    def render(self) -> str:
        """Render every diagnostic, separated by blank lines, then a count if several."""
        parts = [error.render() for error in self.errors]
        if len(self.errors) > 1:
            parts.append(f"{len(self.errors)} errors")
        return "\n\n".join(parts)
