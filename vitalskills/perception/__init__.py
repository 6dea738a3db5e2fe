"""Perception: ground a text query in a scene RGB-D frame to a 3D target (`locate`).

    grounder = make_grounder("owlv2-sam")          # by name, from the user's config
    result = grounder.locate(frame, "power strip")  # a LocateResult in the base frame

Backends load their models only when built, so importing this package is light.
"""

from vitalskills.perception.config import PerceptionConfig, load_config
from vitalskills.perception.errors import (
    BadConfig,
    BadFrame,
    PerceptionError,
    UnknownGrounder,
    WeightsNotFound,
)
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.frames import read_frame
from vitalskills.perception.grounder import Grounder, LocateResult

__all__ = [
    "BadConfig",
    "BadFrame",
    "Grounder",
    "LocateResult",
    "PerceptionConfig",
    "PerceptionError",
    "UnknownGrounder",
    "WeightsNotFound",
    "load_config",
    "make_grounder",
    "read_frame",
]
