"""`--record DIR` files are readable, and `vitalskills report` renders in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import imageio.v2 as imageio
import pytest
from PIL import Image
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.runtime.trace import read_trace

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

TASK = """\
task quick "Plug in, briefly"
include "open.vtl"
locate "power strip" as strip
run skill plug_insert at strip timeout 4 s
"""


@pytest.fixture(scope="module")
def recording(tiny_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("record")
    (root / "quick.vtl").write_text(TASK)
    (root / "open.vtl").write_text("gripper open\n")
    result = CliRunner().invoke(
        app,
        ["run", str(root / "quick.vtl"), "--skills", str(tiny_library),
         "--record", str(root / "rec"), "--condition", "scene", "--seed", "2"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # a 3-step policy does not insert the plug
    return root / "rec"


def test_recording_files_exist_and_are_readable(recording: Path) -> None:
    summary = json.loads((recording / "summary.json").read_text())
    steps = summary["steps"]
    assert steps >= 20 and summary["status"] == "failure"
    assert set(summary["timings"]) >= {"startup", "bridge", "policy", "locate", "render"}
    events = read_trace(recording / "trace.jsonl")
    assert events[0]["event"] == "task_started" and events[-1]["event"] == "task_finished"
    assert all("wall" in e and "t" in e for e in events)
    reader = imageio.get_reader(str(recording / "video.mp4"), format="FFMPEG")
    try:
        count = 0
        for frame in reader:
            count += 1
            assert frame.shape == (320, 560, 3)
        assert count == steps
        assert frame[:240].std() > 10  # camera images, not a blank canvas
    finally:
        reader.close()
    with Image.open(recording / "signals.png") as plot:
        assert plot.size[0] > 500 and plot.size[1] > 300


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(recording: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(recording)])
    assert result.exit_code == 0, result.output
    page = recording / "report.html"
    text = page.read_text()
    assert "src='data:video/mp4;base64," in text and "src='data:image/png;base64," in text
    assert "http" not in text.replace("data:", "")  # nothing to fetch: self-contained
    # A step from an included file shows its file, as the terminal does (it showed `1`).
    assert "<tr><td>open.vtl:1</td>" in text and "<tr><td>3</td>" in text
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=10000"]  # fmt: skip
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'task quick: <span class="failure">FAILURE</span>' in dom
    assert "timed out after 4 s" in dom
    assert "video 560x320" in dom  # the browser decoded the MP4's metadata
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        low, high = image.convert("L").getextrema()
        assert high - low > 100  # the page drew something
