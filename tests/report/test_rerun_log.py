"""The rerun log: a short synthetic run written to `.rrd` and read back with rerun's reader.

The events, observations and locate result are built here (no simulator): this checks what
lands at each entity path, value for value; tests/e2e/test_rerun.py checks a real run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rerun as rr
from typer.testing import CliRunner

from tests.rrd import column, free_port, read_rrd, viewer_server, wait_for_text
from vitalskills.cli import app
from vitalskills.perception.grounder import LocateResult
from vitalskills.report import rerun_log
from vitalskills.report.record import Recorder
from vitalskills.report.rerun_log import (
    SPAWN,
    RerunLog,
    RerunUnavailable,
    check_viewer_url,
    spawn_viewer,
)
from vitalskills.robot import SceneFrame
from vitalskills.runtime.events import Event
from vitalskills.runtime.timing import Timings

POINT = np.array([0.52, -0.04, 0.031])
TASK = Path(__file__).parents[2] / "tasks" / "plug_in_socket.vtl"


def _mask() -> np.ndarray:
    mask = np.zeros((12, 16), bool)
    mask[3:7, 5:11] = True
    return mask


def _frame() -> SceneFrame:
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return SceneFrame(rgb=rgb, depth=np.ones((12, 16)), intrinsics=np.eye(3), extrinsics=np.eye(4))


def _node(event: str, node: int, kind: str, status: str, reason: str, **values) -> Event:
    return Event(event, 0.1 * node, 0.0, node=node, kind=kind, label=f"{kind} #{node}",
                 status=status, reason=reason, values=values)  # fmt: skip


def _observation(step: int) -> dict[str, np.ndarray]:
    return {
        "wrist_rgb": np.full((16, 16, 3), 40 * step, np.uint8),
        "tactile": np.arange(15, dtype=np.float32) * step,
        "ee_pose": np.array([0.4, 0.0, 0.2 - 0.01 * step, 1.0, 0.0, 0.0, 0.0]),
    }


def log_synthetic_run(log: RerunLog) -> None:
    """A locate that finds its target, then a skill that acts three times and fails."""
    log.event(Event("task_started", 0.0, 0.0, values={"task": "demo"}))
    log.event(_node("node_started", 1, "locate", "running", "started"))
    log.grounded_in(_frame(), LocateResult("power strip", "sim", True, mask=_mask(), point=POINT))
    log.event(_node("node_finished", 1, "locate", "success", "found it", query="power strip",
                    name="strip", found=True, point=POINT))  # fmt: skip
    log.event(_node("node_started", 2, "run_skill", "running", "started"))
    for step in (1, 2, 3):
        scene = np.full((12, 16, 3), 200, np.uint8) if step != 2 else None
        log.sample(step, _observation(step), scene, np.full(7, 0.1 * step))
        log.event(_node("node_progress", 2, "run_skill", "running", f"policy step {step}"))
    log.event(_node("node_finished", 2, "run_skill", "failure", "timed out after 4 s"))
    log.event(Event("task_finished", 1.0, 0.0, status="failure", reason="timed out"))


def test_a_logged_run_reads_back_entity_by_entity(tmp_path: Path) -> None:
    log = RerunLog(tmp_path / "run.rrd")
    log_synthetic_run(log)
    log.close()
    rrd = read_rrd(tmp_path / "run.rrd")
    assert set(rrd) >= {
        "/plan/events", "/plan/nodes/01_locate", "/plan/nodes/02_run_skill", "/cameras/wrist",
        "/cameras/scene", "/locate/strip/scene", "/locate/strip/scene/mask",
        "/signals/tactile", "/signals/action", "/world/ee", "/world/targets/strip",
    }  # fmt: skip

    texts = [row[0] for row in column(rrd["/plan/events"], "TextLog:text")]
    assert len(texts) == 9 and texts[0] == "t=0.00 s task_started demo"
    assert texts[-1] == "t=1.00 s task_finished: failure (timed out)"
    levels = [row[0] for row in column(rrd["/plan/events"], "TextLog:level")]
    assert levels.count("DEBUG") == 3 and levels.count("ERROR") == 2
    # A node's own log has its status changes only, not every progress report.
    skill = [row[0] for row in column(rrd["/plan/nodes/02_run_skill"], "TextLog:text")]
    assert skill == ["run_skill #2: running (started)",
                     "run_skill #2: failure (timed out after 4 s)"]  # fmt: skip

    mask = column(rrd["/locate/strip/scene/mask"], "SegmentationImage:buffer")
    assert len(mask) == 1
    assert np.array_equal(np.asarray(mask[0][0], np.uint8).reshape(12, 16), _mask())
    target = column(rrd["/world/targets/strip"], "Points3D:positions")
    assert np.allclose(target, [[POINT]])

    tactile = column(rrd["/signals/tactile"], "Scalars:scalars")
    assert np.allclose(tactile, [np.arange(15) * s for s in (1, 2, 3)])
    assert column(rrd["/signals/tactile"], "step") == [1, 2, 3]
    assert column(rrd["/__properties"], "RecordingInfo:name") == [["demo"]]  # the task
    actions = column(rrd["/signals/action"], "Scalars:scalars")
    assert np.allclose(actions[2], np.full(7, 0.3))
    ee = column(rrd["/world/ee"], "Transform3D:translation")
    assert np.allclose(ee[-1], [[0.4, 0.0, 0.17]])
    assert len(column(rrd["/cameras/wrist"], "EncodedImage:blob")) == 3
    assert len(column(rrd["/cameras/scene"], "EncodedImage:blob")) == 2  # none at step 2


def test_the_rrd_passes_rerun_rrd_verify(tmp_path: Path) -> None:
    log = RerunLog(tmp_path / "run.rrd")
    log_synthetic_run(log)
    log.close()
    rerun = shutil.which("rerun")
    assert rerun is not None, "the rerun CLI comes with rerun-sdk"
    verified = subprocess.run(
        [rerun, "rrd", "verify", str(tmp_path / "run.rrd")], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    assert "1 file verified without error" in verified.stderr + verified.stdout


def test_a_target_not_found_clears_the_earlier_one(tmp_path: Path) -> None:
    # `locate "power strip"` with no `as` binds the query itself: a name with a space.
    log = RerunLog(tmp_path / "run.rrd")
    log.event(_node("node_finished", 1, "locate", "success", "found", query="power strip",
                    name="power strip", found=True, point=POINT))  # fmt: skip
    log.event(_node("node_finished", 1, "locate", "success", "not found", query="power strip",
                    name="power strip", found=False, point=None))  # fmt: skip
    log.close()
    target = read_rrd(tmp_path / "run.rrd")["/world/targets/power\\ strip"]
    assert column(target, "Points3D:labels") == [["power strip"]]
    assert len(column(target, "Clear:is_recursive")) == 1


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://127.0.0.1:9876/proxy", "is not a rerun viewer address"),
        ("rerun+http:///proxy", "is not a rerun viewer address"),
        ("rerun+http://127.0.0.1:{port}/proxy", "no rerun viewer answered at"),
    ],
)
def test_a_viewer_url_that_cannot_work_is_refused_before_the_run(url: str, says: str) -> None:
    with pytest.raises(RerunUnavailable) as caught:
        check_viewer_url(url.format(port=free_port()))
    assert says in caught.value.message and caught.value.hint


def test_spawning_without_a_display_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RerunUnavailable) as caught:
        spawn_viewer(rr.RecordingStream("test"))
    assert "no display" in caught.value.message and "--rerun-url" in caught.value.hint


@pytest.mark.filterwarnings("ignore:RRD file has no footer")
def test_a_recorder_without_a_folder_streams_to_a_live_viewer(tmp_path: Path) -> None:
    saved = tmp_path / "received.rrd"
    with viewer_server(saved) as url:
        recorder = Recorder(None, live=url)
        assert recorder.rerun is not None
        log_synthetic_run(recorder.rerun)
        recorder.finish(None, Timings())
        wait_for_text(saved, "/plan/events", "task_finished")
    rrd = read_rrd(saved)
    assert len(column(rrd["/plan/events"], "TextLog:text")) == 9
    assert [p.name for p in tmp_path.iterdir()] == ["received.rrd"]  # no files of its own


@pytest.mark.filterwarnings("ignore:RRD file has no footer")
def test_rerun_streams_to_the_viewer_already_listening_on_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No window can open here; with a viewer (rerun's server) already on the port, `--rerun`
    # must use it rather than start another. DISPLAY only gets past the no-display check.
    saved = tmp_path / "received.rrd"
    with caplog.at_level("WARNING"), viewer_server(saved) as url:
        monkeypatch.setattr(rerun_log, "SPAWN_PORT", int(url.split(":")[-1].split("/")[0]))
        monkeypatch.setenv("DISPLAY", ":99")
        log = RerunLog(None, live=SPAWN)
        log_synthetic_run(log)
        log.close()
        wait_for_text(saved, "/plan/events", "task_finished")
    assert "spawn() call ignored" not in caplog.text  # rerun skips spawns it deems disabled


def test_run_refuses_a_viewer_url_where_nothing_answers(tmp_path: Path) -> None:
    url = f"rerun+http://127.0.0.1:{free_port()}/proxy"
    result = CliRunner().invoke(
        app, ["run", str(TASK), "--rerun-url", url, "--record", str(tmp_path / "rec")]
    )
    assert result.exit_code == 2, result.output
    assert f"no rerun viewer answered at {url}" in result.output
    assert "starting the simulator" not in result.output  # refused before anything ran
    assert list((tmp_path / "rec").iterdir()) == []  # and before any file was opened


def test_a_dry_run_refuses_rerun() -> None:
    result = CliRunner().invoke(app, ["run", str(TASK), "--dry-run", "--rerun"])
    assert result.exit_code == 2, result.output
    assert "--rerun does not apply to a dry run" in result.output
