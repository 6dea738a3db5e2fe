"""Benchmark: diagnostics in the language server after a change, beside `vitalskills check`.

    uv run python benchmarks/lsp.py [--changes 200] [--checks 10]

Starts `vitalskills lsp` as editors do (a subprocess on stdio), opens a generated task
of 50 lines, and times from sending each `didChange` (a different wait on the last line
each time, so every change is checked afresh) to receiving the diagnostics for that
version; it prints the median and the 90th percentile. The reference, measured in the
same run, is `vitalskills check` on the same file as a process: what an editor without
a language server would run on every save. Target: under 100 ms after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

#: Ten lines of a task; five of them make 50 lines with the header.
GROUP = """locate "power strip {i}" as strip{i} min_score 0.3
if found strip{i} {{
  try {{
    run skill plug_insert at strip{i} retries 2 timeout 30 s
  }} else {{
    move [0, 0, 100] mm in base
  }}
}}
reach strip{i} offset [0, 0, 40] mm
gripper open
"""
LINES = 50


def generate(wait_ms: int) -> str:
    """A 50-line task: a header, four groups, and the last groups' lines with a wait."""
    body = "".join(GROUP.format(i=i) for i in range(5)).splitlines()
    lines = ['task bench "50 lines"', *body[: LINES - 2], f"wait {wait_ms} ms"]
    assert len(lines) == LINES
    return "\n".join(lines) + "\n"


async def time_changes(path: Path, changes: int) -> tuple[list[float], int]:
    """Seconds from each didChange to its diagnostics, and how many diagnostics came."""
    client = LanguageClient("benchmark", "1")
    arrived: dict[int, float] = {}
    got: asyncio.Queue[int] = asyncio.Queue()
    count = 0

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        nonlocal count
        count = len(params.diagnostics)
        arrived[params.version or 0] = time.perf_counter()
        got.put_nowait(params.version or 0)

    await client.start_io(sys.executable, "-m", "vitalskills", "lsp")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    uri = path.as_uri()
    item = types.TextDocumentItem(uri=uri, language_id="vtl", version=0, text=generate(0))
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    await got.get()  # the first check also scans the skill library: not a change
    times = []
    for version in range(1, changes + 1):
        text = generate(version)
        sent = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        while await got.get() != version:
            pass
        times.append(arrived[version] - sent)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times, count


def time_check(path: Path, runs: int) -> list[float]:
    """Seconds for `vitalskills check FILE` as a process, start to exit."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "vitalskills", "check", str(path)], capture_output=True
        )
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr.decode()
    return times


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--changes", type=int, default=200)
    options.add_argument("--checks", type=int, default=10)
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.vtl"
        path.write_text(generate(0), encoding="utf-8")
        changes, diagnostics = asyncio.run(time_changes(path, args.changes))
        checks = time_check(path, args.checks)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus: {os.cpu_count()}, load average (1/5/15 min): {load}")
    print(f"task: {LINES} lines of .vtl, {diagnostics} diagnostics")

    def row(name: str, times: list[float]) -> str:
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
        median = statistics.median(times) * 1000
        return f"{name:44} {median:9.1f} ms {p90 * 1000:9.1f} ms {len(times):6}"

    print(f"{'':44} {'median':>12} {'p90':>12} {'runs':>6}")
    print(row("lsp: didChange -> publishDiagnostics", changes))
    print(row("reference: `vitalskills check FILE` process", checks))


if __name__ == "__main__":
    main()
