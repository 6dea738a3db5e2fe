"""`run --record` on the simulator writes a `run.rrd` that rerun reads, holding every entity."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.rrd import column, read_rrd
from vitalskills.cli import app

pytestmark = pytest.mark.slow
TASK = Path(__file__).parents[2] / "tasks" / "plug_in_socket.vtl"


@pytest.fixture(scope="module")
def recording(tiny_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rerun") / "rec"
    # The tiny skill does not insert the plug; a 6 s limit (simulated) keeps the run short.
    result = CliRunner().invoke(
        app,
        ["run", str(TASK), "--skills", str(tiny_library), "--record", str(out),
         "--condition", "scene", "--seed", "2", "--timeout", "6"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"rerun {out / 'run.rrd'}" in result.output
    return out


def test_the_run_rrd_holds_every_entity_of_the_run(recording: Path) -> None:
    summary = json.loads((recording / "summary.json").read_text())
    assert summary["files"]["rerun"] == "run.rrd"
    nodes = {n["kind"]: n for n in summary["nodes"]}
    rrd = read_rrd(recording / "run.rrd")
    assert set(rrd) >= {
        "/plan/events", f"/plan/nodes/{nodes['locate']['id']:02d}_locate",
        f"/plan/nodes/{nodes['run_skill']['id']:02d}_run_skill", "/cameras/wrist",
        "/cameras/scene", "/locate/strip/scene", "/locate/strip/scene/mask",
        "/signals/tactile", "/signals/action", "/world/ee", "/world/targets/strip",
    }  # fmt: skip

    events = [row[0] for row in column(rrd["/plan/events"], "TextLog:text")]
    assert "task_started plug_in_socket" in events[0]
    assert events[-1].endswith("task_finished: failure (the run exceeded its 6 s limit)")
    # One sample per applied action, as the video has one frame per action.
    steps = summary["steps"]
    assert steps >= 20
    assert column(rrd["/signals/action"], "step") == list(range(1, steps + 1))
    assert len(column(rrd["/cameras/wrist"], "EncodedImage:blob")) == steps
    assert {len(row) for row in column(rrd["/signals/tactile"], "Scalars:scalars")} == {15}
    assert len(column(rrd["/world/ee"], "Transform3D:translation")) == steps

    # The target is where the locate node said it was, and its mask is not empty.
    point = nodes["locate"]["values"]["point"]
    assert np.allclose(column(rrd["/world/targets/strip"], "Points3D:positions"), [[point]])
    mask = column(rrd["/locate/strip/scene/mask"], "SegmentationImage:buffer")
    assert len(mask) == 1 and 0 < sum(mask[0][0]) < len(mask[0][0])


def test_rerun_rrd_verify_accepts_it(recording: Path) -> None:
    rerun = shutil.which("rerun")
    assert rerun is not None, "the rerun CLI comes with rerun-sdk"
    verified = subprocess.run(
        [rerun, "rrd", "verify", str(recording / "run.rrd")], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
