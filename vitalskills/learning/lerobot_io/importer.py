"""Read a LeRobotDataset v3.0 folder into a vitalskills dataset, with pyarrow and PyAV.

A folder `export_lerobot` wrote carries a `vitalskills` block in `meta/info.json`: every
array comes back under its own key, dtype and shape, with the dataset's description and
each episode's seed, success and extra fields. Any other v3.0 dataset (one that lerobot
recorded, for example) is mapped by `columns_from_lerobot`; what has no place in a
vitalskills dataset is listed in the result and recorded in the new dataset's
`info.origin`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitalskills.learning.atomic import new_folder
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, EpisodeMeta
from vitalskills.learning.errors import DatasetError
from vitalskills.learning.lerobot_io.mapping import (
    SUCCESS,
    Column,
    Plan,
    Unmapped,
    columns_from_lerobot,
    columns_from_record,
)
from vitalskills.learning.lerobot_io.media import VideoReader, decode_png

SUPPORTED_VERSION = "v3.0"
_CONVERT_HINT = (
    "convert it to v3.0 with lerobot's own converter "
    "(`python -m lerobot.datasets.v30.convert_dataset_v21_to_v30`), then import that"
)
#: Columns of the episode table that import needs.
_REQUIRED = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
)
#: Columns of the episode table that import reads or that only locate its own rows.
_EPISODE_COLUMNS = (*_REQUIRED, "meta/episodes/chunk_index", "meta/episodes/file_index")


@dataclass
class ImportResult:
    """What an import wrote and what it could not carry over."""

    out: Path
    episodes: int
    frames: int
    task: str
    columns: list[Column]
    unmapped: list[Unmapped] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)
    exact: bool = False  # the source was a vitalskills export, restored as it was


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(f"`{path}` is not readable JSON: {error}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"`{path}` is not a JSON object")
    return data


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DatasetError(f"`{path}` is not a readable Parquet file: {error}") from None


class LeRobotFolder:
    """A LeRobotDataset v3.0 folder: its info, task texts and episode table, checked."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(
                f"`{self.root}` does not exist or is not a folder",
                hint="pass the folder of a LeRobot dataset (it holds meta/info.json)",
            )
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise DatasetError(
                f"`{self.root}` is not a LeRobot dataset (no meta/info.json)",
                hint="pass the dataset's root folder, the one holding meta/ and data/",
            )
        self.info = _read_json(info_path)
        version = self.info.get("codebase_version")
        if version != SUPPORTED_VERSION:
            raise DatasetError(
                f"`{info_path}`: codebase_version `{version}` is not supported; "
                f"import reads LeRobotDataset {SUPPORTED_VERSION}",
                hint=_CONVERT_HINT if str(version).startswith("v2") else None,
            )
        for key in ("fps", "features", "data_path"):
            if key not in self.info:
                raise DatasetError(f"`{info_path}` has no `{key}`")
        self.fps = float(self.info["fps"])
        self.features: dict[str, Any] = self.info["features"]
        self.tasks = self._tasks()
        self.episodes = self._episodes()

    def _tasks(self) -> dict[int, str]:
        path = self.root / "meta" / "tasks.parquet"
        if not path.is_file():
            raise DatasetError(f"`{self.root}` has no meta/tasks.parquet")
        table = _read_parquet(path)
        names = [name for name in table.column_names if name != "task_index"]
        text = "task" if "task" in names else names[0] if names else None
        if "task_index" not in table.column_names or text is None:
            raise DatasetError(f"`{path}` has no task_index and task text columns")
        indices = table.column("task_index").to_pylist()
        return dict(zip(indices, table.column(text).to_pylist(), strict=True))

    def _episodes(self) -> list[dict[str, Any]]:
        paths = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        if not paths:
            raise DatasetError(
                f"`{self.root}` has no episode table (meta/episodes/chunk-*/file-*.parquet)"
            )
        rows = [row for path in paths for row in _read_parquet(path).to_pylist()]
        missing = [key for key in _REQUIRED if rows and key not in rows[0]]
        if missing:
            raise DatasetError(f"`{paths[0]}` has no `{missing[0]}` column")
        return sorted(rows, key=lambda row: row["episode_index"])

    def data_path(self, row: dict[str, Any]) -> Path:
        """The Parquet file holding an episode's frames."""
        return self.root / self.info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )

    def video_path(self, key: str, row: dict[str, Any]) -> Path:
        """The MP4 file holding an episode's frames of video feature `key`."""
        template = self.info.get("video_path")
        if not template:
            raise DatasetError(f"`{self.root}`: video feature `{key}` but no `video_path`")
        return self.root / template.format(
            video_key=key,
            chunk_index=row[f"videos/{key}/chunk_index"],
            file_index=row[f"videos/{key}/file_index"],
        )


def _numbers(array: pa.ChunkedArray | pa.Array, length: int, where: str) -> np.ndarray:
    """A numeric column (scalars or fixed-size lists, nested for 2-D) as (T, n)."""
    flat = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if flat.null_count:
        raise DatasetError(f"{where} has empty values")
    while (
        pa.types.is_list(flat.type)
        or pa.types.is_fixed_size_list(flat.type)
        or (pa.types.is_large_list(flat.type))
    ):
        flat = flat.flatten()
    values = flat.to_numpy(zero_copy_only=False)
    if values.size % max(length, 1):
        raise DatasetError(f"{where} has rows of different lengths")
    return values.reshape(length, -1)


class _Frames:
    """An episode's rows, from whichever data file and video holds them."""

    def __init__(self, folder: LeRobotFolder) -> None:
        self.folder = folder
        self._table: tuple[Path, pa.Table] | None = None
        self._videos: dict[tuple[str, Path], VideoReader] = {}

    def rows(self, row: dict[str, Any]) -> pa.Table:
        path = self.folder.data_path(row)
        if self._table is None or self._table[0] != path:
            if not path.is_file():
                raise DatasetError(f"data file `{path}` is missing")
            self._table = (path, _read_parquet(path))
        table = self._table[1]
        if "episode_index" not in table.column_names:
            raise DatasetError(f"`{path}` has no `episode_index` column")
        mine = table.filter(pc.equal(table.column("episode_index"), row["episode_index"]))
        if "frame_index" in mine.column_names:
            mine = mine.sort_by("frame_index")
        if mine.num_rows != row["length"]:
            raise DatasetError(
                f"`{path}` holds {mine.num_rows} frames of episode {row['episode_index']}, "
                f"the episode table says {row['length']}"
            )
        return mine

    def video(self, key: str, row: dict[str, Any]) -> np.ndarray:
        path = self.folder.video_path(key, row)
        start = float(row[f"videos/{key}/from_timestamp"])
        reader = self._videos.get((key, path))
        if reader is None or start < reader.position:
            if reader is not None:
                reader.close()
            reader = self._videos[(key, path)] = VideoReader(path)
        return reader.take(start, row["length"], self.folder.fps)

    def close(self) -> None:
        for reader in self._videos.values():
            reader.close()


def _column_arrays(
    column: Column, frames: _Frames, row: dict[str, Any], table: pa.Table
) -> dict[str, np.ndarray]:
    """The vitalskills arrays of one column for one episode."""
    length = row["length"]
    where = f"episode {row['episode_index']} `{column.key}`"
    if column.dtype == "video":
        values = frames.video(column.key, row)
        if column.kind == "mask":
            values = values[..., 0]  # a 1-channel video decodes as grey RGB
    elif column.key not in table.column_names:
        raise DatasetError(f"{where}: the data file has no such column")
    elif column.dtype == "image":
        images = table.column(column.key).combine_chunks()
        blobs = (
            images.field("bytes").to_pylist()
            if pa.types.is_struct(images.type)
            else images.to_pylist()
        )
        if any(blob is None for blob in blobs):
            raise DatasetError(
                f"{where}: images are not embedded in the Parquet file",
                hint="LeRobot v3.0 stores image bytes inline; re-save the dataset with lerobot",
            )
        labels = column.kind == "mask"
        values = np.stack([decode_png(blob, where, labels=labels) for blob in blobs])
    else:
        values = _numbers(table.column(column.key), length, where)
    out = {}
    offset = 0
    for source in column.sources:
        if column.kind == "vector":
            part = values[:, offset : offset + source.size]
            offset += source.size
        else:
            part = values
        if part.size != length * source.size:
            got = list(values.shape[1:])
            raise DatasetError(f"{where}: frames are {got}, expected {list(source.shape)}")
        out[source.key] = part.reshape(length, *source.shape).astype(source.dtype, copy=False)
    return out


def _plan(folder: LeRobotFolder) -> tuple[Plan, dict[str, Any] | None]:
    block = folder.info.get("vitalskills")
    if isinstance(block, dict) and isinstance(block.get("columns"), dict):
        present = {key: spec for key, spec in block["columns"].items() if key in folder.features}
        plan = Plan(columns=columns_from_record(present, folder.features))
        plan.lossy = [f"`{c.key}` is video: frames are decoded, not the original pixels"
                      for c in plan.columns if c.dtype == "video"]  # fmt: skip
        return plan, block
    plan = columns_from_lerobot(folder.features)
    if (folder.root / "meta" / "subtasks.parquet").is_file():
        plan.unmapped.append(Unmapped("meta/subtasks.parquet", "vitalskills has no subtasks"))
    extra = sorted(
        key
        for key in (folder.episodes[0] if folder.episodes else {})
        if key not in _EPISODE_COLUMNS and not key.startswith(("stats/", "videos/"))
    )
    if extra:
        names = ", ".join(f"`{key}`" for key in extra)
        plan.unmapped.append(Unmapped(f"episode table columns {names}", "not read"))
    if (folder.root / "meta" / "stats.json").is_file():
        plan.unmapped.append(
            Unmapped("meta/stats.json", "statistics are recomputed by training, not imported")
        )
    return plan, None


def import_lerobot(
    root: Path,
    out: Path,
    *,
    task: str | None = None,
    all_succeeded: bool = False,
    on_episode: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Write the LeRobotDataset v3.0 folder `root` as a vitalskills dataset `out`.

    The dataset is written beside `out` under a hidden name and renamed when complete.

    Args:
        root: the LeRobot dataset folder (holding meta/info.json).
        out: the vitalskills dataset folder to create; must not exist.
        task: the dataset's task name (default: the first episode's task text).
        all_succeeded: mark every episode a success (LeRobot has no per-episode flag;
            without this, an episode succeeded when its last `next.success` is true).
        on_episode: called with (episodes done, episodes) after each episode.

    Raises:
        DatasetError: `root` is not a LeRobot v3.0 dataset or is inconsistent, or
            `out` exists.
    """
    folder = LeRobotFolder(root)
    out = Path(out)
    if out.exists():
        raise DatasetError(f"`{out}` already exists", hint="import into a new folder")
    plan, block = _plan(folder)
    rows = folder.episodes
    texts = [text for row in rows for text in (row.get("tasks") or [])]
    distinct = list(dict.fromkeys(texts))
    if block is None and len(distinct) > 1:
        plan.unmapped.append(
            Unmapped(
                f"{len(distinct)} task texts",
                "a vitalskills dataset holds one task; each episode's text is in its `extra.task`",
            )
        )
    origin = {
        "format": f"LeRobotDataset {SUPPORTED_VERSION}",
        "path": str(folder.root.resolve()),
        "unmapped": [str(item) for item in plan.unmapped],
        "lossy": plan.lossy,
    }
    if block is not None:
        info = DatasetInfo.model_validate({**block["info"], "features": {}, "origin": origin})
        if task is not None:
            info.task = task
    else:
        name = task or (distinct[0] if distinct else "")
        if not name:
            raise DatasetError(
                f"`{folder.root}` names no task", hint="give the task's name with --task NAME"
            )
        info = DatasetInfo(
            task=name,
            condition="imported",
            control_hz=folder.fps,
            source="lerobot",
            robot={"name": folder.info.get("robot_type") or "unknown"},
            origin=origin,
        )
    saved = (block or {}).get("episodes") or []
    restore = len(saved) == len(rows) and all(
        meta.get("length") == row["length"] for meta, row in zip(saved, rows, strict=True)
    )
    frames = _Frames(folder)
    total = 0
    try:
        with new_folder(out) as tmp, DatasetWriter(tmp, info) as writer:
            for position, row in enumerate(rows):
                table = frames.rows(row)
                arrays: dict[str, np.ndarray] = {}
                for column in plan.columns:
                    arrays |= _column_arrays(column, frames, row, table)
                if restore:
                    meta = EpisodeMeta.model_validate(saved[position])
                    writer.add_episode(
                        arrays, seed=meta.seed, success=meta.success, extra=meta.extra
                    )
                else:
                    succeeded = all_succeeded or bool(
                        SUCCESS in arrays and arrays[SUCCESS].reshape(row["length"], -1)[-1].all()
                    )
                    extra = {"lerobot_episode_index": row["episode_index"]}
                    if row.get("tasks"):
                        extra["task"] = row["tasks"][0]
                    writer.add_episode(arrays, success=succeeded, extra=extra)
                total += row["length"]
                if on_episode is not None:
                    on_episode(position + 1, len(rows))
    finally:
        frames.close()
    return ImportResult(
        out=out,
        episodes=len(rows),
        frames=total,
        task=info.task,
        columns=plan.columns,
        unmapped=plan.unmapped,
        lossy=plan.lossy,
        exact=block is not None and restore,
    )
