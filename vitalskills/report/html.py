"""`vitalskills report DIR`: one self-contained HTML page for a recorded run.

Images and the video are inlined as data URIs, so the page can be mailed or attached
to an issue as a single file and opened anywhere, offline.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from vitalskills.report.record import FILES, RecordError, read_recording
from vitalskills.runtime.display import source_where
from vitalskills.runtime.trace import read_trace

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
.success { color: #1a7f37; } .failure, .halted { color: #c62828; } .idle { color: #999; }
video, img { max-width: 100%; border: 1px solid #ccc; }
details pre { max-height: 30em; overflow: auto; background: #f6f6f6; padding: 0.5em; }
"""

#: Reports the video's decoded size on the page, so a headless browser can check it.
VIDEO_PROBE = """
const v = document.getElementById('video');
if (v) { v.addEventListener('loadedmetadata', () => {
  document.getElementById('video-status').textContent =
    'video ' + v.videoWidth + 'x' + v.videoHeight + ', ' + v.duration.toFixed(1) + ' s';
}); }
"""


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _depth(nodes: dict[int, dict[str, Any]], node: dict[str, Any]) -> int:
    depth = 0
    while node.get("parent") not in (None, 0):
        node = nodes[node["parent"]]
        depth += 1
    return depth


def _nodes_table(summary: dict[str, Any]) -> str:
    nodes = {n["id"]: n for n in summary.get("nodes", [])}
    main_file = (summary.get("run") or {}).get("file")
    rows = []
    for node in nodes.values():
        if node["id"] == 0:
            continue
        elapsed = f"{node['elapsed']:.2f} s" if node.get("elapsed") is not None else ""
        indent = "&nbsp;&nbsp;" * _depth(nodes, node)
        where = source_where(node.get("line"), node.get("file"), main_file)
        rows.append(
            f"<tr><td>{_e(where)}</td><td>{indent}{_e(node['label'])}</td>"
            f"<td class='{_e(node['status'])}'>{_e(node['status'])}</td><td>{elapsed}</td>"
            f"<td>{_e(node.get('reason'))}</td></tr>"
        )
    head = "<tr><th>line</th><th>step</th><th>status</th><th>time</th><th>reason</th></tr>"
    return f"<table id='nodes'>{head}{''.join(rows)}</table>"


def _timings_table(summary: dict[str, Any]) -> str:
    timings = summary.get("timings") or {}
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{entry['seconds']:.3f} s</td><td>{entry['calls']}</td></tr>"
        for name, entry in timings.items()
    )
    return (
        f"<table id='timings'><tr><th>part</th><th>wall time</th><th>calls</th></tr>{rows}</table>"
    )


def render_report(directory: Path, out: Path | None = None) -> Path:
    """Write the report of the recording in `directory`; return its path.

    Args:
        out: where to write (default `DIR/report.html`).

    Raises:
        RecordError: the folder is not a recording, or a file in it is unreadable.
    """
    directory = Path(directory)
    summary = read_recording(directory)
    events = read_trace(directory / FILES["trace"]) if (directory / FILES["trace"]).exists() else []
    status = str(summary.get("status") or "unknown")
    run = summary.get("run") or {}
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in run.items())
    parts = [
        f"<h1>task {_e(summary.get('task'))}: "
        f"<span class='{_e(status)}'>{_e(status.upper())}</span></h1>",
        f"<p id='outcome'>{_e(summary.get('reason'))} "
        f"({float(summary.get('elapsed') or 0):.2f} s on the run clock, "
        f"{_e(summary.get('ticks'))} ticks, {_e(summary.get('steps'))} actions)</p>",
        f"<table id='run'>{facts}</table>",
        "<h2>Steps</h2>",
        _nodes_table(summary),
    ]
    video = directory / FILES["video"]
    if video.exists():
        parts += [
            "<h2>Wrist and scene cameras</h2>",
            f"<video id='video' controls muted src='{_data_uri(video, 'video/mp4')}'></video>",
            "<p id='video-status'>video not decoded</p>",
        ]
    signals = directory / FILES["signals"]
    if signals.exists():
        parts += [
            "<h2>Tactile signals and actions</h2>",
            f"<img id='signals' alt='tactile and actions over time' "
            f"src='{_data_uri(signals, 'image/png')}'>",
        ]
    parts += ["<h2>Where the time went</h2>", _timings_table(summary)]
    lines = "\n".join(
        f"{e.get('t', 0):8.2f}s  {e.get('event')}  {e.get('label') or ''}  "
        f"{e.get('status') or ''}  {e.get('reason') or ''}"
        for e in events
    )
    parts.append(
        f"<details><summary>trace ({len(events)} events)</summary><pre>{_e(lines)}</pre></details>"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>vitalskills run: {_e(summary.get('task'))}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}<script>{VIDEO_PROBE}</script></body></html>"
    )
    target = out or directory / "report.html"
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as error:
        raise RecordError(f"cannot write the report `{target}`: {error.strerror}") from None
    return target
