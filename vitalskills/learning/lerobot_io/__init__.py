"""LeRobotDataset v3.0 in and out: `vitalskills dataset export --to lerobot` and `import`.

    mapping.py   which LeRobot feature holds which vitalskills arrays, both ways
    media.py     PNG frames and MP4 video (PyAV)
    stats.py     meta/stats.json
    export.py    a vitalskills dataset -> a LeRobot v3.0 folder
    importer.py  a LeRobot v3.0 folder -> a vitalskills dataset

Written with pyarrow and PyAV alone: lerobot itself is not needed (nor importable here).
Importing this package is light; each name loads its module on first use.
"""

from __future__ import annotations

from vitalskills.learning.lazy import lazy_exports

_EXPORTS = {
    "vitalskills.learning.lerobot_io.export": ("ExportResult", "export_lerobot"),
    "vitalskills.learning.lerobot_io.importer": ("ImportResult", "LeRobotFolder", "import_lerobot"),
    "vitalskills.learning.lerobot_io.mapping": ("Column", "Unmapped"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
