"""Where the time of a simulated task run goes: start-up, locate, policy, bridge, render.

    uv run python benchmarks/run.py tasks/plug_in_socket.vtl [--skills DIR] [--seed S]

Runs the task once on the simulator behind the bridge with recording on, and prints the
wall time of each part beside a reference measured in the same run: the dry run of the
same plan (no simulator, no bridge, virtual time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vitalskills.app.dryrun import dry_run, plan_file
from vitalskills.app.run import RunOptions, run_file
from vitalskills.report.record import Recorder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path)
    parser.add_argument("--skills", type=Path, action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--condition", default="scene")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        outcome = run_file(
            args.task,
            RunOptions(condition=args.condition, seed=args.seed, skills_dirs=args.skills),
            recorder=Recorder(Path(folder) / "rec"),
        )
    total = time.perf_counter() - start
    reference = time.perf_counter()
    dry_run(plan_file(args.task, skills_dirs=args.skills))
    reference = time.perf_counter() - reference

    seconds = outcome.timings.seconds
    calls = outcome.timings.calls
    table = Table(title=f"{args.task} on the simulator ({args.condition}, seed {args.seed})")
    for column in ("part", "wall s", "share", "calls"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for name in ("startup", "policy load", "locate", "policy", "bridge", "render", "shutdown"):
        if name in seconds:
            table.add_row(name, f"{seconds[name]:.3f}", f"{seconds[name] / total:.0%}",
                          str(calls[name]))  # fmt: skip
    accounted = sum(v for k, v in seconds.items() if k != "policy load")
    table.add_row("other (executor, events, display)", f"{total - accounted:.3f}",
                  f"{(total - accounted) / total:.0%}", "")  # fmt: skip
    table.add_row("total", f"{total:.3f}", "100%", "")
    table.add_row("reference: dry run of the same plan", f"{reference:.3f}", "", "")
    Console().print(table)
    result = outcome.result
    print(
        f"outcome: {result.status.value} in {result.elapsed:.1f} s simulated, {result.ticks} ticks"
    )


if __name__ == "__main__":
    main()
