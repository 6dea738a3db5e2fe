"""`run --record` on the simulator writes a `run.rrd` that rerun reads, holding every entity;
`run --rerun-url` streams the same to a viewer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.rrd import column, read_rrd, viewer_server, wait_for_text
from vitalskills.cli import app

pytestmark = pytest.mark.slow
TASK = Path(__file__).parents[2] / "tasks" / "plug_in_socket.vtl"
# The tiny skill does not insert the plug; a 6 s limit (simulated) keeps a run short.
RUN = ["--condition", "scene", "--seed", "2", "--timeout", "6"]


def entities(summary: dict) -> set[str]:
    """The entity paths a run of TASK must log, named from its summary's node ids."""
    ids = {n["kind"]: n["id"] for n in summary["nodes"]}
    return {
        "/plan/events", f"/plan/nodes/{ids['locate']:02d}_locate",
        f"/plan/nodes/{ids['run_skill']:02d}_run_skill", "/cameras/wrist", "/cameras/scene",
        "/locate/strip/scene", "/locate/strip/scene/mask", "/signals/tactile",
        "/signals/action", "/world/ee", "/world/targets/strip",
    }  # fmt: skip


@pytest.fixture(scope="module")
def recording(tiny_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rerun") / "rec"
    result = CliRunner().invoke(
        app, ["run", str(TASK), "--skills", str(tiny_library), "--record", str(out), *RUN]
    )
    assert result.exit_code == 1, result.output
    assert f"rerun {out / 'run.rrd'}" in result.output
    return out


def test_the_run_rrd_holds_every_entity_of_the_run(recording: Path) -> None:
    summary = json.loads((recording / "summary.json").read_text())
    assert summary["files"]["rerun"] == "run.rrd"
    nodes = {n["kind"]: n for n in summary["nodes"]}
    rrd = read_rrd(recording / "run.rrd")
    assert set(rrd) >= entities(summary)

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


@pytest.mark.filterwarnings("ignore:RRD file has no footer")
def test_run_rerun_url_streams_every_entity_to_a_viewer(tiny_library: Path, tmp_path: Path) -> None:
    saved = tmp_path / "received.rrd"
    with viewer_server(saved) as url:
        live = ["--rerun-url", url, "--json"]
        result = CliRunner().invoke(
            app, ["run", str(TASK), "--skills", str(tiny_library), *live, *RUN]
        )
        assert result.exit_code == 1, result.output
        wait_for_text(saved, "/plan/events", "task_finished")
    summary = json.loads(result.stdout)
    rrd = read_rrd(saved)
    assert set(rrd) >= entities(summary)
    texts = [row[0] for row in column(rrd["/plan/events"], "TextLog:text")]
    assert texts[-1].endswith("task_finished: failure (the run exceeded its 6 s limit)")
