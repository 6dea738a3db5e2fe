"""Example tasks from tasks/ with the shipped skills, on the simulator through the bridge.

A few fixed seeds that the shipped skills are measured to pass (docs/results.md has the
full 10-seed counts); the run must succeed end to end and each skill must have acted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitalskills.cli import app

pytestmark = pytest.mark.slow

TASKS = Path(__file__).resolve().parents[2] / "tasks"


def run_example(name: str, seed: int) -> dict:
    args = ["run", str(TASKS / name), "--condition", "scene", "--seed", str(seed), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_readme_example_plugs_in() -> None:
    summary = run_example("plug_in_socket.vtl", 2)
    skill = next(n for n in summary["nodes"] if n["kind"] == "run_skill")
    assert skill["status"] == "success" and skill["values"]["steps"] > 0


def test_the_chained_example_plugs_in_then_takes_and_swipes_the_card() -> None:
    summary = run_example("plug_then_swipe.yaml", 1)
    assert summary["run"]["sim_task"] == "plug_in_socket+card_swipe"
    skills = {n["label"].split()[2]: n for n in summary["nodes"] if n["kind"] == "run_skill"}
    for name in ("plug_insert", "card_swipe"):
        assert skills[name]["status"] == "success"
        assert skills[name]["values"]["steps"] > 0  # judged on its own object, not the last


def test_the_usb_example_inserts_with_the_residual_skill() -> None:
    summary = run_example("usb_in_port.vtl", 1)
    assert summary["run"]["sim_task"] == "usb_insert"
    skill = next(n for n in summary["nodes"] if n["kind"] == "run_skill")
    assert skill["status"] == "success" and skill["values"]["steps"] > 0
