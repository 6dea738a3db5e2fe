"""Demonstration datasets on disk: one compressed `.npz` file per episode, appended atomically.

Layout (see docs/datasets.md)::

    DIR/meta/info.json         dataset metadata: task, condition, robot, per-frame features
    DIR/meta/episodes.jsonl    one line per episode (index, length, seed, success), derived
    DIR/data/episode_000000.npz  every frame of one episode, deflate-compressed, no pickle

An episode is buffered in memory and written to a hidden temporary file, fsynced and
renamed into place, so a killed collection loses at most the episode in progress; the
episode files are the truth and `episodes.jsonl` is rewritten from them. One writer at
a time holds an advisory lock on `meta/.lock` (released by the OS if it dies).

Arrays derived after recording (keep masks, `mask.*`) are added to existing episodes by
`DatasetEditor` / `write_episode_array`, which rewrite one episode file the same atomic
way; recorded arrays are never rewritten.
"""

from __future__ import annotations

import fcntl
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zipfile import BadZipFile

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from vitalskills.learning.errors import DatasetError
from vitalskills.robot import Observation

FORMAT = "vitalskills-demos"
FORMAT_VERSION = 1
ACTION = "action"
_EPISODE = re.compile(r"^episode_(\d{6})\.npz$")
_TMP_PREFIX = ".tmp-"
#: Arrays computed from recorded ones after collection (keep masks). Only these may be
#: written into existing episodes; an appended episode without them drops them from the
#: features until they are computed for it too.
DERIVED_PREFIXES = ("mask.",)


class Feature(BaseModel):
    """The dtype and per-frame shape of one stored array."""

    dtype: str
    shape: list[int]


class DatasetInfo(BaseModel):
    """`meta/info.json`: what every episode in the dataset was recorded with."""

    format: Literal["vitalskills-demos"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    task: str
    condition: str
    control_hz: float = Field(gt=0)
    source: str = Field(description="who produced the actions: `expert`, `teleop`, ...")
    robot: dict[str, Any] = Field(
        default_factory=dict, description="the robot's capabilities (sensors, cameras)"
    )
    features: dict[str, Feature] = Field(default_factory=dict)
    mask_labels: dict[str, int] = Field(
        default_factory=dict, description="label map values by part (`target`, `gripper`, ...)"
    )
    created: str = ""
    derived: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="how each array added after recording was made, by key (`mask.keep`: "
        "the method and its parameters)",
    )
    origin: dict[str, Any] = Field(
        default_factory=dict,
        description="where an imported dataset came from: its format, path, and what did "
        "not map (`vitalskills dataset import`)",
    )


class EpisodeMeta(BaseModel):
    """One line of `meta/episodes.jsonl`, also stored inside the episode file."""

    index: int
    length: int
    seed: int | None = None
    success: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Episode:
    """A loaded episode: `frames[key]` has one row per step; `action[t]` follows obs `t`."""

    meta: EpisodeMeta
    frames: dict[str, np.ndarray]

    def __len__(self) -> int:
        return self.meta.length


def frame_key(observation_key: str) -> str:
    """Map an observation key to its stored name (`privileged/x` -> `privileged.x`)."""
    if observation_key.startswith("privileged/"):
        return observation_key.replace("/", ".")
    return f"observation.{observation_key.replace('/', '.')}"


class EpisodeRecorder:
    """Buffer one episode's observations and applied actions in memory until it ends."""

    def __init__(self) -> None:
        self._rows: dict[str, list[np.ndarray]] = {}
        self.length = 0

    def record(self, observation: Observation, action: np.ndarray) -> None:
        """Add one step: the observation the action was chosen from and the action applied."""
        row = {frame_key(key): np.asarray(value) for key, value in observation.items()}
        row[ACTION] = np.asarray(action, dtype=np.float32).reshape(-1)
        if self.length and set(row) != set(self._rows):
            missing = sorted(set(self._rows) ^ set(row))
            raise DatasetError(
                f"step {self.length} has different observation keys than step 0: {missing}",
                hint="the robot must report the same observation keys at every step",
            )
        for key, value in row.items():
            self._rows.setdefault(key, []).append(value)
        self.length += 1

    def frames(self) -> dict[str, np.ndarray]:
        """Return the buffered steps stacked into (T, ...) arrays."""
        return {key: np.stack(values) for key, values in self._rows.items()}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Write via `write(handle)` to a hidden temporary file, fsync, then rename into place."""
    tmp = path.with_name(f"{_TMP_PREFIX}{os.getpid()}-{path.name}")
    try:
        with tmp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _features_of(frames: Mapping[str, np.ndarray]) -> dict[str, Feature]:
    return {
        key: Feature(dtype=str(value.dtype), shape=list(value.shape[1:]))
        for key, value in sorted(frames.items())
    }


def _read_info(root: Path) -> DatasetInfo:
    path = root / "meta" / "info.json"
    if not path.is_file():
        raise DatasetError(
            f"`{root}` is not a demonstration dataset (no meta/info.json)",
            hint="collect one with `vitalskills collect --out DIR`",
        )
    try:
        return DatasetInfo.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as error:
        raise DatasetError(
            f"`{path}` is not a valid dataset description: {str(error).splitlines()[0]}",
            hint="the file was edited or corrupted; restore it or collect again",
        ) from None


def _episode_paths(root: Path) -> list[Path]:
    data = root / "data"
    if not data.is_dir():
        return []
    return sorted(p for p in data.iterdir() if _EPISODE.match(p.name))


class DatasetWriter:
    """Append episodes to a dataset, creating it on first use; a context manager.

    Args:
        root: the dataset folder; created if missing, appended to if it exists.
        info: the dataset's description; must match an existing dataset's task,
            condition and control rate. Features are fixed by the first episode.
    """

    def __init__(self, root: Path, info: DatasetInfo) -> None:
        self.root = Path(root)
        (self.root / "meta").mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        self._lock = (self.root / "meta" / ".lock").open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise DatasetError(
                f"dataset `{self.root}` is being written by another process",
                hint="wait for the other collection to finish, or use another --out",
            ) from None
        for stale in (self.root / "data").glob(f"{_TMP_PREFIX}*"):
            stale.unlink()  # an episode in progress when a previous writer died
        if (self.root / "meta" / "info.json").is_file():
            self.info = _read_info(self.root)
            for field in ("task", "condition", "control_hz"):
                have, want = getattr(self.info, field), getattr(info, field)
                if have != want:
                    self.close()
                    raise DatasetError(
                        f"dataset `{self.root}` has {field} `{have}`, not `{want}`",
                        hint="append only episodes of the same task and condition; "
                        "use another --out",
                    )
        else:
            self.info = info.model_copy(
                update={"created": info.created or datetime.now(UTC).isoformat(timespec="seconds")}
            )
            self._write_info()
        self.episodes = [
            _load_episode(path, self.info, frames=False).meta for path in _episode_paths(self.root)
        ]

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the writer's lock."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def _write_info(self) -> None:
        text = self.info.model_dump_json(indent=2).encode()
        _atomic_write(self.root / "meta" / "info.json", lambda handle: handle.write(text))

    def add_episode(
        self,
        frames: Mapping[str, np.ndarray],
        *,
        seed: int | None = None,
        success: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> EpisodeMeta:
        """Write one finished episode atomically and return its metadata.

        Raises:
            DatasetError: the episode is empty, ragged, or its arrays differ from the
                dataset's features.
        """
        if ACTION not in frames:
            raise DatasetError("an episode needs an `action` array")
        lengths = {key: len(value) for key, value in frames.items()}
        length = lengths[ACTION]
        if length == 0 or any(n != length for n in lengths.values()):
            raise DatasetError(f"episode arrays must share one non-zero length, got {lengths}")
        features = _features_of(frames)
        if not self.info.features:
            self.info.features = features
            self._write_info()
        elif features != self.info.features and _only_lacks_derived(features, self.info.features):
            # The dataset's episodes carry masks this new one lacks: the dataset stays
            # valid without them as features until `vitalskills masks` runs again.
            for key in set(self.info.features) - set(features):
                del self.info.features[key]
            self._write_info()
        elif features != self.info.features:
            diff = sorted(
                key
                for key in set(features) | set(self.info.features)
                if features.get(key) != self.info.features.get(key)
            )
            raise DatasetError(
                f"episode arrays do not match dataset `{self.root}`: {', '.join(diff)} differ",
                hint="record with the same robot, sensors and image size as the dataset",
            )
        index = self.episodes[-1].index + 1 if self.episodes else 0
        meta = EpisodeMeta(
            index=index, length=length, seed=seed, success=success, extra=extra or {}
        )
        arrays = {key: np.ascontiguousarray(value) for key, value in frames.items()}
        arrays["meta"] = np.array(meta.model_dump_json())
        path = self.root / "data" / f"episode_{index:06d}.npz"
        _atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        self.episodes.append(meta)
        lines = "".join(m.model_dump_json() + "\n" for m in self.episodes).encode()
        _atomic_write(self.root / "meta" / "episodes.jsonl", lambda handle: handle.write(lines))
        return meta


def _only_lacks_derived(features: dict[str, Feature], dataset: dict[str, Feature]) -> bool:
    """Whether `features` equal the dataset's except for derived arrays it does not have."""
    missing = set(dataset) - set(features)
    return (
        set(features) <= set(dataset)
        and all(key.startswith(DERIVED_PREFIXES) for key in missing)
        and all(features[key] == dataset[key] for key in features)
    )


def _load_episode(path: Path, info: DatasetInfo, frames: bool = True) -> Episode:
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = EpisodeMeta.model_validate_json(str(npz["meta"]))
            if not frames:
                return Episode(meta=meta, frames={})
            loaded = {key: npz[key] for key in npz.files if key != "meta"}
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        BadZipFile,
        zlib.error,
        ValidationError,
    ) as error:
        raise DatasetError(
            f"episode file `{path}` is corrupt: {str(error).splitlines()[0]}",
            hint="delete it (the dataset stays valid without it) or collect again",
        ) from None
    for key, feature in info.features.items():
        value = loaded.get(key)
        if (
            value is None
            or str(value.dtype) != feature.dtype
            or list(value.shape[1:]) != feature.shape
        ):
            got = "missing" if value is None else f"{value.dtype}{list(value.shape[1:])}"
            raise DatasetError(
                f"episode file `{path}`: `{key}` is {got}, expected {feature.dtype}{feature.shape}",
                hint="delete the episode or collect again",
            )
        if len(value) != meta.length:
            raise DatasetError(
                f"episode file `{path}`: `{key}` has {len(value)} rows, not {meta.length}"
            )
    return Episode(meta=meta, frames=loaded)


class DemoDataset:
    """Read a dataset: `len(ds)` episodes, `ds.episode(i)` loads one, `iter(ds)` all."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.info = _read_info(self.root)
        self.paths = _episode_paths(self.root)

    def __len__(self) -> int:
        return len(self.paths)

    def episode(self, position: int) -> Episode:
        """Load the episode at `position` (0-based, in index order)."""
        return _load_episode(self.paths[position], self.info)

    def __iter__(self) -> Iterator[Episode]:
        for path in self.paths:
            yield _load_episode(path, self.info)

    def metas(self) -> list[EpisodeMeta]:
        """Return every episode's metadata without loading its frames."""
        return [_load_episode(path, self.info, frames=False).meta for path in self.paths]

    @property
    def num_frames(self) -> int:
        """Total number of steps over all episodes."""
        return sum(meta.length for meta in self.metas())


def _lock(root: Path, doing: str) -> Any:
    """Take the dataset's writer lock (`meta/.lock`) or say who holds it."""
    handle = (root / "meta" / ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatasetError(
            f"dataset `{root}` is being written by another process",
            hint=f"wait for it to finish before {doing}",
        ) from None
    return handle


class DatasetEditor:
    """Add or replace derived per-frame arrays (`mask.*`) in existing episodes.

    Each write rewrites one episode file the way `DatasetWriter` writes one: a hidden
    temporary file, fsynced, renamed over the old file. A process killed at any moment
    leaves every episode either as it was or with the new array, never torn. Holds the
    dataset's writer lock while open, so no collection appends meanwhile; a context
    manager.

    A key becomes one of the dataset's features (`meta/info.json`) once every episode
    has it, so a run stopped half way leaves a dataset that still loads.

    Raises:
        DatasetError: `root` is not a dataset, or another process is writing it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.info = _read_info(self.root)
        self._lock = _lock(self.root, "adding masks")
        try:
            for stale in (self.root / "data").glob(f"{_TMP_PREFIX}*"):
                stale.unlink()  # a write in progress when a previous writer died
            self.paths = {
                int(path.stem.removeprefix("episode_")): path for path in _episode_paths(self.root)
            }
            self._metas = {
                index: _load_episode(path, self.info, frames=False).meta
                for index, path in self.paths.items()
            }
        except BaseException:
            self.close()
            raise
        self._holders: dict[str, set[int]] = {}

    def __enter__(self) -> DatasetEditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the writer's lock."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def length(self, index: int) -> int:
        """The number of steps of episode `index`."""
        return self._metas[index].length

    def episode(self, index: int) -> Episode:
        """Load episode `index` with all its arrays."""
        return _load_episode(self.paths[index], self.info)

    def has_array(self, index: int, key: str) -> bool:
        """Whether episode `index` already stores `key` (reads the file's listing only)."""
        return index in self._with(key)

    def _with(self, key: str) -> set[int]:
        if key not in self._holders:
            self._holders[key] = set()
            for index, path in self.paths.items():
                try:
                    with np.load(path, allow_pickle=False) as npz:
                        if key in npz.files:
                            self._holders[key].add(index)
                except (OSError, ValueError, BadZipFile):
                    continue  # a corrupt file is reported when it is loaded
        return self._holders[key]

    def write_array(
        self,
        index: int,
        key: str,
        values: np.ndarray,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> EpisodeMeta:
        """Store `values` as the per-frame array `key` of episode `index`, atomically.

        Args:
            index: the episode's index (its file name's number).
            key: a derived array's name, e.g. `mask.keep`.
            values: one row per step of the episode.
            extra: merged into the episode's `meta.extra` (e.g. how the array was made).

        Returns:
            The episode's updated metadata.

        Raises:
            DatasetError: no such episode, a recorded (not derived) key, a row count
                other than the episode's length, or rows that differ from the
                dataset's feature for `key`.
        """
        if not key.startswith(DERIVED_PREFIXES):
            raise DatasetError(
                f"`{key}` is not a derived array: recorded arrays are never rewritten",
                hint=f"derived arrays are named {', '.join(p + '*' for p in DERIVED_PREFIXES)}",
            )
        if index not in self.paths:
            raise DatasetError(f"dataset `{self.root}` has no episode {index}")
        path = self.paths[index]
        episode = _load_episode(path, self.info)
        values = np.ascontiguousarray(values)
        if len(values) != episode.meta.length:
            raise DatasetError(
                f"`{key}` for episode {index} has {len(values)} rows, "
                f"the episode has {episode.meta.length} steps"
            )
        feature = _features_of({key: values})[key]
        known = self.info.features.get(key)
        if known is not None and known != feature:
            raise DatasetError(
                f"`{key}` for episode {index} is {feature.dtype}{feature.shape}, "
                f"the dataset stores {known.dtype}{known.shape}"
            )
        meta = episode.meta.model_copy(
            update={"extra": {**episode.meta.extra, **(extra or {})}}, deep=True
        )
        arrays = {**episode.frames, key: values, "meta": np.array(meta.model_dump_json())}
        _atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        self._metas[index] = meta
        lines = "".join(self._metas[i].model_dump_json() + "\n" for i in sorted(self._metas))
        _atomic_write(
            self.root / "meta" / "episodes.jsonl", lambda handle: handle.write(lines.encode())
        )
        holders = self._with(key)
        holders.add(index)
        if known is None and holders >= set(self.paths):
            self.info.features[key] = feature
            self._write_info()
        return meta

    def describe(self, key: str, provenance: Mapping[str, Any]) -> None:
        """Record in `meta/info.json` how the derived array `key` was made."""
        self.info.derived[key] = dict(provenance)
        self._write_info()

    def _write_info(self) -> None:
        text = self.info.model_dump_json(indent=2).encode()
        _atomic_write(self.root / "meta" / "info.json", lambda handle: handle.write(text))


def write_episode_array(
    root: Path,
    index: int,
    key: str,
    values: np.ndarray,
    *,
    extra: Mapping[str, Any] | None = None,
) -> EpisodeMeta:
    """Add or replace one derived per-frame array of one existing episode, atomically.

    A one-call `DatasetEditor`; see `DatasetEditor.write_array` for the checks.
    """
    with DatasetEditor(root) as editor:
        return editor.write_array(index, key, values, extra=extra)
