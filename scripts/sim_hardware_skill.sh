#!/usr/bin/env bash
# Make a skill as on a real robot, with the simulator served as hardware:
# serve (green screen) -> collect with the scripted stand-in operator -> chroma masks
# -> BC from real signals -> evaluate in the simulator's `scene` condition.
#
#   scripts/sim_hardware_skill.sh TASK SKILL OUT [extra `train bc` options]
set -euo pipefail
task=$1 skill=$2 out=$3
shift 3
mkdir -p "$out"
source "$(dirname "$0")/lib/serve_hardware.sh"
serve_hardware "$task" "$out/serve.log"
uv run --frozen vitalskills collect --task "$task" --robot "ipc://$sock/arm.sock" \
    --teleop expert --operator-view "ipc://$sock/eyes.sock" --episodes 32 --out "$out/data"
kill $server
uv run --frozen vitalskills masks "$out/data" --chroma green
uv run --frozen vitalskills train bc --data "$out/data" --out "$out/skills/$skill" --name "$skill" \
    --image-size 96 --ensemble-k -1 "$@"
uv run --frozen vitalskills eval --task "$task" --skill "$skill" --skills "$out/skills" \
    --no-residual --condition scene --episodes 30 --seed 10000 --json
