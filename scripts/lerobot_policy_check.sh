#!/usr/bin/env bash
# A real LeRobot policy as a vitalskills skill, end to end: demonstrations collected on the
# simulator -> exported to LeRobot v3.0 -> ACT trained by lerobot's own `lerobot-train`
# (a few steps: this checks the path, not the policy) -> `skills register --from-lerobot`
# -> `vitalskills run` on the simulator, the policy running in LeRobot's environment
# behind the policy protocol (docs/policy-protocol.md).
#
#   scripts/lerobot_policy_check.sh [LEROBOT_PYTHON] [WORKDIR] [STEPS]
#
# LEROBOT_PYTHON: an environment with lerobot 0.4.4 (see scripts/lerobot_check.sh); pyzmq
# and msgpack are added to it. A policy trained for a few steps does not plug anything:
# the run is expected to end with the skill failing on its timeout, cleanly, after the
# policy has answered.
set -euo pipefail
cd "$(dirname "$0")/.."
LEROBOT_PYTHON=${1:-/work/lerobot-env/bin/python}
WORK=${2:-$(mktemp -d)}
STEPS=${3:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MUJOCO_GL=${MUJOCO_GL:-egl}
VS="uv run --frozen"

uv pip install --quiet --python "$LEROBOT_PYTHON" pyzmq msgpack
rm -rf "$WORK/demos" "$WORK/lerobot" "$WORK/train" "$WORK/skills"
$VS vitalskills collect --task plug_in_socket --episodes 4 --seed 3 --image-size 96 \
    --out "$WORK/demos"
$VS vitalskills dataset export "$WORK/demos" --to lerobot "$WORK/lerobot" \
    --exclude 'privileged.*'
"$(dirname "$LEROBOT_PYTHON")/lerobot-train" --dataset.repo_id=local/plug \
    --dataset.root="$WORK/lerobot" --policy.type=act --policy.device=cpu \
    --policy.pretrained_backbone_weights=null --policy.push_to_hub=false \
    --steps="$STEPS" --batch_size=2 --num_workers=0 --save_freq="$STEPS" \
    --wandb.enable=false --output_dir="$WORK/train"
checkpoint="$WORK/train/checkpoints/last/pretrained_model"
$VS vitalskills skills register --from-lerobot "$checkpoint" --name act_plug \
    --python "$LEROBOT_PYTHON" --skills "$WORK/skills" --approach-offset 0,0,0.03
cat > "$WORK/act_plug.vtl" <<'VTL'
task act_plug "A LeRobot ACT policy, served by its own environment, plugs the charger"

locate "power strip" as strip
run skill act_plug at strip timeout 5 s
VTL
set +e
$VS vitalskills run "$WORK/act_plug.vtl" --skills "$WORK/skills" --seed 2
echo "vitalskills run exited with $?"
