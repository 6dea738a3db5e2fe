"""The skill library: where skills are found, and picking one by name and version.

Search order (earlier wins for the same name and version): `--skills` directories,
the project's shipped `skills/`, the per-user directory (`$VITALSKILLS_HOME/skills`,
else `$XDG_DATA_HOME/vitalskills/skills`, else `~/.local/share/vitalskills/skills`),
then directories that installed packages declare in the `vitalskills.skills` entry
point group. A directory holds one folder per skill, or is itself a skill folder.

A folder whose `skill.yaml` is invalid does not make the whole library unusable: it is
skipped with one warning (logged when the library is first scanned), and only a task
that asks for that skill fails, with the manifest's own located error.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from vitalskills.errors import UsageError
from vitalskills.lang.errors import SkillVersionError, UnknownSkillError
from vitalskills.skills.manifest import MANIFEST_FILE, ManifestError, SkillManifest, load_manifest
from vitalskills.skills.versions import parse_constraint, parse_version

ENTRY_POINT_GROUP = "vitalskills.skills"
_PACKAGE = Path(__file__).resolve().parent.parent
log = logging.getLogger("vitalskills.skills")


class SkillLibraryError(UsageError):
    """A skill directory given on the command line, or by an entry point, is unusable."""

    code = "E303"


class BrokenSkillError(UnknownSkillError):
    """The skill asked for is in the library, but its `skill.yaml` is invalid."""

    code = "E304"


def project_skills_dir() -> Path:
    """Return the shipped library: `vitalskills/_skills` in a wheel, `<repo>/skills` here."""
    shipped = _PACKAGE / "_skills"
    return shipped if shipped.is_dir() else _PACKAGE.parent / "skills"


def user_skills_dir() -> Path:
    """Return the per-user skill directory (it may not exist)."""
    home = os.environ.get("VITALSKILLS_HOME")
    if home:
        return Path(home).expanduser() / "skills"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "vitalskills" / "skills"


def entry_point_dirs() -> list[Path]:
    """Return directories declared by installed packages in the `vitalskills.skills` group.

    An entry point names a directory (str or Path) or a callable returning one or a list.
    """
    found: list[Path] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry.load()
            value = target() if callable(target) else target
        except Exception as error:  # a broken third-party pack must not look like our bug
            raise SkillLibraryError(
                f"skill pack entry point `{entry.name}` ({entry.value}) failed to load: {error}",
                hint="reinstall or uninstall the package that provides it",
            ) from None
        values = value if isinstance(value, list | tuple) else [value]
        found.extend(Path(item) for item in values)
    return found


def _skill_folders(directory: Path) -> Iterable[Path]:
    if (directory / MANIFEST_FILE).is_file():
        yield directory
        return
    for child in sorted(directory.iterdir()):
        if (child / MANIFEST_FILE).is_file():
            yield child


class SkillLibrary:
    """Skills found in an ordered list of directories.

    Args:
        extra_dirs: directories to search, in order; each must exist.
        default_dirs: further directories searched after them, skipped when missing.
    """

    def __init__(
        self, extra_dirs: Sequence[Path] = (), *, default_dirs: Sequence[Path] = ()
    ) -> None:
        for directory in extra_dirs:
            if not Path(directory).is_dir():
                raise SkillLibraryError(
                    f"skill directory `{directory}` does not exist",
                    hint="pass an existing directory to `--skills`",
                )
        self.dirs = [Path(d) for d in extra_dirs] + [
            Path(d) for d in default_dirs if Path(d).is_dir()
        ]
        self._skills: list[SkillManifest] | None = None
        self._broken: dict[Path, ManifestError] = {}

    def _scan(self) -> list[SkillManifest]:
        if self._skills is None:
            found: dict[tuple[str, str], SkillManifest] = {}
            for directory in self.dirs:
                for folder in _skill_folders(directory):
                    try:
                        manifest = load_manifest(folder)
                    except ManifestError as error:
                        self._broken[folder] = error
                        log.warning(
                            "warning: skipped the skill in %s: %s (tasks that use it fail)",
                            folder, error,
                        )  # fmt: skip
                        continue
                    key = (manifest.name, str(parse_version(manifest.version)))
                    found.setdefault(key, manifest)
            self._skills = sorted(found.values(), key=lambda m: (m.name, parse_version(m.version)))
        return self._skills

    @property
    def broken(self) -> dict[Path, ManifestError]:
        """Skill folders skipped because their `skill.yaml` is invalid, with the error."""
        self._scan()
        return dict(self._broken)

    def list(self) -> list[SkillManifest]:
        """Return every skill, one per name and version, sorted by name then version."""
        return list(self._scan())

    def names(self) -> list[str]:
        """Return the distinct skill names."""
        return sorted({manifest.name for manifest in self._scan()})

    def get(self, name: str, constraint: str | None = None) -> SkillManifest:
        """Return the newest skill named `name` whose version satisfies `constraint`.

        Raises:
            UnknownSkillError: no skill has that name (with a did-you-mean hint).
            SkillVersionError: no installed version satisfies the constraint.
            VersionSyntaxError: the constraint cannot be read.
        """
        candidates = [m for m in self._scan() if m.name == name]
        if not candidates:
            for folder, error in self._broken.items():
                if folder.name == name or folder.name.startswith(f"{name}-"):
                    raise BrokenSkillError(
                        f"skill `{name}` cannot be used: its manifest is invalid: {error}",
                        hint=f"fix {folder / MANIFEST_FILE} (docs/skills.md)",
                    )
            raise UnknownSkillError(f"unknown skill `{name}`", hint=self._hint(name))
        if constraint is None:
            return candidates[-1]
        accepts: Callable[[tuple[int, int, int]], bool] = parse_constraint(constraint)
        matching = [m for m in candidates if accepts(parse_version(m.version))]
        if not matching:
            installed = ", ".join(m.version for m in candidates)
            raise SkillVersionError(
                f"no installed version of skill `{name}` satisfies `{constraint}`",
                hint=f"installed: {installed}; relax the constraint or install a matching version",
            )
        return matching[-1]

    def _hint(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            return f"did you mean `{close[0]}`?"
        if names:
            return f"installed skills: {', '.join(names)}; add a library with `--skills DIR`"
        return "no skills are installed; add a library with `--skills DIR`"


def default_library(extra_dirs: Sequence[Path] = ()) -> SkillLibrary:
    """Return the library searching `extra_dirs`, the project, the user dir, entry points."""
    defaults = [project_skills_dir(), user_skills_dir(), *entry_point_dirs()]
    return SkillLibrary(extra_dirs, default_dirs=defaults)


__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenSkillError",
    "SkillLibrary",
    "SkillLibraryError",
    "default_library",
    "entry_point_dirs",
    "project_skills_dir",
    "user_skills_dir",
]
