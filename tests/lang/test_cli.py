"""`check`, `compile` and `fmt` in process with typer's CliRunner: exit codes and output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from vitalskills.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_check_ok_files_exit_zero(tasks_dir):
    result = invoke("check", tasks_dir / "plug_in_socket.vtl", tasks_dir / "plug_in_socket.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": ok") == 2


def test_check_prints_each_error_with_location_caret_and_hint(write):
    path = write('locate "x" as strip\nrun skill plug_insrt at strip\n')
    result = invoke("check", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:2:11: error: unknown skill `plug_insrt`\n"
        "  |\n"
        "2 | run skill plug_insrt at strip\n"
        "  |           ^^^^^^^^^^\n"
        "help: did you mean `plug_insert`?\n"
    )


def test_check_reports_every_file_and_fails_if_any_fails(write, tasks_dir):
    bad = write("wait 3 mm\n")
    result = invoke("check", tasks_dir / "plug_in_socket.vtl", bad)
    assert result.exit_code == 1
    assert (
        "plug_in_socket.vtl: ok" in result.stdout and "error: `wait` needs a time" in result.stderr
    )


def test_check_usage_errors_exit_two(tmp_path, write):
    assert invoke("check", tmp_path / "missing.vtl").exit_code == 2
    assert invoke("check").exit_code == 2
    path = write('param target = "x"\nlocate target\n')
    result = invoke("check", path, "--set", "nope=1")
    assert result.exit_code == 2 and "has no param `nope`" in result.stderr
    assert invoke("check", path, "--skills", tmp_path / "no_such_dir").exit_code == 2


def test_set_overrides_params(write):
    path = write('param target = "x"\nparam speed = 10 mm\nlocate target\n')
    result = invoke("compile", path, "--json", "--set", "target=wall socket", "--set", "speed=2cm")
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert params[0]["default"]["value"] == "wall socket"
    assert params[1]["default"] == {
        "kind": "quantity",
        "value": 0.02,
        "unit": "cm",
        "dimension": "length",
    }
    bad = invoke("compile", path, "--set", "speed=2 s")
    assert bad.exit_code == 2 and "is a length" in bad.stderr


def test_compile_json_is_the_same_for_a_file_and_its_conversion(tmp_path, tasks_dir):
    shutil.copytree(tasks_dir, tmp_path / "tasks")
    for name in ("normative.vtl", "plug_in_socket.yaml"):
        source = tmp_path / "tasks" / name
        to = "yaml" if source.suffix == ".vtl" else "vtl"
        converted = source.with_name(f"converted.{to}")
        fmt = invoke("fmt", source, "--to", to)
        assert fmt.exit_code == 0, fmt.output
        converted.write_text(fmt.stdout)
        first = invoke("compile", source, "--json")
        second = invoke("compile", converted, "--json")
        assert first.exit_code == second.exit_code == 0
        assert first.stdout == second.stdout
        assert json.loads(first.stdout)["ir_version"] == 1


def test_compile_json_has_no_spans(tasks_dir):
    out = invoke("compile", tasks_dir / "normative.vtl", "--json").stdout
    assert '"span"' not in out and "field_spans" not in out


def test_fmt_write_keeps_comments(write):
    path = write("# keep me\ngripper   open  # and me\n")
    assert invoke("fmt", path, "--write").exit_code == 0
    assert path.read_text() == "# keep me\ntask task\n\ngripper open  # and me\n"


def test_fmt_write_to_other_surface_writes_beside(write):
    path = write("gripper open\n")
    assert invoke("fmt", path, "--to", "yaml", "--write").exit_code == 0
    assert path.with_suffix(".yaml").read_text() == "task: task\nsteps:\n  - gripper: open\n"


def test_fmt_errors(write):
    assert invoke("fmt", write("wait 3\n")).exit_code == 1
    assert invoke("fmt", write("gripper open\n"), "--to", "json").exit_code == 2


def test_robot_caps_file_checks_sensors(write, tmp_path):
    task = write('locate "x"\nrun skill plug_insert\n')
    caps = tmp_path / "robot.yaml"
    caps.write_text("name: camera_arm\nsensors: [wrist_rgb, ee_pose, gripper]\n")
    result = invoke("check", task, "--robot-caps", caps)
    assert result.exit_code == 1
    assert "needs sensor `tactile`, which robot `camera_arm` lacks" in result.stderr
    caps.write_text(
        '{"name": "full", "sensors": ["wrist_rgb", "tactile", "ee_pose", "gripper"],'
        ' "tactile_dim": 15}'
    )
    assert invoke("check", task, "--robot-caps", caps).exit_code == 0
    caps.write_text("name: r\nsensors: 3\n")
    bad = invoke("check", task, "--robot-caps", caps)
    assert bad.exit_code == 2 and f"{caps}:2:10: error: invalid robot capabilities" in bad.stderr


def test_check_warns_about_an_unused_param_and_still_passes(tmp_path):
    # Before: `param approach` in tasks/insert_key.vtl was never used, without a word.
    task = tmp_path / "t.vtl"
    task.write_text('task t\n\nparam used = "mug"\nparam lift = [0, 0, 5] cm\n\nlocate used\n')
    result = invoke("check", task)
    assert result.exit_code == 0 and f"{task}: ok" in result.stdout
    assert f"{task}:4:1: warning: param `lift` is declared but never used" in result.stderr
    assert "`used`" not in result.stderr


def test_the_shipped_tasks_check_without_warnings(tasks_dir):
    files = sorted(tasks_dir.glob("*.vtl")) + sorted(tasks_dir.glob("*.yaml"))
    result = invoke("check", *files)
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr


def test_example_tasks_are_listed_shown_and_includable_from_anywhere(tmp_path):
    # Before: the wheel shipped no example tasks, so `include "common/home.vtl"` from the
    # docs did not exist after `pip install`; includes now fall back to the examples.
    listed = CliRunner().invoke(app, ["tasks", "list"], terminal_width=200)
    assert listed.exit_code == 0
    assert "common/home.vtl" in listed.stdout and "plug_in_socket.vtl" in listed.stdout
    shown = invoke("tasks", "show", "common/home.vtl")
    assert shown.exit_code == 0 and shown.stdout.startswith("# Shared ending")
    for name in ("nope.vtl", "../pyproject.toml", "../README.md"):
        missing = invoke("tasks", "show", name)
        assert missing.exit_code == 2 and f"no example task `{name}`" in missing.stderr
    task = tmp_path / "mine.vtl"
    task.write_text('task mine\n\ngripper close\ninclude "common/home.vtl"\n')
    assert invoke("check", task).exit_code == 0
    task.write_text('task mine\n\ninclude "common/nope.vtl"\n')
    result = invoke("check", task)
    assert result.exit_code == 1 and "or name a shipped example" in result.stderr
