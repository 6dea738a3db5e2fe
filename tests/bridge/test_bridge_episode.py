"""A full episode through the bridge equals the same episode run in process."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cli_command, process, read_address, served
from fake_arm import FakeArm

from vitalskills.bridge import connect
from vitalskills.robot import Robot


def policy(obs: dict[str, np.ndarray], step: int) -> np.ndarray:
    """A deterministic closed-loop policy: depends on what the robot reports."""
    pose = obs["ee_pose"].astype(np.float64)
    action = np.zeros(7, dtype=np.float32)
    action[0] = 0.004 * np.sin(step + pose[0] * 10)
    action[1] = 0.003 * np.cos(step * 0.7 + pose[1] * 10)
    action[2] = 0.002 * np.sign(np.sin(step * 0.3)) + 0.0005 * float(obs["tactile"].mean())
    action[3:6] = [0.01 * np.sin(step), 0.0, -0.01 * np.cos(step)]
    action[6] = 1.0 if step % 7 < 4 else -1.0
    return action


def episode(robot: Robot, seed: int, steps: int) -> list[dict[str, np.ndarray]]:
    """Reset with `seed`, run `policy`, and return every observation and applied action."""
    obs = robot.reset(seed=seed)
    record = [dict(obs)]
    for step in range(steps):
        applied = robot.act(policy(obs, step))
        obs = robot.observe()
        record.append({**obs, "applied": applied})
    return record


def assert_same(local: list[dict], remote: list[dict]) -> None:
    assert len(local) == len(remote)
    for step, (a, b) in enumerate(zip(local, remote, strict=True)):
        assert sorted(a) == sorted(b), f"step {step}: keys differ"
        for key in a:
            assert a[key].dtype == b[key].dtype, f"step {step} `{key}` dtype"
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {step} `{key}`")


def test_client_is_a_robot(endpoint: str) -> None:
    with served(bind=endpoint) as server, connect(server.address) as client:
        assert isinstance(client, Robot)
        assert client.capabilities() == FakeArm().capabilities()


def test_fake_arm_episode_equals_in_process(endpoint: str) -> None:
    local = episode(FakeArm(), seed=5, steps=40)
    with served(bind=endpoint) as server, connect(server.address) as client:
        remote = episode(client, seed=5, steps=40)
    assert_same(local, remote)
    # The episode really moved the arm, so equality is not trivial.
    assert not np.array_equal(local[0]["ee_pose"], local[-1]["ee_pose"])


def test_scene_crosses_the_bridge() -> None:
    expected = FakeArm().scene()
    with served() as server, connect(server.address) as client:
        frame = client.scene()
    np.testing.assert_array_equal(frame.rgb, expected.rgb)
    np.testing.assert_array_equal(frame.depth, expected.depth)
    np.testing.assert_array_equal(frame.intrinsics, expected.intrinsics)
    np.testing.assert_array_equal(frame.extrinsics, expected.extrinsics)
    np.testing.assert_array_equal(frame.segmentation["socket"], expected.segmentation["socket"])
    np.testing.assert_array_equal(frame.objects["socket"], expected.objects["socket"])
    assert frame.labels == expected.labels


@pytest.mark.slow
def test_simulator_episode_through_served_cli_equals_in_process() -> None:
    """`vitalskills bridge serve --driver sim:TASK` in a subprocess against SimRobot here."""
    from vitalskills.sim import SimRobot

    steps = 12
    with SimRobot("plug_in_socket", seed=2) as robot:
        local = episode(robot, seed=7, steps=steps)
        local_scene = robot.scene()
    command = cli_command(
        "bridge", "serve", "--driver", "sim:plug_in_socket", "--seed", "2",
        "--bind", "tcp://127.0.0.1:*",
    )  # fmt: skip
    with process(command) as proc:
        address = read_address(proc)
        with connect(address, timeout_s=30) as client:
            assert client.capabilities().name == "sim:plug_in_socket"
            remote = episode(client, seed=7, steps=steps)
            remote_scene = client.scene()
    assert_same(local, remote)
    np.testing.assert_array_equal(local_scene.rgb, remote_scene.rgb)
    np.testing.assert_array_equal(local_scene.depth, remote_scene.depth)
    assert local_scene.labels == remote_scene.labels
    for name, mask in local_scene.segmentation.items():
        np.testing.assert_array_equal(mask, remote_scene.segmentation[name])
