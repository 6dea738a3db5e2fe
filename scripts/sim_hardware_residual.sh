#!/usr/bin/env bash
# Residual RL as on a real robot, with the simulator served as hardware:
# serve one canonical scene (green screen) -> goal from the demonstrations -> train the
# residual through the bridge -> evaluate in the simulator's `scene` condition (scenes
# the RL never saw). Follows scripts/sim_hardware_skill.sh (its OUT holds data/ and skills/).
#
#   scripts/sim_hardware_residual.sh TASK SKILL HW_OUT OUT [extra `train residual` options]
set -euo pipefail
task=$1 skill=$2 hw=$3 out=$4
shift 4
mkdir -p "$out/skills"
source "$(dirname "$0")/lib/serve_hardware.sh"
serve_hardware "$task" "$out/serve.log"
uv run --frozen vitalskills goal record --from-data "$hw/data" --out "$out/goal.yaml"
uv run --frozen vitalskills train residual --robot "ipc://$sock/arm.sock" \
    --skill "$hw/skills/$skill" --goal "$out/goal.yaml" --out "$out/skills/$skill" --no-pace "$@"
kill $server
uv run --frozen vitalskills eval --task "$task" --skill "$skill" --skills "$out/skills" \
    --condition scene --episodes 30 --seed 10000 --json
