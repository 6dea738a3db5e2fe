"""`vitalskills eval` and `vitalskills sim ...` in process."""

import json

from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.cli.sim import TaskName
from vitalskills.sim import TASKS

runner = CliRunner()


def test_task_choices_match_the_simulator() -> None:
    assert [t.value for t in TaskName] == list(TASKS)


def test_eval_json() -> None:
    result = runner.invoke(
        app, ["eval", "--task", "card_swipe", "--episodes", "2", "--seed", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["task"] == "card_swipe" and data["policy"] == "expert"
    assert data["condition"] == "canonical" and data["episodes"] == 2
    assert data["successes"] == 2 and data["success_rate"] == 1.0
    assert data["seeds"] == [4, 5]
    assert data["wrist_jitter"] is None


def test_eval_wrist_jitter_is_reported() -> None:
    args = ["eval", "--task", "plug_in_socket", "--episodes", "1", "--wrist-jitter", "2", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["wrist_jitter"] == 0.002
    negative = runner.invoke(app, [*args[:-2], "-1"])
    assert negative.exit_code == 2


def test_eval_table_and_video(tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "key_in_lock",
            "--episodes",
            "1",
            "--condition",
            "scene",
            "--distractors",
            "2",
            "--video",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "key_in_lock: expert policy, scene condition" in result.stdout
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_eval_rejects_bad_options() -> None:
    result = runner.invoke(app, ["eval", "--task", "socket"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["eval", "--task", "usb_insert", "--distractors", "9"])
    assert result.exit_code == 2


def test_sim_show_writes_pictures(tmp_path) -> None:
    result = runner.invoke(
        app, ["sim", "show", "--task", "usb_insert", "--seed", "2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "expert succeeded" in result.stdout
    names = {p.name for p in tmp_path.iterdir()}
    assert {"wrist_start.png", "wrist_contact.png", "scene.png", "tactile.png"} <= names


def test_sim_tasks_lists_every_task() -> None:
    result = runner.invoke(app, ["sim", "tasks"])
    assert result.exit_code == 0
    for name in TASKS:
        assert name in result.stdout


def test_eval_skill_names_the_library_problem() -> None:
    """`--skill` goes through the skill library: a typo is an error with a hint."""
    typo = runner.invoke(app, ["eval", "--task", "plug_in_socket", "--skill", "plug_insrt"])
    assert typo.exit_code == 1
    assert "unknown skill `plug_insrt`" in typo.stderr
    assert "did you mean `plug_insert`?" in typo.stderr
