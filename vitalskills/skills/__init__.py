"""Skill manifests and the skill library (search paths, entry points, versions)."""

from vitalskills.lang.errors import SkillVersionError, UnknownSkillError, VersionSyntaxError
from vitalskills.skills.hashcache import sha256_of
from vitalskills.skills.library import (
    ENTRY_POINT_GROUP,
    BrokenSkillError,
    SkillLibrary,
    SkillLibraryError,
    default_library,
    project_skills_dir,
    user_skills_dir,
)
from vitalskills.skills.manifest import (
    ActionSpec,
    CameraInput,
    ManifestError,
    ObservationSpec,
    SkillManifest,
    SkillNotTrainedError,
    SkillWeightsError,
    WeightsFile,
    load_manifest,
)
from vitalskills.skills.versions import parse_constraint, parse_version

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionSpec",
    "BrokenSkillError",
    "CameraInput",
    "ManifestError",
    "ObservationSpec",
    "SkillLibrary",
    "SkillLibraryError",
    "SkillManifest",
    "SkillNotTrainedError",
    "SkillVersionError",
    "SkillWeightsError",
    "UnknownSkillError",
    "VersionSyntaxError",
    "WeightsFile",
    "default_library",
    "load_manifest",
    "parse_constraint",
    "parse_version",
    "project_skills_dir",
    "sha256_of",
    "user_skills_dir",
]
