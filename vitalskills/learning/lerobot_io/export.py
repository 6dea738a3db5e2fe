"""Write a vitalskills dataset as a LeRobotDataset v3.0 folder, with pyarrow and PyAV.

The folder is what lerobot 0.4's `LeRobotDataset(repo_id, root=OUT)` reads::

    OUT/meta/info.json                               codebase_version v3.0, fps, features
    OUT/meta/stats.json                              min/max/mean/std/count/quantiles
    OUT/meta/tasks.parquet                           the task text, index 0
    OUT/meta/episodes/chunk-000/file-000.parquet     one row per episode: frame range, stats
    OUT/data/chunk-000/file-000.parquet              one row per frame, one row group per episode
    OUT/videos/<key>/chunk-000/file-000.mp4          with --video: each camera's frames

`info.json` also carries a `vitalskills` block (LeRobot ignores it): the source dataset's
description, every episode's seed, success and extra fields, and which arrays each
column holds, so `import_lerobot` restores the dataset exactly.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vitalskills.learning.atomic import new_folder
from vitalskills.learning.dataset import DemoDataset, Episode
from vitalskills.learning.errors import DatasetError
from vitalskills.learning.lerobot_io.mapping import Column, Plan, Unmapped, plan_export
from vitalskills.learning.lerobot_io.media import VideoWriter, encode_png
from vitalskills.learning.lerobot_io.stats import StatsAccumulator

CODEBASE_VERSION = "v3.0"
CHUNK = "chunk-000/file-000"
DATA_FILE = f"data/{CHUNK}.parquet"
EPISODES_FILE = f"meta/episodes/{CHUNK}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
_IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
#: What `info.json` records of the source dataset besides its arrays.
_KEPT = "kept in meta/info.json's `vitalskills` block, not a LeRobot feature"


@dataclass
class ExportResult:
    """What an export wrote and what it could not carry as LeRobot features."""

    out: Path
    episodes: int
    frames: int
    columns: list[Column]
    unmapped: list[Unmapped] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)


def _arrow_type(column: Column) -> pa.DataType:
    if column.dtype in ("image", "video"):
        return _IMAGE_TYPE
    value = pa.from_numpy_dtype(np.dtype(column.dtype))
    return value if column.shape == (1,) else pa.list_(value, column.shape[0])


def _hf_feature(column: Column) -> dict[str, Any]:
    """The column as Hugging Face `datasets` describes it in a Parquet file's metadata."""
    if column.dtype == "image":
        return {"_type": "Image"}
    value = {"dtype": column.dtype, "_type": "Value"}
    if column.shape == (1,):
        return value
    return {"feature": value, "length": column.shape[0], "_type": "List"}


def _index_features() -> dict[str, dict[str, Any]]:
    scalar = {"shape": [1], "names": None}
    return {
        "timestamp": {"dtype": "float32", **scalar},
        "frame_index": {"dtype": "int64", **scalar},
        "episode_index": {"dtype": "int64", **scalar},
        "index": {"dtype": "int64", **scalar},
        "task_index": {"dtype": "int64", **scalar},
    }


def _data_schema(columns: list[Column]) -> pa.Schema:
    stored = [column for column in columns if column.dtype != "video"]
    fields = [pa.field(column.key, _arrow_type(column)) for column in stored]
    fields += [
        pa.field("timestamp", pa.float32()),
        pa.field("frame_index", pa.int64()),
        pa.field("episode_index", pa.int64()),
        pa.field("index", pa.int64()),
        pa.field("task_index", pa.int64()),
    ]
    hf = {column.key: _hf_feature(column) for column in stored}
    hf.update(
        {key: {"dtype": spec["dtype"], "_type": "Value"} for key, spec in _index_features().items()}
    )
    metadata = {"huggingface": json.dumps({"info": {"features": hf}})}
    return pa.schema(fields, metadata=metadata)


def column_values(column: Column, episode: Episode) -> np.ndarray:
    """The column's per-frame values: (T, H, W, C) uint8 images or (T, n) numbers."""
    length = len(episode)
    parts = [episode.frames[source.key] for source in column.sources]
    if column.kind == "rgb":
        return parts[0]
    if column.kind == "mask":
        return parts[0].reshape(length, *column.shape).astype(np.uint8, copy=False)
    return np.concatenate([part.reshape(length, -1) for part in parts], axis=1).astype(
        column.dtype, copy=False
    )


def _arrow_column(column: Column, values: np.ndarray) -> pa.Array:
    if column.dtype == "image":
        images = [{"bytes": encode_png(frame), "path": None} for frame in values]
        return pa.array(images, type=_IMAGE_TYPE)
    if column.shape == (1,):
        return pa.array(values[:, 0])
    flat = pa.array(values.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, column.shape[0])


def _tasks_table(task: str) -> pa.Table:
    """`meta/tasks.parquet` as pandas writes it: the task text is the frame's index."""
    pandas = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
    }
    schema = pa.schema(
        [("task_index", pa.int64()), ("__index_level_0__", pa.string())],
        metadata={"pandas": json.dumps(pandas)},
    )
    return pa.table({"task_index": [0], "__index_level_0__": [task]}, schema=schema)


def _unmapped_metadata(dataset: DemoDataset) -> list[Unmapped]:
    info = dataset.info
    items = [
        Unmapped("condition, source, robot capabilities, created", _KEPT),
        Unmapped("episode seeds, success flags and extra fields", _KEPT),
    ]
    if info.mask_labels:
        items.append(Unmapped("mask label names (`mask_labels`)", _KEPT))
    if info.derived:
        items.append(Unmapped("how derived arrays were made (`derived`)", _KEPT))
    if info.control_hz != round(info.control_hz):
        items.append(
            Unmapped(
                f"control rate {info.control_hz:g} Hz",
                f"LeRobot's fps is a whole number: written as {round(info.control_hz)}, "
                "the exact rate is kept in the `vitalskills` block",
            )
        )
    return items


def _is_lerobot(root: Path) -> bool:
    try:
        info = json.loads((root / "meta" / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and "codebase_version" in info


def export_lerobot(
    root: Path,
    out: Path,
    *,
    video: bool = False,
    task_text: str | None = None,
    exclude: Sequence[str] = (),
    on_episode: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write the dataset at `root` as a LeRobotDataset v3.0 folder `out`.

    The folder is written beside `out` under a hidden name and renamed when complete,
    so a failed export leaves nothing at `out`.

    Args:
        root: a vitalskills dataset folder (from `collect`).
        out: the LeRobot folder to create; must not exist.
        video: colour cameras as H.264 MP4 (lossy, small) instead of PNG frames.
        task_text: the task as LeRobot stores it (default: the dataset's task name).
        exclude: shell-style patterns of array keys to leave out, e.g. `privileged.*`
            (LeRobot policies take every image feature as an input); listed as unmapped.
        on_episode: called with (episodes done, episodes) after each episode.

    Raises:
        DatasetError: `root` is not a dataset or is empty, `out` exists, or a camera
            cannot be encoded as video.
    """
    if _is_lerobot(Path(root)):
        raise DatasetError(
            f"`{root}` is a LeRobot dataset already, not a vitalskills one",
            hint=f"to bring it in: `vitalskills dataset import {root} OUT`",
        )
    dataset = DemoDataset(root)
    if len(dataset) == 0:
        raise DatasetError(f"dataset `{root}` has no episodes to export")
    out = Path(out)
    if out.exists():
        raise DatasetError(
            f"`{out}` already exists", hint="export into a new folder (it is created)"
        )
    info = dataset.info
    unused = [p for p in exclude if not any(fnmatch.fnmatchcase(k, p) for k in info.features)]
    if unused:
        raise DatasetError(
            f"`--exclude {unused[0]}` matches no array of `{root}`",
            hint=f"its arrays: {', '.join(info.features)}",
        )
    plan: Plan = plan_export(info.features, video=video, exclude=exclude)
    plan.unmapped += _unmapped_metadata(dataset)
    fps = max(1, round(info.control_hz))
    task = task_text or info.task
    with new_folder(out) as tmp:
        frames, metas = _write(dataset, tmp, plan.columns, fps, task, on_episode)
        features = {column.key: column.feature() for column in plan.columns}
        for column in plan.columns:
            if column.dtype == "video":
                features[column.key]["info"] = metas["videos"][column.key]
        features.update(_index_features())
        lerobot_info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": str(info.robot.get("name", "vitalskills")),
            "total_episodes": len(dataset),
            "total_frames": frames,
            "total_tasks": 1,
            "chunks_size": 1000,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": fps,
            "splits": {"train": f"0:{len(dataset)}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if video and metas["videos"] else None,
            "features": features,
            "vitalskills": {
                "info": info.model_dump(mode="json"),
                "episodes": [meta.model_dump(mode="json") for meta in metas["episodes"]],
                "columns": {column.key: column.record() for column in plan.columns},
                "unmapped": [str(item) for item in plan.unmapped],
                "lossy": plan.lossy,
            },
        }
        (tmp / "meta" / "info.json").write_text(
            json.dumps(lerobot_info, indent=4, ensure_ascii=False), encoding="utf-8"
        )
        (tmp / "meta" / "stats.json").write_text(
            json.dumps(metas["stats"], indent=4), encoding="utf-8"
        )
        pq.write_table(_tasks_table(task), tmp / "meta" / "tasks.parquet")
    return ExportResult(
        out=out,
        episodes=len(dataset),
        frames=frames,
        columns=plan.columns,
        unmapped=plan.unmapped,
        lossy=plan.lossy,
    )


def _write(
    dataset: DemoDataset,
    tmp: Path,
    columns: list[Column],
    fps: int,
    task: str,
    on_episode: Callable[[int, int], None] | None,
) -> tuple[int, dict[str, Any]]:
    """Write data, videos and the episode table; return the frame count and metadata."""
    (tmp / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (tmp / "data" / "chunk-000").mkdir(parents=True)
    schema = _data_schema(columns)
    stats = StatsAccumulator()
    videos: dict[str, VideoWriter] = {}
    rows: list[dict[str, Any]] = []
    metas = []
    start = 0
    writer = pq.ParquetWriter(tmp / DATA_FILE, schema)
    try:
        for position, episode in enumerate(dataset):
            length = len(episode)
            values = {column.key: column_values(column, episode) for column in columns}
            table = {}
            own = StatsAccumulator()  # this episode's statistics, for its row
            for column in columns:
                own.add(column, values[column.key])
                if column.dtype == "video":
                    if column.key not in videos:
                        height, width = values[column.key].shape[1:3]
                        path = tmp / VIDEO_PATH.format(
                            video_key=column.key, chunk_index=0, file_index=0
                        )
                        videos[column.key] = VideoWriter(path, fps, height, width)
                    videos[column.key].add(values[column.key])
                else:
                    table[column.key] = _arrow_column(column, values[column.key])
            frame_index = np.arange(length, dtype=np.int64)
            index_values = {
                "timestamp": (frame_index / fps).astype(np.float32),
                "frame_index": frame_index,
                "episode_index": np.full(length, position, np.int64),
                "index": start + frame_index,
                "task_index": np.zeros(length, np.int64),
            }
            for key, array in index_values.items():
                table[key] = pa.array(array)
                own.add_index(key, array)
            writer.write_table(pa.table(table, schema=schema))
            row = {
                "episode_index": position,
                "tasks": [task],
                "length": length,
                "data/chunk_index": 0,
                "data/file_index": 0,
                "dataset_from_index": start,
                "dataset_to_index": start + length,
            }
            for key in videos:
                row[f"videos/{key}/chunk_index"] = 0
                row[f"videos/{key}/file_index"] = 0
                row[f"videos/{key}/from_timestamp"] = start / fps
                row[f"videos/{key}/to_timestamp"] = (start + length) / fps
            row |= own.columns()
            stats.merge(own)
            row["meta/episodes/chunk_index"] = 0
            row["meta/episodes/file_index"] = 0
            rows.append(row)
            metas.append(episode.meta)
            start += length
            if on_episode is not None:
                on_episode(position + 1, len(dataset))
    finally:
        writer.close()
        for video in videos.values():
            video.close()
    pq.write_table(pa.Table.from_pylist(rows), tmp / EPISODES_FILE)
    return start, {
        "episodes": metas,
        "videos": {key: video.info() for key, video in videos.items()},
        "stats": stats.result(),
    }
