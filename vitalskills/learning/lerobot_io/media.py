"""Frames as LeRobot stores them: PNG bytes in Parquet, or MP4 video through PyAV.

PNG is lossless: an RGB frame or a 1-channel label mask comes back byte for byte. Video
is H.264 (yuv420p), which LeRobot's loaders decode; it changes pixels, so masks are
never written as video.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vitalskills.learning.errors import DatasetError

#: H.264 settings: near-transparent quality, a key frame every 2 frames as LeRobot
#: writes them (its loader seeks to key frames, so short groups keep random access cheap).
CODEC = "libx264"
CRF = "18"
GOP = 2


def encode_png(frame: np.ndarray) -> bytes:
    """Encode one uint8 frame, (H, W, 3) RGB or (H, W) / (H, W, 1) labels, as PNG."""
    array = np.ascontiguousarray(frame)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8, copy=False)).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes, where: str, *, labels: bool = False) -> np.ndarray:
    """Decode PNG (or any image PIL reads) to uint8 (H, W, 3) colour or, for labels, (H, W).

    Label images keep their values: a grey (`L`) image as is, a palette (`P`) image as
    its palette indices, which is how segmentation masks are often saved.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if labels:
                array = np.asarray(image if image.mode in ("L", "P") else image.convert("L"))
            else:
                array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
            return array.astype(np.uint8, copy=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{where}: the image does not decode: {error}") from None


class VideoWriter:
    """Append RGB frames to one MP4 file; frame `n` has timestamp `n / fps`."""

    def __init__(self, path: Path, fps: int, height: int, width: int) -> None:
        if height % 2 or width % 2:
            raise DatasetError(
                f"H.264 video needs an even image size, `{path.parent.name}` is {width}x{height}",
                hint="export without --video (lossless PNG frames)",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.frames = 0
        self._container = av.open(str(path), mode="w")
        self._stream = self._container.add_stream(CODEC, rate=fps)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": CRF, "g": str(GOP), "preset": "medium"}

    def add(self, frames: np.ndarray) -> None:
        """Encode (T, H, W, 3) uint8 frames after the ones already written."""
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.frames  # in the encoder's time base, 1 / fps
            self._container.mux(self._stream.encode(frame))
            self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def info(self) -> dict[str, object]:
        """The `info` LeRobot keeps with a video feature."""
        return {
            "video.height": self._stream.height,
            "video.width": self._stream.width,
            "video.codec": "h264",
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": self.fps,
            "video.channels": 3,
            "has_audio": False,
        }


class VideoReader:
    """Read an MP4 file's frames in time order, by timestamp, without seeking back."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise DatasetError(f"video file `{path}` is missing")
        self.path = path
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as error:
            raise DatasetError(f"video file `{path}` does not open: {error}") from None
        self._frames = self._decode()
        self._next: tuple[float, np.ndarray] | None = None
        self.position = -1.0  # timestamp of the last frame taken

    def _decode(self) -> Iterator[tuple[float, np.ndarray]]:
        try:
            for frame in self._container.decode(video=0):
                yield float(frame.time), frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:
            raise DatasetError(f"video file `{self.path}` is corrupt: {error}") from None

    def take(self, start: float, count: int, fps: float) -> np.ndarray:
        """Return the `count` frames at `start + i / fps`, each within half a frame."""
        half = 0.5 / fps
        frames = []
        for i in range(count):
            wanted = start + i / fps
            while True:
                if self._next is None:
                    self._next = next(self._frames, None)
                    if self._next is None:
                        raise DatasetError(
                            f"video file `{self.path}` ends before {wanted:.3f} s",
                            hint="the dataset's episode table and its videos disagree",
                        )
                time, rgb = self._next
                if time < wanted - half:
                    self._next = None  # an earlier frame, not part of this episode
                    continue
                if time > wanted + half:
                    raise DatasetError(
                        f"video file `{self.path}` has no frame at {wanted:.3f} s "
                        f"(next one at {time:.3f} s)"
                    )
                frames.append(rgb)
                self._next = None
                self.position = time
                break
        return np.stack(frames)

    def close(self) -> None:
        """Close the file."""
        self._container.close()
