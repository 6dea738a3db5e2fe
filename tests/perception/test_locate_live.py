"""`vitalskills locate --repl / --watch / --robot / --track`: one loaded grounder, many answers.

Through the public CLI, in process (typer's CliRunner) and, for Ctrl-C, as a real
process. Model-free cases use the `sim` grounder on a simulated task; the model cases
use tiny random models saved in the real formats (an OWL-ViT detector, a SAM 2 masker,
a SAM 2 video model as tracker), whose answers are meaningless but whose paths are real.
Random weights make the tracker's presence score meaningless too, so the tests set the
grounder's `track_min_score` to 0 (always follow) or 1 (always lost) in a config file.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.bridge.conftest import served
from tests.bridge.fake_arm import FakeArm, NoSceneArm
from vitalskills.app.locate import FileFrames
from vitalskills.app.locate_live import LocateSession, watch
from vitalskills.cli import app
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.random_maskers import save_random_masker
from vitalskills.perception.random_video_models import save_random_sam2_video

runner = CliRunner()

SIM = ["locate", "--task", "plug_in_socket"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, owlvit_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("live")
    return {
        "detector": owlvit_dir,
        "masker": save_random_masker(root / "sam2", "sam2"),
        "video": save_random_sam2_video(root / "sam2-video", image_size=64),
    }


def tiny_config(
    path: Path, models: dict[str, Path], min_score: float, threshold: float = 0.0
) -> Path:
    """A config file with grounder `tiny`: the random models, every box accepted."""
    options = {
        "backend": "owlv2-sam", "detector": str(models["detector"]),
        "masker": str(models["masker"]), "threshold": threshold, "track_min_score": min_score,
    }  # fmt: skip
    path.write_text(json.dumps({"grounders": {"tiny": options}}))
    return path


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def loads(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded grounder")]


# ------------------------------------------------------------------ the REPL


def test_the_repl_answers_piped_queries_with_the_models_loaded_once(
    files: dict[str, str],
    models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A threshold no other test uses: this grounder is not already in the process cache.
    config = tiny_config(tmp_path / "config.yaml", models, min_score=0.5, threshold=0.0123)
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(config))
    caplog.set_level(logging.INFO, logger="vitalskills.perception.factory")
    args = ["locate", files["image"], "--depth", files["depth"], "--intrinsics",
            files["intrinsics"], "--grounder", "tiny", "--repl", "--json"]  # fmt: skip
    stdin = "grey box\n\ntable\n:frame\ngrey box\n"
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    answers = json_lines(result.stdout)
    assert [a["query"] for a in answers] == ["grey box", "table", "grey box"]
    # Two queries on frame 1, one on the frame :frame read again; no extrinsics: camera.
    assert [a["frame_index"] for a in answers] == [1, 1, 2]
    assert all(a["grounder"] == "tiny" and a["frame"] == "camera" for a in answers)
    assert all(a["answered_by"] == "query" and "detector" in a["timings"] for a in answers)
    assert "frame 2: 160x120 from" in result.stderr
    assert len(loads(caplog)) == 1 and loads(caplog)[0].startswith("loaded grounder `tiny` (")
    # The same options again in this process: the loaded grounder is reused, not reloaded.
    caplog.clear()
    again = runner.invoke(app, args, input="grey box\n")
    assert again.exit_code == 0, again.output
    assert loads(caplog) == []


def test_the_repl_in_a_simulated_scene_prints_a_line_per_query() -> None:
    stdin = "power strip\nscrewdriver\n:help\n:quit\npower strip\n"
    result = runner.invoke(app, [*SIM, "--repl"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines  # nothing after :quit
    assert lines[0].startswith("found power strip with sim (score 1.000) at (")
    assert "base frame [privileged]; text query, " in lines[0] and lines[0].endswith(" mm")
    assert lines[1].startswith("not found: screwdriver: no object in the scene is called")
    assert ":frame   take a new frame from the source" in result.stderr
    assert "grounder `sim` ready in " in result.stderr


def test_the_repl_refuses_an_unknown_command_and_answers_the_rest() -> None:
    result = runner.invoke(app, [*SIM, "--repl", "--query", "socket"], input=":fram\noutlet\n")
    assert result.exit_code == 1, result.output
    assert "error: unknown command `:fram`" in result.stderr
    assert "help: commands: :frame, :help, :quit; anything else is a query" in result.stderr
    # --query is the first question, then the lines of stdin.
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["socket", "outlet"]


# ------------------------------------------------------------------ --watch and --track


def watch_args(*extra: str) -> list[str]:
    return [*SIM, "--grounder", "tiny", "--query", "power strip", "--watch", "--interval", "0",
            *extra]  # fmt: skip


def test_watch_follows_the_object_by_tracking_after_the_first_frame(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tmp_path / "config.yaml", models, min_score=0.0)
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(config))
    args = watch_args("--frames", "3", "--track", str(models["video"]))
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    answers = json_lines(result.stdout)
    assert [a["frame_index"] for a in answers] == [1, 2, 3]
    assert [a["answered_by"] for a in answers] == ["query", "tracker", "tracker"]
    assert "detector" in answers[0]["timings"] and "track" in answers[0]["timings"]
    assert all("detector" not in a["timings"] for a in answers[1:])
    assert all(a["detail"].startswith("followed from the previous locate") for a in answers[1:])
    # The simulated scene knows the truth: every line carries the error.
    assert all(a["true_point"] == pytest.approx([0.5, 0.0, 0.032]) for a in answers)
    text = runner.invoke(app, [*args, "--query", "socket"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["frame 1", "frame 2", "frame 3"]
    assert "; text query, " in lines[0] and all("; tracked, " in line for line in lines[1:])


def test_watch_without_track_or_with_a_lost_object_asks_the_detector_each_frame(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tmp_path / "config.yaml", models, min_score=1.0)  # always lost
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(config))
    for extra in ([], ["--track", str(models["video"])]):
        result = runner.invoke(app, [*watch_args("--frames", "2", *extra), "--json"])
        assert result.exit_code == 0, result.output
        answers = json_lines(result.stdout)
        assert [a["answered_by"] for a in answers] == ["query", "query"]
        assert all("detector" in a["timings"] for a in answers)


def test_watch_paces_frames_by_the_interval(files: dict[str, str]) -> None:
    source = FileFrames(Path(files["image"]), Path(files["depth"]), files["intrinsics"])
    waits: list[float] = []
    with LocateSession(source, lambda: make_grounder("sim")) as session:
        answers = list(watch(session, "box", frames=3, interval_s=5.0, sleep=waits.append))
    assert [a.frame_index for a in answers] == [1, 2, 3]
    # A wait between frames, none after the last; each at most the interval.
    assert len(waits) == 2 and all(0.0 <= wait <= 5.0 for wait in waits)


def test_ctrl_c_stops_watch_cleanly() -> None:
    command = [str(Path(sys.executable).with_name("vitalskills")), *SIM, "--query",
               "power strip", "--watch", "--interval", "0.05"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first.startswith("frame 1: found power strip with sim")
    assert second.startswith("frame 2: found power strip with sim")
    assert proc.returncode == 130, errors
    assert "stopped after " in errors and "Traceback" not in errors
    assert all(line.startswith("frame ") for line in rest.splitlines())


# ------------------------------------------------------------------ --robot


def test_watch_and_the_repl_read_a_robots_scene_camera_over_the_bridge() -> None:
    expected = FakeArm().scene()
    with served() as server:
        result = runner.invoke(
            app,
            ["locate", "--robot", server.address, "--grounder", "sim", "--query", "socket",
             "--watch", "--frames", "2", "--interval", "0", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        answers = json_lines(result.stdout)
        assert [a["frame_index"] for a in answers] == [1, 2]
        assert all(a["found"] and a["frame"] == "base" for a in answers)
        assert answers[0]["true_point"] == pytest.approx(expected.objects["socket"].tolist())
        repl = runner.invoke(
            app, ["locate", "--robot", server.address, "--grounder", "sim", "--repl"],
            input="power strip\n:frame\nsocket\n",
        )  # fmt: skip
        assert repl.exit_code == 0, repl.output
        assert f"frame 2: 32x24 from {server.address}" in repl.stderr
        assert len(repl.stdout.splitlines()) == 2


def test_a_robot_without_a_scene_camera_or_without_a_server_is_a_clear_error() -> None:
    with served(NoSceneArm()) as server:
        result = runner.invoke(
            app, ["locate", "--robot", server.address, "--grounder", "sim", "-q", "socket"]
        )
    assert result.exit_code == 1, result.output
    assert "scene" in result.stderr and "Traceback" not in result.output
    gone = runner.invoke(
        app, ["locate", "--robot", "tcp://127.0.0.1:9", "--connect-timeout", "0.2", "-q", "x"]
    )
    assert gone.exit_code == 3, gone.output
    assert "tcp://127.0.0.1:9" in gone.stderr


# ------------------------------------------------------------------ mistakes


@pytest.mark.parametrize(
    ("extra", "message", "code"),
    [
        (["--repl", "--watch"], "--repl and --watch do not go together", 2),
        (["--frames", "2"], "--frames applies only with --watch", 2),
        (["--interval", "1", "--frames", "2"], "--interval, --frames apply only with --watch", 2),
        (["--repl", "--out", "x.png"], "--out applies to a single locate", 2),
        (["--watch", "--query", " "], "--query is required", 2),
        (["--robot", "tcp://127.0.0.1:9"], "--task and --robot both name the frames", 2),
        (["--track", "somewhere"], "option `track` does not apply to grounder `sim`", 1),
        (["--dtype", "float16"], "option `dtype` does not apply to grounder `sim`", 1),
        (["--dtype", "float8"], "float8", 2),
    ],
)  # fmt: skip
def test_mistakes_are_diagnostics(extra: list[str], message: str, code: int) -> None:
    result = runner.invoke(app, [*SIM, "--query", "socket", *extra])
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_missing_track_folder_names_it(models: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [*SIM, "--query", "socket", "--grounder", "owlv2-sam", "--detector",
         str(models["detector"]), "--masker", str(models["masker"]), "--track",
         str(tmp_path / "edgetam")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"video model directory `{tmp_path / 'edgetam'}` does not exist" in result.stderr


def test_watch_needs_a_live_source(files: dict[str, str]) -> None:
    args = ["locate", files["image"], "--depth", files["depth"], "--intrinsics",
            files["intrinsics"], "--query", "box", "--grounder", "sim", "--watch"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--watch needs a live source: --robot ADDRESS or --task TASK" in result.stderr


def test_dtype_reaches_the_models(
    models: dict[str, Path], files: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    args = ["locate", files["image"], "--depth", files["depth"], "--intrinsics",
            files["intrinsics"], "--query", "grey box", "--grounder", "owlv2-sam", "--detector",
            str(models["detector"]), "--masker", str(models["masker"]), "--threshold", "0",
            "--dtype", "bfloat16", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {"detector", "sam"} <= set(json.loads(result.stdout)["timings"])  # random: any answer
    # The grounder the command loaded, found again in the process cache (no new load).
    caplog.set_level(logging.INFO, logger="vitalskills.perception.factory")
    grounder = make_grounder(
        "owlv2-sam",
        overrides=dict(detector=str(models["detector"]), masker=str(models["masker"]),
                       threshold=0.0, dtype="bfloat16"),
    )  # fmt: skip
    assert loads(caplog) == [] and str(grounder.sam.dtype) == "torch.bfloat16"
