#!/usr/bin/env bash
# Export a vitalskills dataset to LeRobot v3.0 and read it back with lerobot 0.4.4's own
# LeRobotDataset (video_backend="pyav"): frame counts, actions and masks must be equal.
#
#   scripts/lerobot_check.sh [LEROBOT_PYTHON] [WORKDIR]
#
# LEROBOT_PYTHON: the Python of an environment with lerobot 0.4.4 (default
# /work/lerobot-env/bin/python; make one with
#   uv venv /work/lerobot-env --python 3.11
#   uv pip install --python /work/lerobot-env/bin/python lerobot==0.4.4).
# WORKDIR (default: a new temporary folder) receives the collected dataset `demos`, the
# exports `lerobot_png` and `lerobot_video`, and `reference.npz`.
# The dataset is collected on the simulator (2 episodes of plug_in_socket, 32 px) and gets
# a keep mask (`mask.keep`, bool) from `vitalskills masks`: a chroma key over half the hue
# circle, which keeps about half of each image. Its quality does not matter here; it
# stands in for a real keep mask, so that a bool mask goes through lerobot as well as
# the simulator's label map (`privileged.wrist_mask`, uint8).
set -euo pipefail
cd "$(dirname "$0")/.."
LEROBOT_PYTHON=${1:-/work/lerobot-env/bin/python}
WORK=${2:-$(mktemp -d)}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MUJOCO_GL=${MUJOCO_GL:-egl}
VS="uv run --frozen"

"$LEROBOT_PYTHON" -c "import lerobot; print('lerobot', lerobot.__version__)"
rm -rf "$WORK/demos" "$WORK/lerobot_png" "$WORK/lerobot_video"
$VS vitalskills collect --task plug_in_socket --episodes 2 --seed 3 --image-size 32 \
    --out "$WORK/demos"
$VS vitalskills masks "$WORK/demos" --chroma green --hue-range 0,180 --min-saturation 0.05 \
    --min-value 0.05 --no-sheets
$VS vitalskills dataset export "$WORK/demos" --to lerobot "$WORK/lerobot_png"
$VS vitalskills dataset export "$WORK/demos" --to lerobot "$WORK/lerobot_video" --video
$VS python - "$WORK/demos" "$WORK/reference.npz" <<'EOF'
"""Write what lerobot must read back: episode lengths, actions, images by LeRobot key."""
import sys
from pathlib import Path

import numpy as np

from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.lerobot_io.mapping import plan_export

dataset = DemoDataset(Path(sys.argv[1]))
episodes = list(dataset)
arrays = {
    "lengths": np.array([len(e) for e in episodes]),
    "task": np.array(dataset.info.task),
    "action": np.concatenate([e.frames["action"] for e in episodes]),
    "tactile": np.concatenate([e.frames["observation.tactile"] for e in episodes]),
}
for column in plan_export(dataset.info.features, video=False).columns:
    if column.kind in ("rgb", "mask"):
        key = column.sources[0].key
        arrays[f"image:{column.key}"] = np.concatenate([e.frames[key] for e in episodes])
np.savez(sys.argv[2], **arrays)
print(f"reference: {', '.join(f'{k} {v.shape}' for k, v in arrays.items())}")
EOF
echo "== PNG frames (lossless): $WORK/lerobot_png"
"$LEROBOT_PYTHON" scripts/lerobot_check.py "$WORK/lerobot_png" "$WORK/reference.npz"
echo "== H.264 video cameras: $WORK/lerobot_video"
"$LEROBOT_PYTHON" scripts/lerobot_check.py "$WORK/lerobot_video" "$WORK/reference.npz"
