"""The workspace box holds on what the arm actually does, whatever the client sends.

Real servers on loopback in front of the MuJoCo simulator and of the kinematic test
arm (both clip each action component themselves, as many arms do). First the
sequence from the bug report (turn about z, press into the +x face, slide along -y),
then a hypothesis state machine of random turns, pushes and slides against random
boxes that checks the invariants of docs/bridge-protocol.md after every step.

Sequences: `VITALSKILLS_BRIDGE_SEQUENCES` (default 12 per arm, for CI); the figures in
docs/benchmarks.md come from

    VITALSKILLS_BRIDGE_SEQUENCES=500 uv run pytest tests/bridge/test_bridge_workspace.py -s
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fake_arm import FakeArm
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from vitalskills.bridge import BridgeClient, BridgeServer, SafetyLimits, connect
from vitalskills.bridge.limits import box_excursion
from vitalskills.robot import SafetyStop
from vitalskills.robot.geometry import quat_to_matrix

#: How far outside the box the measured end effector may be (the tracking tolerance).
TOLERANCE_M = 0.002
SEQUENCES = int(os.environ.get("VITALSKILLS_BRIDGE_SEQUENCES", "12"))
#: Room for float32 rounding in the applied action.
ROUNDING = 1e-6


class ArmHost:
    """One arm on a thread of its own (so GL contexts stay on the thread that made
    them), served with the limits each sequence asks for."""

    def __init__(self, make_arm: Callable[[], Any]) -> None:
        self.arm: Any = None
        self._requests: queue.Queue = queue.Queue()
        self._replies: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(make_arm,), daemon=True)
        self._thread.start()

    def serve(self, seed: int, half: tuple[float, float, float]) -> tuple[str, np.ndarray]:
        """Serve the arm with a box of half-sizes `half` around its home after `reset(seed)`."""
        self._stop.set()  # ends the previous server, if any
        self._requests.put((seed, half))
        reply = self._replies.get(timeout=120)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def start_pose(self, measured: np.ndarray) -> np.ndarray:
        """Where the next action starts: the arm's commanded pose, if it has one.

        Read between requests, while the server thread waits on its socket."""
        commanded = getattr(self.arm, "commanded_pose", None)
        return measured if commanded is None else np.asarray(commanded(), dtype=np.float64)

    def close(self) -> None:
        self._stop.set()
        self._requests.put(None)
        self._thread.join(timeout=30)

    def _run(self, make_arm: Callable[[], Any]) -> None:
        try:
            arm = self.arm = make_arm()
        except BaseException as error:  # surfaces in `serve`
            self._replies.put(error)
            return
        while (request := self._requests.get()) is not None:
            seed, half = request
            try:
                home = np.asarray(arm.reset(seed=seed)["ee_pose"], dtype=np.float64)
                limits = SafetyLimits(
                    workspace_min=tuple(home[:3] - half),
                    workspace_max=tuple(home[:3] + half),
                    tracking_tolerance=TOLERANCE_M,
                )
                server = BridgeServer(arm, "tcp://127.0.0.1:*", limits=limits, watchdog_s=5.0)
            except BaseException as error:
                self._replies.put(error)
                continue
            self._stop = threading.Event()
            self._replies.put((server.address, home))
            server.serve(self._stop)
        close = getattr(arm, "close", None)
        if callable(close):
            close()


def make_sim() -> Any:
    from vitalskills.sim import SimRobot

    return SimRobot("plug_in_socket", condition="canonical", seed=0, image_size=32)


ARMS: dict[str, Callable[[], Any]] = {"sim": make_sim, "fake arm": lambda: FakeArm(axis_step=0.01)}


@pytest.fixture(scope="module", params=list(ARMS))
def host(request: pytest.FixtureRequest) -> Iterator[ArmHost]:
    arm_host = ArmHost(ARMS[request.param])
    yield arm_host
    arm_host.close()


@dataclass
class Tally:
    """What the sequences saw: the largest excursion and every protective stop."""

    sequences: int = 0
    steps: int = 0
    worst_m: float = 0.0
    stops: list[str] = field(default_factory=list)


def base_to_ee(pose: np.ndarray, vector: list[float]) -> np.ndarray:
    """A base-frame vector in the end-effector frame of `pose`."""
    return quat_to_matrix(pose[3:7]).T @ np.asarray(vector, dtype=np.float64)


class Probe:
    """A client that checks each action's invariants and the measured pose after it."""

    def __init__(self, client: BridgeClient, host: ArmHost, tally: Tally) -> None:
        self.client = client
        self.host = host
        self.tally = tally
        hello_limits = client.hello["limits"]
        self.limits = SafetyLimits.model_validate(
            {k: v for k, v in hello_limits.items() if k in SafetyLimits.model_fields}
        )
        self.step_limit = float(hello_limits["step_limit"])
        bounds = hello_limits["action_limits"]
        self.bounds = None if bounds is None else np.asarray(bounds, dtype=np.float64)
        self.pose = np.asarray(client.observe()["ee_pose"], dtype=np.float64)
        self.stopped = False

    def act(self, action: list[float] | np.ndarray) -> None:
        if self.stopped:
            return
        before = self.host.start_pose(self.pose)
        try:
            applied = self.client.act(np.asarray(action, dtype=np.float32)).astype(np.float64)
        except SafetyStop as stop:
            self.tally.stops.append(str(stop))
            self.stopped = True
            applied = None
        self.pose = np.asarray(self.client.observe()["ee_pose"], dtype=np.float64)
        self.tally.steps += 1
        if applied is not None:
            self.check_applied(before, applied)
        self.check_pose()

    def check_applied(self, before: np.ndarray, applied: np.ndarray) -> None:
        assert np.linalg.norm(applied[:3]) <= self.step_limit + ROUNDING
        assert np.linalg.norm(applied[3:6]) <= self.limits.max_rotation_step + ROUNDING
        if self.bounds is not None:
            assert np.all(np.abs(applied) <= self.bounds + ROUNDING), applied
        target = before[:3] + quat_to_matrix(before[3:7]) @ applied[:3]
        low = np.minimum(self.limits.workspace_min, before[:3]) - ROUNDING
        high = np.maximum(self.limits.workspace_max, before[:3]) + ROUNDING
        assert np.all((low <= target) & (target <= high)), (target, low, high)

    def check_pose(self) -> None:
        outside = box_excursion(self.pose[:3].tolist(), self.limits)
        self.tally.worst_m = max(self.tally.worst_m, outside)
        assert self.stopped or outside <= TOLERANCE_M, f"{outside * 1e3:.2f} mm outside the box"


def run_bug_report_sequence(host: ArmHost, ee_frame_slide: bool, tally: Tally) -> None:
    """Turn 0.8 rad about z, press +x for 6 steps, slide -y for 25, then hold for 5."""
    address, _ = host.serve(seed=1, half=(0.03, 0.1, 0.03))
    with connect(address) as client:
        client.reset(seed=1)
        probe = Probe(client, host, tally)
        for _ in range(8):
            probe.act([0, 0, 0, 0, 0, 0.1, 0])
        for _ in range(6):
            probe.act([*base_to_ee(probe.pose, [0.05, 0, 0]), 0, 0, 0, 0])
        for _ in range(25):
            slide = [0, -0.05, 0] if ee_frame_slide else base_to_ee(probe.pose, [0, -0.05, 0])
            probe.act([*slide, 0, 0, 0, 0])
        for _ in range(5):
            probe.act([0, 0, 0, 0, 0, 0, 0])
    tally.sequences += 1


@pytest.mark.parametrize("frame", ["base", "end-effector"])
def test_turn_press_and_slide_stay_in_the_box(host: ArmHost, frame: str) -> None:
    tally = Tally()
    run_bug_report_sequence(host, frame == "end-effector", tally)
    print(f"turn/press/slide ({frame} -y): worst {tally.worst_m * 1e3:.2f} mm outside")
    assert tally.stops == []
    assert tally.worst_m <= TOLERANCE_M


unit = st.tuples(*[st.floats(-1, 1)] * 3).filter(lambda v: math.hypot(*v) > 0.1)


class WorkspaceMachine(RuleBasedStateMachine):
    """Random turns, pushes and slides against a random box around the home pose."""

    host: ArmHost
    tally: Tally

    @initialize(
        seed=st.integers(0, 2**16),
        half=st.tuples(st.floats(0.005, 0.05), st.floats(0.005, 0.1), st.floats(0.005, 0.04)),
    )
    def start(self, seed: int, half: tuple[float, float, float]) -> None:
        address, _ = self.host.serve(seed, half)
        self.client = connect(address)
        self.client.reset(seed=seed)
        self.probe = Probe(self.client, self.host, self.tally)

    @rule(angle=st.floats(-0.6, 0.6), axis=st.sampled_from(["z", "any"]), direction=unit)
    def turn(self, angle: float, axis: str, direction: tuple[float, float, float]) -> None:
        """About the tool axis (yaw), or a small turn about any axis."""
        if axis == "z":
            self.probe.act([0, 0, 0, 0, 0, angle, 0])
        else:
            rotvec = np.asarray(direction) / np.linalg.norm(direction) * angle * 0.3
            self.probe.act([0, 0, 0, *rotvec, 0])

    @rule(direction=unit, size=st.floats(0.002, 0.08), steps=st.integers(1, 8))
    def push(self, direction: tuple[float, float, float], size: float, steps: int) -> None:
        """Toward a random base-frame direction, usually into a face."""
        move = np.asarray(direction) / np.linalg.norm(direction) * size
        for _ in range(steps):
            self.probe.act([*base_to_ee(self.probe.pose, move.tolist()), 0, 0, 0, 0])

    @rule(
        axis=st.integers(0, 2),
        sign=st.sampled_from([-1.0, 1.0]),
        size=st.floats(0.005, 0.08),
        steps=st.integers(1, 25),
        frame=st.sampled_from(["base", "ee"]),
    )
    def slide(self, axis: int, sign: float, size: float, steps: int, frame: str) -> None:
        """Along one axis of the base or the end-effector frame, for many steps."""
        move = [0.0, 0.0, 0.0]
        move[axis] = sign * size
        for _ in range(steps):
            ee_move = move if frame == "ee" else base_to_ee(self.probe.pose, move).tolist()
            self.probe.act([*ee_move, 0, 0, 0, 0])

    @invariant()
    def inside(self) -> None:
        if hasattr(self, "probe"):
            self.probe.check_pose()

    def teardown(self) -> None:
        if hasattr(self, "probe"):
            for _ in range(5):  # let the arm settle where it was sent
                self.probe.act([0, 0, 0, 0, 0, 0, 0])
            self.client.close()
            self.tally.sequences += 1


def test_random_sequences_keep_the_arm_in_its_box(host: ArmHost) -> None:
    tally = Tally()
    machine = type("Machine", (WorkspaceMachine,), {"host": host, "tally": tally})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    print(
        f"{tally.sequences} sequences, {tally.steps} steps: worst "
        f"{tally.worst_m * 1e3:.2f} mm outside the box, {len(tally.stops)} protective stops"
    )
    assert tally.sequences >= SEQUENCES
    assert tally.worst_m <= TOLERANCE_M
