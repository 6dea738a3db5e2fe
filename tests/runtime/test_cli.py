"""`vitalskills run --dry-run` in process through typer's CliRunner, on hand-written tasks
and a skill library written into a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitalskills.cli import app

SKILL = """\
manifest_version: 1
name: {name}
version: 1.2.0
description: test skill
observation:
  cameras:
    - {{name: wrist_rgb, width: 128, height: 128}}
  tactile_dim: 15
  proprio: [ee_pose, gripper]
action:
  frame: ee
  dim: 7
  low: [-0.01, -0.01, -0.01, -0.05, -0.05, -0.05, -1.0]
  high: [0.01, 0.01, 0.01, 0.05, 0.05, 0.05, 1.0]
control_hz: 10
max_steps: 100
approach_offset: [0.0, 0.0, 0.05]
"""

TASK = """\
task plug "Plug in"
param target = "power strip"

locate target as strip min_score 0.3
if found strip {
  try {
    run skill peg_insert at strip retries 2 timeout 30 s
  } else {
    fail "insertion failed"
  }
} else {
  fail "no power strip in view"
}
wait 500 ms
timeout 20 s { reach strip offset [0, 0, 40] mm }
repeat 2 { gripper close; gripper open }
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    skill = tmp_path / "lib" / "peg_insert"
    skill.mkdir(parents=True)
    (skill / "skill.yaml").write_text(SKILL.format(name="peg_insert"))
    (tmp_path / "plug.vtl").write_text(TASK)
    return tmp_path


def invoke(workspace: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(
        app, ["run", str(workspace / "plug.vtl"), "--skills", str(workspace / "lib"), *args]
    )


def test_dry_run_succeeds_and_prints_the_trace(workspace):
    result = invoke(workspace, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "found `power strip` at (0.500, 0.000, 0.050) m" in out
    assert "dry-run placeholder" in out
    assert "`peg_insert` reports success after 3 policy steps (attempt 1 of 3)" in out
    assert "task plug: SUCCESS" in out
    assert "it does not simulate it" in result.stderr


def test_dry_run_trace_to_stdout_is_the_jsonl_trace(workspace, tmp_path):
    trace = tmp_path / "trace.jsonl"
    result = invoke(workspace, "--dry-run", "--json", "--trace", "-")
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n{\n", 1)[0].splitlines()
    events = [json.loads(line) for line in lines]
    result = invoke(workspace, "--dry-run", "--json", "--trace", str(trace))
    assert events[0]["event"] == "task_started"
    assert events[0]["values"]["backend"] == "dry-run"
    assert events[-1] == {**events[-1], "event": "task_finished", "status": "success"}
    located = next(e for e in events if e.get("kind") == "locate" and e["event"] == "node_finished")
    assert located["line"] == 4
    assert located["values"]["placeholder"] is True
    written = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(e["event"], e.get("reason")) for e in written] == [
        (e["event"], e.get("reason")) for e in events
    ]
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["status"] == "success"
    assert summary["run"]["backend"] == "dry-run"
    assert {n["label"]: n["status"] for n in summary["nodes"]}["wait 500 ms"] == "success"


def test_dry_run_failure_exits_1(workspace):
    result = invoke(workspace, "--dry-run", "--not-found", "power strip")
    assert result.exit_code == 1, result.output
    assert "task plug: FAILURE" in result.stdout
    assert "no power strip in view" in result.stdout


def test_a_dry_run_refuses_a_not_found_query_that_no_locate_asks(workspace):
    # Before: `--not-found "power strp"` walked the `found` branch and exited 0.
    result = invoke(workspace, "--dry-run", "--not-found", "power strp")
    assert result.exit_code == 2, result.output
    assert '--not-found "power strp" matches no locate query of' in result.stderr
    assert 'did you mean "power strip"?' in result.stderr
    result = invoke(workspace, "--dry-run", "--not-found", "zebra")
    assert result.exit_code == 2 and 'its locate queries: "power strip"' in result.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--condition", "scene"], "--condition does not apply"),
        (["--task", "nope", "--seed", "3"], "--seed, --task do not apply"),
        (["--sim-task", "nope"], "--task does not apply"),  # the old name, still read
        (["--robot", "tcp://127.0.0.1:1", "--realtime"], "--robot, --realtime do not apply"),
    ],
)
def test_a_dry_run_refuses_the_options_it_would_ignore(workspace, options, named):
    result = invoke(workspace, "--dry-run", *options)
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "to a dry run" in result.stderr


def test_an_old_option_name_is_read_with_a_note_and_not_with_the_new_one(workspace):
    result = invoke(workspace, "--dry-run", "--sim-task", "plug_in_socket")
    assert "note: --sim-task is now --task" in result.stderr
    both = invoke(workspace, "--task", "plug_in_socket", "--sim-task", "plug_in_socket")
    assert both.exit_code == 2 and "give only --task" in both.stderr
    assert "--sim-task" not in invoke(workspace, "--help").stdout


def test_run_names_the_conditions_and_not_found_needs_a_dry_run(workspace):
    result = invoke(workspace, "--condition", "bogus")
    assert result.exit_code == 2 and "'canonical', 'spatial', 'scene'" in result.output
    result = invoke(workspace, "--not-found", "power strip")
    assert result.exit_code == 2 and "applies only with --dry-run" in result.output


def test_set_overrides_a_param(workspace):
    result = invoke(workspace, "--dry-run", "--set", "target=wall socket", "--trace", "-")
    assert result.exit_code == 0, result.output
    assert '"query":"wall socket"' in result.stdout


def test_check_errors_exit_2_with_a_located_diagnostic(workspace):
    (workspace / "plug.vtl").write_text(TASK.replace("peg_insert", "peg_insrt"))
    result = invoke(workspace, "--dry-run")
    assert result.exit_code == 2
    assert "plug.vtl:7:15: error:" in result.stderr
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(workspace):
    result = invoke(workspace, "--dry-run", "--set", "nonsense")
    assert result.exit_code == 2
    assert "`--set nonsense` is not `name=value`" in result.stderr
    result = CliRunner().invoke(app, ["run", str(workspace / "missing.vtl"), "--dry-run"])
    assert result.exit_code == 2


def test_without_dry_run_a_task_with_no_simulator_objects_is_a_usage_error(workspace):
    (workspace / "plug.vtl").write_text(TASK.replace("power strip", "teapot"))
    result = invoke(workspace, "--set", "target=teapot")
    assert result.exit_code == 2
    assert "names no object or skill the simulator knows" in result.stderr


def test_run_has_help():
    result = CliRunner().invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.stdout


YAML_TASK = """\
task: plug
description: Plug in
params:
  target: power strip
steps:
  - locate: $target
    as: strip
    min_score: 0.3
  - if_found: strip
    steps:
      - try:
          - run: peg_insert
            at: strip
            retries: 2
            timeout: 30 s
        else:
          - fail: insertion failed
    else:
      - fail: no power strip in view
  - wait: 500 ms
  - timeout: 20 s
    steps:
      - reach: strip
        offset: {mm: [0, 0, 40]}
  - repeat: 2
    steps:
      - gripper: close
      - gripper: open
"""


def test_both_surfaces_run_the_same_plan(workspace):
    (workspace / "plug.yaml").write_text(YAML_TASK)

    def trace(name: str) -> list[tuple]:
        args = ["run", str(workspace / name), "--skills", str(workspace / "lib")]
        result = CliRunner().invoke(app, [*args, "--dry-run", "--json", "--trace", "-"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.split("\n{\n", 1)[0].splitlines()
        events = [json.loads(line) for line in lines]
        return [(e["event"], e.get("t"), e.get("label"), e.get("reason")) for e in events]

    assert trace("plug.vtl") == trace("plug.yaml")
