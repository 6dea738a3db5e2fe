"""The `skill.yaml` schema: what a skill observes, how it acts, what it needs, its weights.

A skill is a folder holding `skill.yaml` and its weight files. An empty `weights` list
means the skill is declared but not trained yet: it can be checked against tasks and
robots, but loading its policy is a clear error (`SkillNotTrainedError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vitalskills.errors import VitalskillsError
from vitalskills.lang import ir
from vitalskills.lang.errors import LangError
from vitalskills.lang.yamlnodes import compose, to_plain
from vitalskills.skills.hashcache import cached_sha256, sha256_of
from vitalskills.skills.versions import parse_version

MANIFEST_FILE = "skill.yaml"
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ManifestError(LangError):
    """A `skill.yaml` that does not match the schema; located at the offending node."""

    code = "E300"


class SkillNotTrainedError(VitalskillsError):
    """The skill declares no weights: it has not been trained yet."""

    code = "E301"


class SkillWeightsError(VitalskillsError):
    """A weights file is missing or its sha256 does not match the manifest."""

    code = "E302"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraInput(_Strict):
    """A camera image the policy takes, by the robot's camera name, at this size."""

    name: str = Field(pattern=_NAME)
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class ObservationSpec(_Strict):
    """What the policy observes: camera images, tactile vector, proprioception keys."""

    cameras: list[CameraInput] = Field(default_factory=list)
    tactile_dim: int | None = Field(default=None, ge=1)
    proprio: list[Literal["ee_pose", "gripper"]] = Field(default_factory=list)


class ActionSpec(_Strict):
    """What the policy outputs: `dim` numbers in `frame`, clipped to [low, high]."""

    frame: Literal["ee", "base"] = "ee"
    dim: int = Field(gt=0)
    low: list[float]
    high: list[float]

    @model_validator(mode="after")
    def _limits_match(self) -> ActionSpec:
        if len(self.low) != self.dim or len(self.high) != self.dim:
            raise ValueError(f"`low` and `high` need {self.dim} values each (`dim` is {self.dim})")
        if any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError("every `low` value must be <= its `high` value")
        return self


class WeightsFile(_Strict):
    """One weights file inside the skill folder, with its sha256 (hex)."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _inside_folder(cls, value: str) -> str:
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("weights paths are relative to the skill folder and stay inside it")
        return value


class PolicySource(_Strict):
    """Where the skill's policy comes from and how vitalskills reaches it.

    `vitalskills` (the default): trained by this project, loaded in process from the
    weights. The other kinds run elsewhere and answer over the policy protocol
    (docs/policy-protocol.md): `lerobot`, a LeRobot checkpoint served by a process that
    vitalskills starts with the Python of LeRobot's own environment; `process`, any
    command that serves the protocol; `remote`, a server already running at an address.
    """

    kind: Literal["vitalskills", "lerobot", "process", "remote"] = "vitalskills"
    checkpoint: str | None = Field(
        default=None, description="lerobot: the checkpoint folder, relative to the skill folder"
    )
    python: str | None = Field(
        default=None, description="lerobot: the Python interpreter of LeRobot's environment"
    )
    command: list[str] = Field(
        default_factory=list,
        description="process: the command line; `{address}` is replaced by the address to bind",
    )
    address: str | None = Field(default=None, description="remote: e.g. tcp://gpu-box:5600")
    inputs: dict[str, list[str]] = Field(
        default_factory=dict,
        description="the policy's input features, each made of these observation keys in order",
    )
    device: str = Field(default="cpu", description="lerobot: the torch device to run on")
    timeout_s: float = Field(default=2.0, gt=0, description="longest wait for one action")
    startup_s: float = Field(default=120.0, gt=0, description="longest wait for the server")

    @model_validator(mode="after")
    def _complete(self) -> PolicySource:
        need = {
            "lerobot": ("checkpoint", "python"),
            "process": ("command",),
            "remote": ("address",),
        }
        for field in need.get(self.kind, ()):
            if not getattr(self, field):
                raise ValueError(f"a `{self.kind}` policy needs `{field}`")
        if self.kind != "vitalskills" and not self.inputs:
            raise ValueError(f"a `{self.kind}` policy needs `inputs` (feature: [observation keys])")
        return self


class SkillManifest(_Strict):
    """A skill's `skill.yaml`; `root` is the folder it was loaded from (not serialized)."""

    manifest_version: Literal[1] = 1
    name: str = Field(pattern=_NAME)
    version: str
    description: str = ""
    observation: ObservationSpec
    action: ActionSpec
    control_hz: float = Field(gt=0)
    max_steps: int = Field(gt=0)
    approach_offset: tuple[float, float, float] = Field(
        description="metres, base frame, added to the located target before the policy starts"
    )
    requires: list[str] = Field(
        default_factory=list, description="robot sensors or capabilities beyond the observation"
    )
    weights: list[WeightsFile] = Field(default_factory=list)
    policy: PolicySource = Field(default_factory=PolicySource)
    provenance: dict[str, Any] = Field(default_factory=dict)
    root: Path | None = Field(default=None, exclude=True)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        try:
            parse_version(value)
        except VitalskillsError as error:
            raise ValueError(f"{error.message}; write MAJOR.MINOR or MAJOR.MINOR.PATCH") from None
        return value

    def to_data(self) -> dict[str, Any]:
        """The manifest as `skill.yaml` holds it: this project's own policies name no
        `policy`, and another kind lists only what differs from the defaults."""
        data = self.model_dump(mode="json", exclude={"root", "policy"})
        if self.policy.kind != "vitalskills":
            policy = self.policy.model_dump(mode="json", exclude_defaults=True)
            data["policy"] = {"kind": self.policy.kind, **policy}
        return data

    @property
    def trained(self) -> bool:
        """Whether the skill has a policy to run: weights of its own, or one served elsewhere
        (an untrained skill of this project lists no weights)."""
        return bool(self.weights) or self.policy.kind != "vitalskills"

    @property
    def sensors(self) -> list[str]:
        """Every robot sensor the skill needs: cameras, tactile, proprio and `requires`."""
        needed = [camera.name for camera in self.observation.cameras]
        if self.observation.tactile_dim:
            needed.append("tactile")
        needed.extend(self.observation.proprio)
        needed.extend(self.requires)
        return list(dict.fromkeys(needed))

    def weight_paths(self, verify: bool = True, cached: bool = False) -> list[Path]:
        """Return the weights files' paths, checking they exist and match their sha256.

        With `cached`, a digest remembered for the file's size and modification time is
        used (`vitalskills.skills.hashcache`); loading weights hashes them afresh.

        Raises:
            SkillNotTrainedError: the manifest lists no weights.
            SkillWeightsError: a file is missing or its checksum differs.
        """
        if not self.weights and self.policy.kind != "vitalskills":
            return []  # served elsewhere with nothing on disk here (`process`, `remote`)
        if not self.weights:
            raise SkillNotTrainedError(
                f"skill `{self.name}` {self.version} has no weights: it has not been trained",
                hint=f"train it first, or install a trained `{self.name}` with `--skills DIR`",
            )
        root = self.root or Path.cwd()
        paths = []
        for entry in self.weights:
            path = root / entry.path
            if not path.is_file():
                raise SkillWeightsError(
                    f"weights file `{path}` of skill `{self.name}` is missing",
                    hint="re-install the skill or fix `weights` in its skill.yaml",
                )
            if verify and (cached_sha256(path) if cached else sha256_of(path)) != entry.sha256:
                raise SkillWeightsError(
                    f"weights file `{path}` does not match its sha256 in skill.yaml",
                    hint="the file was changed or corrupted: re-install or retrain the skill",
                )
            paths.append(path)
        return paths

    def check_weights(self) -> None:
        """Check that every listed weights file exists and matches its sha256 (cached).

        An untrained skill lists none: there is nothing to check.

        Raises:
            SkillWeightsError: a file is missing or its checksum differs.
        """
        if self.weights:
            self.weight_paths(cached=True)


def load_manifest(folder: Path) -> SkillManifest:
    """Load and validate `folder/skill.yaml`; errors point at the offending YAML node."""
    path = folder / MANIFEST_FILE
    file = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read skill manifest `{path}`: {error}") from None
    node = compose(source, file)
    if node is None:
        raise ManifestError(f"skill manifest `{path}` is empty")
    data, spans = to_plain(file, node)
    if not isinstance(data, dict):
        raise ManifestError("a skill manifest must be a mapping", location=spans[()].location())
    try:
        return SkillManifest.model_validate({**data, "root": folder})
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        where = spans.get(loc)
        while where is None and loc:
            loc = loc[:-1]
            where = spans.get(loc)
        field = ".".join(str(part) for part in first["loc"]) or "manifest"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            where = spans.get((*tuple(first["loc"]), "<key>"), where)
            message = "unknown key"
        return_span = where or ir.Span(file=file, line=1, column=1, end_line=1, end_column=2)
        raise ManifestError(
            f"invalid skill manifest: `{field}`: {message}",
            location=return_span.location(),
            hint="see docs/skills.md for the skill.yaml schema",
        ) from None
