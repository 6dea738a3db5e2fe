"""The bridge's wire format: one msgpack header frame, then one raw frame per array.

No pickle anywhere: headers are msgpack maps of plain values (no extension types),
arrays travel as their raw little-endian bytes with dtype and shape in the header.
docs/bridge-protocol.md is the normative description; this module implements it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from vitalskills.robot import RobotError, SceneFrame

#: Protocol versions this implementation speaks, oldest first. Version 1 is not served:
#: its commands carried nothing that let a restarted server refuse them.
SUPPORTED_VERSIONS: tuple[int, ...] = (2,)
PROTOCOL_VERSION = SUPPORTED_VERSIONS[-1]

#: Largest header frame accepted, in bytes.
MAX_HEADER_BYTES = 64 * 1024
#: Largest whole message (header plus arrays) accepted by default, in bytes.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Most array frames one message may carry.
MAX_ARRAYS = 64
MAX_NDIM = 8
#: Every array dimension is below this (numpy cannot index past 2**63 elements).
MAX_DIM = 2**31

#: Wire dtype names and their little-endian numpy dtypes.
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in (
        "bool",
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float16",
        "float32",
        "float64",
    )
}

#: Wire names of the native dtypes (numpy dtypes compare equal across byte-order spellings
#: on little-endian machines, so native arrays are sent as they are).
_WIRE_NAMES: dict[np.dtype, str] = {dtype: name for name, dtype in DTYPES.items()}

#: Request types a server understands.
REQUEST_TYPES = (
    "hello",
    "capabilities",
    "reset",
    "observe",
    "act",
    "stop",
    "estop",
    "scene",
    "heartbeat",
    "operator",
)

#: What an `operator` request may ask a person in the lab to do (see `HardwareSim`).
OPERATOR_REQUESTS = ("reseat", "move_target")


class ErrorCode:
    """Stable error codes carried in error replies (see docs/bridge-protocol.md)."""

    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    OVERSIZED = "oversized"
    VERSION = "version"
    UNKNOWN_TYPE = "unknown_type"
    BAD_REQUEST = "bad_request"
    UNSUPPORTED = "unsupported"
    DRIVER_ERROR = "driver_error"
    WATCHDOG = "watchdog"
    PROTECTIVE_STOP = "protective_stop"
    ESTOP = "estop"
    STALE = "stale"

    SAFETY = frozenset({WATCHDOG, PROTECTIVE_STOP, ESTOP})


class ProtocolError(RobotError):
    """A message broke the wire format; `wire_code` is the error code sent back."""

    code = "R010"

    def __init__(self, wire_code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.wire_code = wire_code


@dataclass
class Message:
    """One decoded message: its header fields and its named arrays."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.header.get("type", ""))


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(ErrorCode.MALFORMED, f"msgpack extension type {code} is not allowed")


#: One msgpack packer per thread (a reused packer is twice as fast as `msgpack.packb`).
_packers = threading.local()

#: Array-table entries already built, by (name, dtype, shape): a control loop sends the
#: same arrays every step. Never mutated once built; cleared when it grows past the limit.
_specs: dict[tuple[str, np.dtype, tuple[int, ...]], dict[str, Any]] = {}
_MAX_CACHED_SPECS = 1024


def _packer() -> msgpack.Packer:
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer


def encode(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list:
    """Encode a header and named arrays as the frames of one message.

    Arrays are sent without copying when they are already contiguous little-endian.
    """
    frames: list = [b""]
    specs = []
    for name, value in (arrays or {}).items():
        array = value if type(value) is np.ndarray else np.asarray(value)
        key = (name, array.dtype, array.shape)
        spec = _specs.get(key)  # a hit means the dtype is already a wire dtype
        if spec is None:
            array = _wire_array(array, name)
            if len(_specs) >= _MAX_CACHED_SPECS:
                _specs.clear()
            wire = _WIRE_NAMES[array.dtype]
            spec = {"name": name, "dtype": wire, "shape": list(array.shape)}
            _specs[(name, array.dtype, array.shape)] = spec
        specs.append(spec)
        try:
            frames.append(array.data.cast("B"))
        except TypeError:  # not C-contiguous, or empty (memoryview cannot cast those)
            frames.append(np.ascontiguousarray(array).data.cast("B") if array.size else b"")
    frames[0] = _packer().pack({**header, "arrays": specs})
    return frames


def _wire_array(array: np.ndarray, name: str) -> np.ndarray:
    """`array` as C-contiguous in its wire dtype (converted, e.g. big- to little-endian)."""
    wire = _WIRE_NAMES.get(array.dtype) or _WIRE_NAMES.get(array.dtype.newbyteorder("<"))
    if wire is None:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"array `{name}` has dtype {array.dtype}, which the bridge cannot carry",
            hint=f"convert it to one of: {', '.join(DTYPES)}",
        )
    return array.astype(DTYPES[wire], order="C", copy=False)  # keeps 0-d arrays 0-d


def decode(frames: Sequence[bytes | memoryview], max_bytes: int) -> Message:
    """Decode one message's frames (without routing frames); raise `ProtocolError`.

    Checks, in order: size limits, the header (a msgpack map with no extension
    types), the array table, then that each array frame has exactly its bytes.
    """
    count = len(frames) - 1  # array frames
    if count < 0:
        raise ProtocolError(ErrorCode.MALFORMED, "empty message")
    head_size = len(frames[0])
    if head_size > MAX_HEADER_BYTES:
        raise ProtocolError(
            ErrorCode.OVERSIZED, f"header of {head_size} bytes exceeds {MAX_HEADER_BYTES}"
        )
    total = sum(map(len, frames)) if count else head_size
    if total > max_bytes:
        raise ProtocolError(
            ErrorCode.OVERSIZED, f"message of {total} bytes exceeds the limit of {max_bytes}"
        )
    if count > MAX_ARRAYS:
        raise ProtocolError(
            ErrorCode.OVERSIZED, f"{count} array frames exceed the limit of {MAX_ARRAYS}"
        )
    header = _unpack_header(frames[0])
    specs = header.pop("arrays", [])
    if type(specs) is not list:
        raise ProtocolError(ErrorCode.MALFORMED, "header field `arrays` must be a list")
    if len(specs) != count:
        wire = ErrorCode.TRUNCATED if len(specs) > count else ErrorCode.MALFORMED
        raise ProtocolError(wire, f"header announces {len(specs)} arrays but {count} frames follow")
    arrays: dict[str, np.ndarray] = {}
    for index, spec in enumerate(specs, 1):
        name, dtype, shape, expected = _array_spec(spec)
        if name in arrays:
            raise ProtocolError(ErrorCode.MALFORMED, f"two arrays are both named `{name}`")
        frame = frames[index]
        if len(frame) != expected:
            wire = ErrorCode.TRUNCATED if len(frame) < expected else ErrorCode.MALFORMED
            raise ProtocolError(
                wire, f"array `{name}` needs {expected} bytes, its frame has {len(frame)}"
            )
        array = np.frombuffer(frame, dtype=dtype)
        arrays[name] = array if len(shape) == 1 else array.reshape(shape)
    return Message(header, arrays)


def _unpack_header(data: bytes | memoryview) -> dict[str, Any]:
    try:
        header = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext)
    except ProtocolError:
        raise
    except msgpack.ExtraData:
        raise ProtocolError(ErrorCode.MALFORMED, "bytes follow the header map") from None
    except ValueError as error:
        # msgpack bounds every declared length by the bytes left: a count that exceeds
        # them (`exceeds max_map_len(2)`) is a header cut short, like `incomplete input`.
        if "incomplete" in str(error) or "exceeds max_" in str(error):
            raise ProtocolError(ErrorCode.TRUNCATED, "the header ends inside a value") from None
        raise ProtocolError(ErrorCode.MALFORMED, f"the header is not msgpack: {error}") from None
    except (TypeError, msgpack.UnpackException) as error:
        raise ProtocolError(ErrorCode.MALFORMED, f"the header is not msgpack: {error}") from None
    if type(header) is not dict:
        raise ProtocolError(
            ErrorCode.MALFORMED, f"the header must be a msgpack map, not {type(header).__name__}"
        )
    return header


def _array_spec(spec: Any) -> tuple[str, np.dtype, list[int], int]:
    """Check one array-table entry; return name, dtype, shape and its size in bytes."""
    if type(spec) is not dict:
        raise ProtocolError(ErrorCode.MALFORMED, "each `arrays` entry must be a map")
    name, wire, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if type(name) is not str or not name:
        raise ProtocolError(ErrorCode.MALFORMED, "an array entry has no `name` string")
    dtype = DTYPES.get(wire) if type(wire) is str else None
    if dtype is None:
        raise ProtocolError(
            ErrorCode.MALFORMED,
            f"array `{name}` has unknown dtype {wire!r}; known: {', '.join(DTYPES)}",
        )
    size = dtype.itemsize
    if type(shape) is list and len(shape) <= MAX_NDIM:
        for n in shape:
            if type(n) is not int or not 0 <= n < MAX_DIM:  # `type is`: no bools
                break
            size *= n
        else:
            return name, dtype, shape, size
    raise ProtocolError(
        ErrorCode.MALFORMED,
        f"array `{name}` shape must be a list of at most {MAX_NDIM} ints in [0, 2**31)",
    )


def error_header(
    request_id: Any, request_type: str, wire_code: str, message: str, hint: str | None = None
) -> dict:
    """Build the header of an error reply."""
    error = {"code": wire_code, "message": message}
    if hint:
        error["hint"] = hint
    return {
        "v": PROTOCOL_VERSION,
        "type": request_type,
        "id": request_id,
        "ok": False,
        "error": error,
    }


def scene_to_wire(frame: SceneFrame) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a `SceneFrame` into header fields and named arrays."""
    arrays = {
        "rgb": frame.rgb,
        "depth": frame.depth,
        "intrinsics": frame.intrinsics,
        "extrinsics": frame.extrinsics,
    }
    arrays.update({f"segmentation/{k}": v for k, v in frame.segmentation.items()})
    arrays.update({f"objects/{k}": v for k, v in frame.objects.items()})
    return {"labels": {k: list(v) for k, v in frame.labels.items()}}, arrays


def scene_from_wire(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> SceneFrame:
    """Rebuild a `SceneFrame` from a `scene` reply."""
    try:
        return SceneFrame(
            rgb=arrays["rgb"],
            depth=arrays["depth"],
            intrinsics=arrays["intrinsics"],
            extrinsics=arrays["extrinsics"],
            segmentation=_prefixed(arrays, "segmentation/"),
            objects=_prefixed(arrays, "objects/"),
            labels={str(k): [str(x) for x in v] for k, v in header.get("labels", {}).items()},
        )
    except (KeyError, AttributeError, TypeError) as error:
        raise ProtocolError(ErrorCode.MALFORMED, f"scene reply lacks or garbles {error}") from None


def _prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
