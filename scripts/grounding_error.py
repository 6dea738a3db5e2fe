"""Measure the example tasks under grounding error: the table in docs/results.md.

Runs every task with `vitalskills run TASK --condition scene --seed S --grounding-error
MM [--grounding-miss P] --json` (one process per run, as a user would) for each error
level and seed, appends one JSON line per run to `--out` (a rerun skips what is there,
so an interrupted measurement resumes), and prints the Markdown table:

    uv run --frozen python scripts/grounding_error.py --out runs/grounding_error.jsonl
    uv run --frozen python scripts/grounding_error.py --out runs/grounding_error.jsonl --table

Cells are successes out of seeds, with the failed seeds (`w`: the bridge's watchdog
stopped the run because the loaded machine starved it; `--rerun-stalled` runs those
again). The last rows are the measured
3D error of each task's first `locate` (its point against the same seed's 0 mm point,
which is the oracle's; median over all tasks and seeds) and how often it was found.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vitalskills.cli.learning import progress_bar

TASKS = (
    "plug_in_socket",
    "usb_in_port",
    "swipe_card",
    "insert_key",
    "plug_then_swipe",
    "usb_insert",
    "normative",
)
#: (error mm, miss rate) columns, in the order they run: the must-show ones first.
COLUMNS = ((0.0, 0.0), (10.0, 0.0), (10.0, 0.2), (20.0, 0.0), (30.0, 0.0))


def command(task: str, seed: int, error: float, miss: float) -> list[str]:
    """The `vitalskills run` command of one cell's run."""
    args = ["vitalskills", "run", f"tasks/{task}.vtl", "--condition", "scene"]
    args += ["--seed", str(seed), "--grounding-error", f"{error:g}"]
    if miss:
        args += ["--grounding-miss", f"{miss:g}"]
    return [*args, "--json"]


def run_one(task: str, seed: int, error: float, miss: float) -> dict:
    """Run one task once; return what the table needs."""
    args = command(task, seed, error, miss)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, check=False
    )
    record = {
        "task": task, "seed": seed, "error_mm": error, "miss": miss,
        "command": " ".join(args), "exit": done.returncode,
        "wall_s": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        record.update(ok=False, reason=done.stderr.strip().splitlines()[-1:])
        return record
    locates = [n.get("values", {}) for n in summary["nodes"] if n["kind"] == "locate"]
    record.update(
        ok=bool(summary["ok"]),
        reason=summary["reason"],
        found=[bool(v.get("found")) for v in locates],
        first_point=locates[0].get("point") if locates else None,
    )
    return record


def stalled(record: dict) -> bool:
    """Whether a run failed because the machine starved it: the bridge's watchdog fired."""
    return "watchdog" in str(record.get("reason", ""))


def load(out: Path) -> list[dict]:
    if not out.is_file():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def measure(out: Path, tasks: list[str], seeds: list[int], jobs: int) -> None:
    """Run every (column, task, seed) not yet in `out`, appending as they finish."""
    done = {(r["task"], r["seed"], r["error_mm"], r["miss"]) for r in load(out)}
    todo = [
        (task, seed, error, miss)
        for error, miss in COLUMNS
        for task in tasks
        for seed in seeds
        if (task, seed, error, miss) not in done
    ]
    with progress_bar("ok") as progress, ThreadPoolExecutor(jobs) as pool:
        bar = progress.add_task("grounding error runs", total=len(todo), ok=0)
        successes = 0
        for record in pool.map(lambda cell: run_one(*cell), todo):
            with out.open("a") as file:
                file.write(json.dumps(record) + "\n")
            successes += record["ok"]
            progress.update(bar, advance=1, ok=successes)
            print(
                f"{record['task']} seed {record['seed']} {record['error_mm']:g} mm "
                f"miss {record['miss']:g}: {'ok' if record['ok'] else 'FAIL'} "
                f"({record['wall_s']} s) {record['reason']}",
                flush=True,
            )


def table(records: list[dict], tasks: list[str]) -> str:
    """The Markdown table: successes per task and column, then the measured 3D error."""
    cells = {(r["task"], r["error_mm"], r["miss"]): [] for r in records}
    for r in records:
        cells[(r["task"], r["error_mm"], r["miss"])].append(r)
    names = [f"{e:g} mm" + (f", miss {m:g}" if m else "") for e, m in COLUMNS]
    lines = ["| task | " + " | ".join(names) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for task in tasks:
        row = []
        for error, miss in COLUMNS:
            runs = sorted(cells.get((task, error, miss), []), key=lambda r: r["seed"])
            if not runs:
                row.append("-")
                continue
            failed = [f"{r['seed']}{'w' if stalled(r) else ''}" for r in runs if not r["ok"]]
            cell = f"{sum(r['ok'] for r in runs)}/{len(runs)}"
            row.append(cell + (f" (failed {', '.join(failed)})" if failed else ""))
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    oracle = {
        (r["task"], r["seed"]): r["first_point"]
        for r in records
        if r["error_mm"] == 0 and r.get("first_point")
    }
    errors = []
    for error, miss in COLUMNS:
        mm = [
            1000 * float(np.linalg.norm(np.subtract(r["first_point"], oracle[key])))
            for r in records
            if (r["error_mm"], r["miss"]) == (error, miss)
            and r.get("first_point")
            and (key := (r["task"], r["seed"])) in oracle
        ]
        errors.append(f"{np.median(mm):.1f} (n={len(mm)})" if mm else "-")
    lines.append("| median 3D error of the first locate, mm | " + " | ".join(errors) + " |")
    found = []
    for error, miss in COLUMNS:
        firsts = [r["found"][0] for r in records if (r["error_mm"], r["miss"]) == (error, miss)
                  and r.get("found")]  # fmt: skip
        found.append(f"{sum(firsts)}/{len(firsts)}" if firsts else "-")
    lines.append("| first locate found | " + " | ".join(found) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/grounding_error.jsonl"))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seeds", type=int, default=10, help="scene seeds 0..N-1")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument(
        "--rerun-stalled", action="store_true", help="run the watchdog-stopped runs again"
    )
    args = parser.parse_args()
    if args.rerun_stalled:
        records = load(args.out)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records if not stalled(r)))
        with args.out.with_suffix(".stalled.jsonl").open("a") as file:
            file.writelines(json.dumps(r) + "\n" for r in records if stalled(r))
    if not args.table:
        measure(args.out, args.tasks, list(range(args.seeds)), args.jobs)
    print(table(load(args.out), args.tasks))


if __name__ == "__main__":
    main()
