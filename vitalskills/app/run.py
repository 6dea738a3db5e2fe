"""Whole runs on a robot: on the simulator behind the bridge, or on `--robot ADDR`.

    compile + plan once (library only) -> load every skill's policy -> start the
    simulator's bridge server as a child process (no `--robot`) -> connect -> check the
    compiled task against the robot's capabilities -> execute -> stop the robot, close,
    stop the child

Policies load before anything starts, so an untrained skill fails in a second instead
of after the simulator came up. On the simulator, time is simulated by default: the
executor's clock advances one control period per tick (10 Hz), so a run goes as fast as
the simulator steps and its timeouts mean simulated seconds; `realtime` paces ticks at
the robot's control rate on the wall clock, as with a real robot.

Connecting to `--robot` waits at most `--connect-timeout` (and never longer than
`--timeout`) for the bridge server's hello; no answer raises `RobotNotConnected` before
anything moved, which `vitalskills run` reports with its own exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vitalskills.app.simscene import choose_scene
from vitalskills.errors import UsageError
from vitalskills.lang import CheckFailed, Task, check_task, compile_task
from vitalskills.perception.config import NoisyOracleOptions, grounder_options, load_config
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.grounder import Grounder
from vitalskills.robot import PolicyProvider, Robot, RobotCapabilities, RobotUnreachable
from vitalskills.runtime.context import Clock, ManualClock, MonotonicClock
from vitalskills.runtime.events import Subscriber
from vitalskills.runtime.executor import Executor, RunResult
from vitalskills.runtime.leaves import Locate
from vitalskills.runtime.plan import Plan, build_plan
from vitalskills.runtime.skill import RunSkill
from vitalskills.runtime.timing import PreloadedPolicies, TimedGrounder, TimedRobot, Timings
from vitalskills.skills import SkillLibrary, default_library
from vitalskills.skills.manifest import SkillManifest

if TYPE_CHECKING:
    from vitalskills.bridge.client import BridgeClient

REQUEST_TIMEOUT_S = 10.0
"""How long each request after the hello waits for its reply, on the simulator or a robot."""

SIM_HELLO_TIMEOUT_S = 10.0
"""How long the simulator's child server may take to answer the hello: it is known ready,
so only a loaded machine makes it slow, and a slow answer is better than a failed run."""


class RunRecorder(Protocol):
    """What a run needs from a recorder (`vitalskills.report.Recorder` is one)."""

    def wrap(self, robot: Robot, fetch: Robot) -> Robot: ...

    def wrap_grounders(self, grounders: dict[str, Grounder]) -> dict[str, Grounder]: ...

    def __call__(self, event: object) -> None: ...

    def finish(self, result: RunResult | None, timings: Timings) -> None: ...


@dataclass
class RunOptions:
    """How to run a task file (the options of `vitalskills run`).

    Args:
        robot: a bridge address; None starts the simulator behind the bridge.
        condition, seed, distractors: simulator settings.
        sim_task: the simulator scene; None chooses it from the task.
        grounder: the default grounder; None is `sim` on the simulator (`noisy-oracle`
            with `grounding`), else the configured default.
        grounding: `noisy-oracle` parameters for this run (`--grounding-error`,
            `--grounding-miss`), applied to every noisy-oracle grounder it uses; each is
            seeded with `seed` unless its config names a seed.
        realtime: pace the simulator at its control rate on the wall clock.
        timeout: fail the run after this many seconds (simulated on the simulator).
        connect_timeout: with `robot`, how long to wait for its bridge server's hello
            (never longer than `timeout`).
        track: a SAM 2 / EdgeTAM video model folder: the default grounder (an
            `owlv2-sam` one) follows what it found to later locates (its `track:`).
    """

    robot: str | None = None
    condition: str = "canonical"
    seed: int = 0
    distractors: int | None = None
    sim_task: str | None = None
    grounder: str | None = None
    grounding: Mapping[str, float] = field(default_factory=dict)
    skills_dirs: Sequence[Path] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)
    realtime: bool = False
    timeout: float | None = None
    connect_timeout: float = 5.0
    server_log: Path | None = None
    track: Path | None = None


@dataclass
class RunOutcome:
    """A finished run: its result, where the time went, and what it ran on."""

    result: RunResult
    timings: Timings
    info: dict[str, object]


class RobotNotConnected(RobotUnreachable):
    """No bridge server answered the hello at the robot's address: nothing ran."""


def hello_timeout(options: RunOptions) -> float:
    """How long to wait for the robot's hello: `connect_timeout`, bounded by `timeout`."""
    if options.timeout is None:
        return options.connect_timeout
    return min(options.connect_timeout, options.timeout)


def connect_robot(address: str, options: RunOptions) -> BridgeClient:
    """Connect to the robot's bridge server at `address`, waiting `hello_timeout(options)`.

    Raises:
        RobotNotConnected: no server answered the hello in that time.
        RobotError: the server refused the handshake.
        UsageError: `address` is not a zmq endpoint.
    """
    from vitalskills.bridge.client import connect

    wait = hello_timeout(options)
    try:
        return connect(address, timeout_s=REQUEST_TIMEOUT_S, connect_timeout_s=wait)
    except RobotUnreachable:
        bound = "--connect-timeout"
        if wait < options.connect_timeout:
            bound = "--timeout, which bounds --connect-timeout"
        raise RobotNotConnected(
            f"no bridge server answered at {address} within {wait:g} s",
            hint="start `vitalskills bridge serve` on the robot's computer, check the address "
            "and port (`run` has no CurveZMQ keys: a server started with --curve-secret does "
            f"not answer it), or raise {bound}",
        ) from None


def check_robot(task: Task, library: SkillLibrary, robot: RobotCapabilities) -> None:
    """Check a compiled task against the robot it is about to run on.

    Raises:
        CheckFailed: the robot lacks a sensor a skill needs (every problem, located).
    """
    errors = check_task(task, library=library, robot=robot)
    if errors:
        raise CheckFailed(errors)


def skill_nodes(plan: Plan) -> list[RunSkill]:
    return [node for node in plan.nodes if isinstance(node, RunSkill)]


def check_weights(skill: object) -> None:
    """Fail fast, before anything starts, when a skill on disk has no verified weights."""
    if isinstance(skill, SkillManifest):
        skill.weight_paths(verify=True)


def default_grounder(options: RunOptions) -> str | None:
    """The run's default grounder: `--grounder`, else the oracle on the simulator.

    Raises:
        UsageError: grounding errors were asked for on a robot, or with a grounder that
            is not a `noisy-oracle` one.
    """
    if not options.grounding:
        return options.grounder or ("sim" if options.robot is None else None)
    if options.robot is not None:
        raise UsageError(
            "`--grounding-error` and `--grounding-miss` apply only on the simulator",
            hint="they perturb the simulator's oracle; leave them out with --robot",
        )
    name = options.grounder or "noisy-oracle"
    _require_backend(
        name, "noisy-oracle", "`--grounding-error` and `--grounding-miss` perturb the "
        "simulator's oracle", "leave out --grounder, or name a grounder with `backend: "
        "noisy-oracle`",
    )  # fmt: skip
    return name


def _require_backend(name: str, wanted: str, needs: str, hint: str) -> None:
    """Raise a `UsageError` (`needs`, then what `name` is) unless its backend is `wanted`."""
    backend = grounder_options(name, load_config()).backend
    if backend != wanted:
        raise UsageError(f"{needs}, but grounder `{name}` is a `{backend}` one", hint=hint)


def check_track(options: RunOptions, default: str | None) -> None:
    """Refuse `--track` before anything starts unless the default grounder can follow.

    Raises:
        UsageError: the folder is missing, or the default grounder is not `owlv2-sam`.
    """
    if options.track is None:
        return
    if not options.track.expanduser().is_dir():
        raise UsageError(
            f"--track {options.track}: no such folder",
            hint="give a SAM 2 / EdgeTAM video model folder (see docs/perception.md)",
        )
    _require_backend(
        default or load_config().default_grounder, "owlv2-sam",
        "--track follows objects found by an `owlv2-sam` grounder",
        "name one with --grounder, e.g. --grounder fast --track ~/models/edgetam",
    )  # fmt: skip


def _grounder(
    name: str | None, seed: int, grounding: Mapping[str, float], track: Path | None = None
) -> Grounder:
    """Build grounder `name`; a `noisy-oracle` one gets the run's seed and `grounding`."""
    name = name or load_config().default_grounder
    options = grounder_options(name, load_config())
    if not isinstance(options, NoisyOracleOptions):
        return make_grounder(name, overrides={"track": str(track)} if track else None)
    seeded = {"seed": seed} if options.seed is None else {}
    return make_grounder(name, overrides={**seeded, **grounding})


def build_grounders(
    plan: Plan,
    default: str | None,
    timings: Timings,
    *,
    seed: int = 0,
    grounding: Mapping[str, float] | None = None,
    track: Path | None = None,
) -> tuple[dict[str, Grounder], str]:
    """The grounders `plan` names plus the default one (following with `track`), timed."""
    grounding = grounding or {}
    fallback = _grounder(default, seed, grounding, track)
    grounders: dict[str, Grounder] = {fallback.name: TimedGrounder(fallback, timings)}
    for node in plan.nodes:
        if isinstance(node, Locate) and node.grounder and node.grounder not in grounders:
            built = _grounder(node.grounder, seed, grounding)
            grounders[node.grounder] = TimedGrounder(built, timings)
    return grounders, fallback.name


def sim_server_args(options: RunOptions) -> list[str]:
    """The `bridge serve` options that set the simulator up like `options` asks."""
    args = ["--condition", options.condition, "--seed", str(options.seed)]
    if options.distractors is not None:
        args += ["--distractors", str(options.distractors)]
    return args


def run_file(
    path: Path,
    options: RunOptions,
    *,
    subscribers: Sequence[Subscriber] = (),
    recorder: RunRecorder | None = None,
    policies: PolicyProvider | None = None,
    on_status: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Compile, check and execute `path` on the simulator or the robot `options.robot`.

    Args:
        subscribers: event consumers (display, trace writer).
        recorder: records frames and signals, and gets every event.
        policies: how skills' policies load (default: trained checkpoints).
        on_status: called with one line per start-up stage ("starting the simulator").

    Raises:
        CheckFailed: the task does not check against the library or the robot.
        UsageError: a bad option, or a task the simulator has no scene for.
        RobotNotConnected: no bridge server answered at `options.robot`.
        VitalskillsError: untrained skills, a robot lost during the run, a failed server.
        KeyboardInterrupt: after the plan was halted and the robot stopped.
    """
    from vitalskills.app.policy_sources import SkillPolicies
    from vitalskills.bridge.client import connect
    from vitalskills.bridge.launcher import ChildServer

    say = on_status or (lambda _line: None)
    started = time.perf_counter()
    timings = Timings()
    default = default_grounder(options)
    check_track(options, default)
    library = default_library(list(options.skills_dirs))
    overrides = dict(options.overrides)
    task = compile_task(path, library=library, overrides=overrides)
    plan = build_plan(task, library.get)
    on_sim = options.robot is None
    scene = choose_scene(plan, options.sim_task) if on_sim else None
    for node in skill_nodes(plan):
        check_weights(node.skill)
    owned = SkillPolicies() if policies is None else None  # ends the policy servers it starts
    loader = PreloadedPolicies(policies or owned, timings)
    info: dict[str, object] = {"file": str(path)}
    server: ChildServer | None = None
    client = None
    result: RunResult | None = None
    try:
        if scene is not None:
            say(f"starting the simulator ({scene}, {options.condition}, seed {options.seed})")
            server = ChildServer(f"sim:{scene}", sim_server_args(options), options.server_log)
            server.spawn()
        # Policies load while the simulator boots: both are mostly imports.
        for node in skill_nodes(plan):
            loader.load(node.skill)
        if server is not None:
            server.wait_ready()
            address = server.address
            info.update(
                backend="sim",
                sim_task=scene,
                condition=options.condition,
                seed=options.seed,
                server_pid=server.pid,
            )
            client = connect(
                address, timeout_s=REQUEST_TIMEOUT_S, connect_timeout_s=SIM_HELLO_TIMEOUT_S
            )
        else:
            address = options.robot
            assert address is not None
            info.update(backend="robot")
            client = connect_robot(address, options)
        info["robot"] = client.capabilities().name
        info["address"] = address
        check_robot(task, library, client.capabilities())
        grounders, default_name = build_grounders(
            plan, default, timings, seed=options.seed, grounding=options.grounding,
            track=options.track,
        )  # fmt: skip
        info["grounder"] = default_name
        if options.grounding:
            info["grounding"] = dict(options.grounding)
        robot: Robot = TimedRobot(client, timings)
        if recorder is not None:
            robot = recorder.wrap(robot, client)
            grounders = recorder.wrap_grounders(grounders)
        if on_sim:
            robot.reset(seed=options.seed)
        clock: Clock = MonotonicClock() if options.realtime or not on_sim else ManualClock()
        info["clock"] = "simulated" if isinstance(clock, ManualClock) else "wall"
        timings.add("startup", time.perf_counter() - started)
        executor = Executor(
            robot,
            grounders,
            loader,
            clock=clock,
            subscribers=[*subscribers, *([recorder] if recorder is not None else [])],
            timeout=options.timeout,
            default_grounder=default_name,
            run_info=info,
        )
        result = executor.run(plan)
        return RunOutcome(result, timings, info)
    finally:
        with timings.measure("shutdown"):
            try:
                if owned is not None:
                    owned.close()
                if client is not None:
                    client.close()
            finally:
                if server is not None:
                    server.stop()
        if recorder is not None:
            recorder.finish(result, timings)
