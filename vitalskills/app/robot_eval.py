"""Evaluate a skill on a robot's bench: `vitalskills eval --robot ADDR --skill NAME --goal`.

The episodes are `BenchEpisodes` (`vitalskills.app.bench`): back out, reset, go to a
random start, run the policy until the end effector is at the goal or the step limit.
This module counts them (successes, seeds, unreachable starts, robot time,
interventions), writes their records as they finish (`--out`), and records the result in
the skill's provenance (`--save`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vitalskills.app.bench import (
    STEP_LIMIT,
    BenchEpisodes,
    BenchSettings,
    Start,
    SuccessDetector,
)
from vitalskills.errors import UsageError
from vitalskills.robot import Observation, Policy, Robot, policy_view
from vitalskills.teleop.goal import GoalFile, load_goal
from vitalskills.teleop.motion import Target

if TYPE_CHECKING:
    from vitalskills.skills.manifest import SkillManifest


@dataclass
class EpisodeRecord:
    """One evaluated episode, as `--out` writes it (one JSON line)."""

    seed: int
    success: bool
    steps: int
    ended_by: str
    robot_time_s: float
    position_mm: float | None
    angle_deg: float | None
    start: dict[str, Any]
    interventions: dict[str, int] = field(default_factory=dict)


@dataclass
class RobotEvalResult:
    """An evaluation on a robot: counts, seeds, skipped starts, time and interventions."""

    task: str
    policy: str
    robot: str
    goal: str
    requested: int
    episodes: int = 0
    successes: int = 0
    success_rate: float = 0.0
    seeds: list[int] = field(default_factory=list)
    failed_seeds: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    mean_steps: float = 0.0
    robot_time_s: float = 0.0
    wall_time_s: float = 0.0
    interventions: dict[str, int] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=dict)
    gave_up: bool = False
    records: list[EpisodeRecord] = field(default_factory=list)

    def add(self, record: EpisodeRecord) -> None:
        """Count one finished episode in every total."""
        self.records.append(record)
        self.episodes = len(self.records)
        self.successes = sum(r.success for r in self.records)
        self.success_rate = self.successes / self.episodes
        self.seeds.append(record.seed)
        if not record.success:
            self.failed_seeds.append(record.seed)
        self.mean_steps = round(float(np.mean([r.steps for r in self.records])), 2)
        self.robot_time_s = round(self.robot_time_s + record.robot_time_s, 3)
        for key, count in record.interventions.items():
            self.interventions[key] = self.interventions.get(key, 0) + count

    def to_dict(self, records: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the per-episode records only when asked)."""
        data = asdict(self)
        if not records:
            data.pop("records")
        return data

    def summary(self) -> str:
        """One line a person reads at the end."""
        line = (
            f"{self.successes}/{self.episodes} successes ({100 * self.success_rate:.1f}%) on "
            f"{self.robot}, seeds {_seed_range(self.seeds)}; mean {self.mean_steps:g} steps, "
            f"robot time {self.robot_time_s:.1f} s"
        )
        interventions = sum(self.interventions.values())
        line += f"; interventions {interventions}" + (
            f" ({', '.join(f'{k} {v}' for k, v in self.interventions.items())})"
            if interventions
            else ""
        )
        if self.skipped:
            line += f"; {len(self.skipped)} unreachable starts skipped"
        if self.gave_up:
            line += f"; gave up after {len(self.skipped)} unreachable starts"
        return line


def _seed_range(seeds: list[int]) -> str:
    if not seeds:
        return "none"
    return f"{min(seeds)}..{max(seeds)}"


def evaluate_on_robot(
    robot: Robot,
    policy: Policy,
    goal: GoalFile,
    *,
    episodes: int,
    seed: int = 0,
    settings: BenchSettings | None = None,
    detector: SuccessDetector | None = None,
    policy_name: str = "policy",
    goal_path: str = "",
    out: Path | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    on_skip: Callable[[Start], None] | None = None,
) -> RobotEvalResult:
    """Run `policy` for `episodes` bench episodes on `robot`; return what happened.

    Start `k` is drawn with seed `seed + k`; an unreachable start is skipped (logged,
    and listed in the result) and the next seed is drawn, until `episodes` were run or
    `settings.max_skips` starts in a row were unreachable. With `out`, every episode's
    record is appended to `out/episodes.jsonl` as it ends, and `out/summary.json` and a
    contact sheet of the episodes' last wrist images are written at the end (also after
    an error or Ctrl-C, for the episodes finished). The robot is stopped on every way
    out.

    Raises:
        UsageError: `episodes` < 1, or `out` already holds an evaluation.
        RobotError: the robot failed (it is stopped first).
    """
    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {episodes}")
    settings = settings or BenchSettings()
    bench = BenchEpisodes(robot, goal, settings, detector=detector)
    result = RobotEvalResult(
        task=goal.task,
        policy=policy_name,
        robot=bench.caps.name,
        goal=goal_path,
        requested=episodes,
        tolerance=bench.tolerance.model_dump(),
    )
    saver = EvalSaver(out) if out is not None else None
    began = time.monotonic()
    try:
        _run(bench, policy, result, episodes, seed, on_episode, on_skip, saver)
        bench.finish()
    except BaseException:
        bench.close()
        raise
    finally:
        result.wall_time_s = round(time.monotonic() - began, 3)
        if saver is not None:
            saver.close(result)
    return result


def _run(
    bench: BenchEpisodes,
    policy: Policy,
    result: RobotEvalResult,
    episodes: int,
    seed: int,
    on_episode: Callable[[EpisodeRecord], None] | None,
    on_skip: Callable[[Start], None] | None,
    saver: EvalSaver | None,
) -> None:
    index, skips_in_a_row = 0, 0
    hz = bench.caps.control_hz
    while result.episodes < episodes:
        start = bench.begin(seed + index)
        index += 1
        if start.skipped is not None:
            result.skipped.append({"seed": start.seed, "reason": start.skipped})
            if on_skip is not None:
                on_skip(start)
            skips_in_a_row += 1
            if skips_in_a_row >= bench.settings.max_skips:
                result.gave_up = True
                return
            continue
        skips_in_a_row = 0
        assert start.observation is not None
        policy.reset()
        observation = start.observation
        while True:
            action = np.asarray(policy.act(policy_view(observation)), dtype=np.float32)
            step = bench.step(action)
            observation = step.observation
            if step.done:
                break
        interventions = bench.end()
        judged = step.judgement
        record = EpisodeRecord(
            seed=start.seed,
            success=step.success,
            steps=step.steps,
            ended_by=step.ended_by or STEP_LIMIT,
            robot_time_s=round(step.steps / hz, 3) if hz > 0 else 0.0,
            position_mm=None if judged is None else judged.position_mm,
            angle_deg=None if judged is None else judged.angle_deg,
            start={"position": start.position, "yaw": start.yaw, "error_m": start.error_m},
            interventions=interventions,
        )
        result.add(record)
        if saver is not None:
            saver.add(record, observation)
        if on_episode is not None:
            on_episode(record)


# ---------------------------------------------------------------------- --out
EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
SHEET_FILE = "contact_sheet.png"


class EvalSaver:
    """Write an evaluation's records as they come: one JSON line per episode, then a
    summary and a contact sheet (each episode's last wrist image, framed green for a
    success and red for a failure)."""

    def __init__(self, out: Path) -> None:
        out = Path(out)
        if (out / EPISODES_FILE).exists():
            raise UsageError(
                f"{out} already holds an evaluation ({EPISODES_FILE})",
                hint="pick another --out folder, or move that one away",
            )
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._lines = (out / EPISODES_FILE).open("a", encoding="utf-8")
        self._images: list[tuple[np.ndarray, bool, str]] = []

    def add(self, record: EpisodeRecord, observation: Observation) -> None:
        """Append the episode's record now (a Ctrl-C later keeps it); keep its last image."""
        self._lines.write(json.dumps(asdict(record)) + "\n")
        self._lines.flush()
        image = observation.get("wrist_rgb")
        if image is not None:
            label = f"seed {record.seed} {record.steps} st"
            self._images.append((np.asarray(image), record.success, label))

    def close(self, result: RobotEvalResult) -> None:
        """Write the summary and the contact sheet of what was finished."""
        self._lines.close()
        summary = json.dumps(result.to_dict(), indent=2) + "\n"
        (self.out / SUMMARY_FILE).write_text(summary, encoding="utf-8")
        if self._images:
            write_contact_sheet(self.out / SHEET_FILE, self._images)


def write_contact_sheet(path: Path, images: list[tuple[np.ndarray, bool, str]]) -> Path:
    """A grid of the episodes' last wrist images, green-framed for success, red for not."""
    from PIL import Image, ImageDraw

    side, border, caption, columns = 96, 4, 14, 8
    cell = side + 2 * border
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (min(len(images), columns) * cell, rows * (cell + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, success, label) in enumerate(images):
        x, y = (i % columns) * cell, (i // columns) * (cell + caption)
        draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(0, 160, 0) if success else "red")
        picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((side, side))
        sheet.paste(picture, (x + border, y + border))
        draw.text((x + 2, y + cell), label, fill="black")
    partial = path.with_name(f".{path.name}.partial")
    sheet.save(partial, format="PNG")
    partial.replace(path)
    return path


# ---------------------------------------------------------------------- from the command line
def evaluate_skill_on_robot(
    address: str,
    manifest: SkillManifest,
    goal_path: Path,
    *,
    episodes: int,
    seed: int = 0,
    residual: bool = True,
    target: Target | None = None,
    settings: BenchSettings | None = None,
    out: Path | None = None,
    save: bool = False,
    command: str = "",
    connect_timeout_s: float = 5.0,
    curve_secret: Path | None = None,
    curve_server: Path | None = None,
    detector: SuccessDetector | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    on_skip: Callable[[Start], None] | None = None,
) -> RobotEvalResult:
    """Load the goal and the skill's policy, connect, evaluate; what `eval --robot` calls.

    The policy is loaded as `eval` and `run` load it (`load_skill_policy`: BC, corrected
    by the skill's residual when it has one and `residual`). `target` re-anchors the goal
    at a new approach point. The step limit defaults to the skill's `max_steps`. With
    `save`, the result is recorded in the skill's `provenance.evaluation.<bc|vital>.robot`.
    """
    from vitalskills.app.evaluate import RESIDUAL_SUFFIX
    from vitalskills.bridge import connect
    from vitalskills.learning.policies import load_skill_policy
    from vitalskills.learning.skill_folder import has_residual

    goal = load_goal(goal_path)
    if target is not None:
        goal = goal.anchored(target)
    if settings is None:
        settings = BenchSettings(max_steps=manifest.max_steps)
    policy = load_skill_policy(manifest, residual)
    with_residual = residual and has_residual(manifest)
    name = f"skill:{manifest.name}@{manifest.version}{RESIDUAL_SUFFIX if with_residual else ''}"
    robot = connect(
        address,
        connect_timeout_s=connect_timeout_s,
        curve_secret=curve_secret,
        curve_server=curve_server,
    )
    try:
        result = evaluate_on_robot(
            robot, policy, goal, episodes=episodes, seed=seed, settings=settings,
            detector=detector, policy_name=name, goal_path=str(goal_path), out=out,
            on_episode=on_episode, on_skip=on_skip,
        )  # fmt: skip
    finally:
        robot.close()
    if save:
        save_robot_evaluation(manifest, result, command, part="vital" if with_residual else "bc")
    return result


def save_robot_evaluation(
    manifest: SkillManifest, result: RobotEvalResult, command: str, *, part: str
) -> SkillManifest:
    """Record `result` in the skill's `provenance.evaluation.<part>.robot`; keep the rest."""
    from vitalskills.learning.skill_folder import update_provenance

    cell = result.to_dict()
    cell.update(
        seeds=_seed_range(result.seeds),
        skipped=[entry["seed"] for entry in result.skipped],
        command=command,
    )
    evaluation = dict(manifest.provenance.get("evaluation") or {})
    evaluation[part] = {**evaluation.get(part, {}), "robot": cell}
    return update_provenance(manifest.root, evaluation=evaluation)
