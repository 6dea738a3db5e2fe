"""What the checks need from a skill library, as protocols, so `lang` never imports `skills`.

`vitalskills.skills.SkillLibrary` and `SkillManifest` satisfy these structurally; callers
pass a library in (`compile_task(..., library=default_library())`), like the runtime's
`SkillResolver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ObservationNeeds(Protocol):
    """The part of a skill's observation spec the sensor checks read."""

    @property
    def tactile_dim(self) -> int | None: ...


class ActionNeeds(Protocol):
    """The part of a skill's action spec the sensor checks read."""

    @property
    def dim(self) -> int: ...


class SkillNeeds(Protocol):
    """What a skill needs from the robot: the manifest fields the checks compare."""

    @property
    def name(self) -> str: ...

    @property
    def sensors(self) -> Sequence[str]: ...

    @property
    def observation(self) -> ObservationNeeds: ...

    @property
    def action(self) -> ActionNeeds: ...

    def check_weights(self) -> None:
        """Raise when a listed weights file is missing or differs from its sha256."""
        ...


class SkillLookup(Protocol):
    """Find a skill by name and optional version constraint."""

    def get(self, name: str, constraint: str | None = None) -> SkillNeeds:
        """Return the newest skill named `name` whose version satisfies `constraint`.

        Raises:
            UnknownSkillError: no skill has that name; the hint names the closest ones.
            SkillVersionError: no version satisfies the constraint.
            VersionSyntaxError: the constraint cannot be read.
        """
        ...
