"""`vitalskills run` on the simulator: a child bridge server, exit codes, check failures."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.e2e.conftest import process_gone
from vitalskills.cli import app

pytestmark = pytest.mark.slow

REACH = """\
task reach_strip "Find the power strip and hover over it"
locate "power strip" as strip
reach strip offset [0, 0, 60] mm
"""

SKILL = """\
task quick "Plug in, briefly"
locate "socket" as strip
run skill plug_insert at strip timeout 2 s
"""


def run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def test_a_located_reach_succeeds_through_a_child_bridge_server(tmp_path: Path) -> None:
    task = tmp_path / "reach.vtl"
    task.write_text(REACH)
    result = run(str(task), "--json", "--condition", "scene", "--seed", "4")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    info = summary["run"]
    assert info["backend"] == "sim" and info["sim_task"] == "plug_in_socket"
    assert info["address"].startswith("ipc://") and info["robot"] == "sim:plug_in_socket"
    assert info["condition"] == "scene" and info["seed"] == 4 and info["grounder"] == "sim"
    # The simulator ran in another process, which is gone now.
    assert info["server_pid"] != os.getpid() and process_gone(info["server_pid"])
    assert not Path(info["address"].removeprefix("ipc://")).exists()
    nodes = {n["label"]: n for n in summary["nodes"]}
    located = nodes['locate "power strip" as strip']
    assert located["status"] == "success" and located["values"]["privileged"] is True
    assert nodes["reach strip offset [0, 0, 60] mm"]["reason"].startswith("arrived at")


def test_a_failing_skill_exits_1(tiny_library: Path, tmp_path: Path) -> None:
    task = tmp_path / "quick.vtl"
    task.write_text(SKILL)
    result = run(str(task), "--skills", str(tiny_library), "--json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "failure" and "timed out after 2 s" in summary["reason"]
    skill = next(n for n in summary["nodes"] if n["kind"] == "run_skill")
    assert skill["values"]["phase"] == "policy" and skill["values"]["steps"] > 0


def test_a_skill_the_robot_cannot_serve_fails_at_check_time(
    tiny_library: Path, tmp_path: Path
) -> None:
    library = tmp_path / "lib"
    shutil.copytree(tiny_library / "plug_insert", library / "plug_insert")
    manifest = library / "plug_insert" / "skill.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["requires"] = ["force_torque"]
    manifest.write_text(yaml.safe_dump(data))
    task = tmp_path / "quick.vtl"
    task.write_text(SKILL)
    trace = tmp_path / "trace.jsonl"
    result = run(str(task), "--skills", str(library), "--trace", str(trace))
    assert result.exit_code == 2, result.output
    assert "quick.vtl:3:" in result.stderr
    assert "`force_torque`" in result.stderr and "sim:plug_in_socket" in result.stderr
    assert "Traceback" not in result.output
    assert not trace.exists() or trace.read_text() == ""  # nothing was executed


def test_untrained_skills_fail_before_the_simulator_starts(tmp_path: Path) -> None:
    library = tmp_path / "lib" / "plug_insert"
    library.mkdir(parents=True)
    shipped = Path(__file__).parents[2] / "skills" / "plug_insert" / "skill.yaml"
    data = yaml.safe_load(shipped.read_text())
    data["weights"] = []
    (library / "skill.yaml").write_text(yaml.safe_dump(data))
    task = tmp_path / "quick.vtl"
    task.write_text(SKILL)
    result = run(str(task), "--skills", str(tmp_path / "lib"))
    assert result.exit_code == 1
    assert "has not been trained" in result.stderr
    assert "starting the simulator" not in result.stderr
