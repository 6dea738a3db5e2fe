"""Skills whose policy runs elsewhere: registered from a LeRobot checkpoint, served by a
process vitalskills starts, or by a server at an address; all through `vitalskills run`
on the simulator and the real policy protocol (ZeroMQ, msgpack header, raw arrays).

LeRobot cannot be installed beside this project's torch, so the served policies are the
stand-ins of `policy_standins/standin_policies.py` (declared there), run by the same
server program (`vitalskills/bridge/policy_server.py`) that serves LeRobot checkpoints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file
from typer.testing import CliRunner

from tests.e2e.conftest import process_gone
from vitalskills.bridge.policy_client import SERVER_SCRIPT, policy_inputs
from vitalskills.cli import app
from vitalskills.skills import SkillLibrary, load_manifest, project_skills_dir

pytestmark = pytest.mark.slow

STANDINS = Path(__file__).parent / "policy_standins"
INPUTS = {
    "observation.images.wrist": ["wrist_rgb"],
    "observation.state": ["ee_pose", "gripper"],
    "observation.tactile": ["tactile"],
}


@pytest.fixture(autouse=True)
def _standins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(STANDINS))


def standin_skill(library: Path, name: str, policy: dict) -> Path:
    """A skill folder whose manifest is the shipped plug skill's, its policy `policy`."""
    plug = SkillLibrary([project_skills_dir()]).get("plug_insert")
    data = {
        "name": name,
        "version": "1.0.0",
        "observation": {
            "cameras": [{"name": "wrist_rgb", "width": 128, "height": 128}],
            "tactile_dim": 15,
            "proprio": ["ee_pose", "gripper"],
        },
        "action": plug.action.model_dump(),
        "control_hz": plug.control_hz,
        "max_steps": plug.max_steps,
        "approach_offset": list(plug.approach_offset),
        "policy": {"inputs": INPUTS, "startup_s": 120, **policy},
    }
    folder = library / name
    folder.mkdir(parents=True)
    (folder / "skill.yaml").write_text(yaml.safe_dump(data))
    return folder


def served(factory: str) -> list[str]:
    return ["{python}", str(SERVER_SCRIPT), "--policy", f"standin_policies:{factory}", "--bind",
            "{address}"]  # fmt: skip


def run_json(task: Path, library: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["run", str(task), "--skills", str(library), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_a_policy_served_by_a_process_runs_a_task_on_the_simulator(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    standin_skill(library, "plug_served", {"kind": "process", "command": served("PlugFromBatch")})
    task = tmp_path / "plug.vtl"
    task.write_text('locate "power strip" as strip\nrun skill plug_served at strip\n')
    code, summary = run_json(task, library)
    assert code == 0, summary
    node = {n["label"]: n for n in summary["nodes"]}["run skill plug_served at strip"]
    assert node["status"] == "success" and node["reason"].startswith("`plug_served` succeeded")


@pytest.mark.parametrize(
    ("factory", "cause"),
    [("Dies", "its process exited with code 3"), ("Hangs", "no reply to `act` within 1 s")],
)
def test_a_policy_that_dies_or_hangs_fails_its_skill_and_the_task_falls_back(
    tmp_path: Path, factory: str, cause: str
) -> None:
    library = tmp_path / "lib"
    policy = {"kind": "process", "command": served(factory), "timeout_s": 1.0}
    standin_skill(library, "flaky", policy)
    task = tmp_path / "fallback.vtl"
    task.write_text(
        'locate "power strip" as strip\n'
        "try {\n  run skill flaky at strip retries 2\n} else {\n  gripper open\n}\n"
    )
    code, summary = run_json(task, library)
    assert code == 0, summary
    nodes = {n["label"]: n for n in summary["nodes"]}
    failed = nodes["run skill flaky at strip retries 2"]
    assert failed["status"] == "failure"
    assert failed["reason"].startswith(f"the policy of `flaky` failed: {cause}")
    assert nodes["gripper open"]["status"] == "success"


def test_a_remote_policy_server_at_an_address(tmp_path: Path) -> None:
    address = f"ipc://{tmp_path / 'remote.sock'}"
    command = [sys.executable, str(SERVER_SCRIPT), "--policy", "standin_policies:PlugFromBatch"]
    server = subprocess.Popen([*command, "--bind", address])
    try:
        library = tmp_path / "lib"
        standin_skill(library, "plug_remote", {"kind": "remote", "address": address})
        task = tmp_path / "plug.vtl"
        task.write_text('locate "power strip" as strip\nrun skill plug_remote at strip\n')
        code, summary = run_json(task, library)
        assert code == 0, summary
        # A server vitalskills did not start keeps running for the next client.
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()
    assert process_gone(server.pid)


def lerobot_checkpoint(folder: Path, state: int = 8, action: int = 7) -> Path:
    """A checkpoint folder in LeRobot's on-disk layout (config.json with the features,
    model.safetensors); its weights are random, since no trained one can be fetched."""
    folder.mkdir(parents=True)
    config = {
        "type": "act",
        "input_features": {
            "observation.images.wrist": {"type": "VISUAL", "shape": [3, 96, 96]},
            "observation.state": {"type": "STATE", "shape": [state]},
            "observation.tactile": {"type": "STATE", "shape": [15]},
        },
        "output_features": {"action": {"type": "ACTION", "shape": [action]}},
    }
    (folder / "config.json").write_text(json.dumps(config))
    save_file({"model.weight": np.zeros((action, 4), np.float32)}, folder / "model.safetensors")
    return folder


def register(*args: str):
    return CliRunner().invoke(app, ["skills", "register", *args])


def test_register_from_lerobot_writes_the_manifest_and_checks_shapes(tmp_path: Path) -> None:
    checkpoint = lerobot_checkpoint(tmp_path / "ckpt")
    library = tmp_path / "lib"
    common = ["--skills", str(library), "--python", "/opt/lerobot/bin/python"]
    result = register("--from-lerobot", str(checkpoint), "--name", "act_plug", *common)
    assert result.exit_code == 0, result.output
    manifest = load_manifest(library / "act_plug-1.0.0")
    assert manifest.policy.kind == "lerobot" and manifest.policy.inputs == INPUTS
    assert manifest.policy.checkpoint == "checkpoint"
    assert manifest.observation.cameras[0].width == 96 and manifest.observation.tactile_dim == 15
    assert sorted(w.path for w in manifest.weights) == [
        "checkpoint/config.json",
        "checkpoint/model.safetensors",
    ]
    assert manifest.sensors == ["wrist_rgb", "tactile", "ee_pose", "gripper"]
    verify = CliRunner().invoke(app, ["skills", "verify", "act_plug", "--skills", str(library)])
    assert verify.exit_code == 0 and "2 files verified" in verify.output
    # The files are checked before a run, as for any skill.
    (library / "act_plug-1.0.0" / "checkpoint" / "model.safetensors").write_bytes(b"changed")
    verify = CliRunner().invoke(app, ["skills", "verify", "act_plug", "--skills", str(library)])
    assert verify.exit_code == 1 and "does not match its sha256" in verify.output

    wrong = lerobot_checkpoint(tmp_path / "six", action=6)
    result = register("--from-lerobot", str(wrong), "--name", "six", *common)
    assert result.exit_code == 2
    assert "the checkpoint's action is [6], a vitalskills robot takes 7" in result.output
    odd = lerobot_checkpoint(tmp_path / "odd", state=5)
    result = register("--from-lerobot", str(odd), "--name", "odd", *common)
    assert result.exit_code == 2 and "`observation.state` [5] maps to no observation" in (
        " ".join(result.output.split())
    )
    result = register(
        "--from-lerobot", str(odd), "--name", "odd", *common, "--input", "observation.state=ee_pose"
    )
    assert result.exit_code == 2 and "has 5 values, but ee_pose give 7" in result.output
    result = register(
        "--from-lerobot", str(odd), "--name", "odd", *common, "--input", "observation.state=tactile"
    )
    assert result.exit_code == 2 and "another input gives it 15" in result.output
    result = register(
        "--from-lerobot", str(odd), "--name", "odd", *common, "--input", "observation.nope=tactile"
    )
    assert result.exit_code == 2 and "has no input feature `observation.nope`" in result.output


def test_observations_become_lerobot_features() -> None:
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    observation = {
        "wrist_rgb": image,
        "ee_pose": np.arange(7, dtype=np.float32),
        "gripper": np.array([0.5], np.float32),
        "tactile": np.ones(15, np.float32),
    }
    batch = policy_inputs(observation, INPUTS)
    np.testing.assert_allclose(batch["observation.images.wrist"], image.transpose(2, 0, 1) / 255)
    np.testing.assert_array_equal(batch["observation.state"], [0, 1, 2, 3, 4, 5, 6, 0.5])
    assert batch["observation.tactile"].shape == (15,)
    small = policy_inputs(observation, INPUTS, {"wrist_rgb": (2, 3)})["observation.images.wrist"]
    np.testing.assert_allclose(small, image[::2, ::2].transpose(2, 0, 1) / 255)
