"""Benchmark: parse + check a generated 10,000-statement task, beside reading the file.

    uv run python benchmarks/compile.py [--statements 10000] [--repeats 5]

Prints the median of several runs for: reading the file (the reference), parsing it
(lark LALR + transformer to the IR), checking it against the shipped skill library,
and both together; for the `.vtl` surface and its YAML conversion. The one-off cost of
building the parser is printed separately.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vitalskills.lang import check_task, format_task, parse_file
from vitalskills.lang.grammar import parser
from vitalskills.lang.visit import child_blocks
from vitalskills.skills import SkillLibrary, project_skills_dir

#: One group of 10 statements (blocks count themselves and their children).
GROUP = """locate "power strip {i}" as strip{i} min_score 0.3
if found strip{i} {{
  try {{
    run skill plug_insert at strip{i} retries 2 timeout 30 s
  }} else {{
    move [0, 0, 100] mm in base
  }}
}}
wait 500 ms
repeat 2 {{ gripper close }}
"""
STATEMENTS_PER_GROUP = 8


def generate(statements: int) -> str:
    groups = max(1, statements // STATEMENTS_PER_GROUP)
    return 'task bench "generated"\n' + "".join(GROUP.format(i=i) for i in range(groups))


def count(body: list) -> int:
    total = 0
    for statement in body:
        total += 1
        total += sum(count(block) for block in child_blocks(statement))
    return total


def median_time(
    work: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        work()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--statements", type=int, default=10_000)
    options.add_argument("--repeats", type=int, default=5)
    args = options.parse_args()

    start = time.perf_counter()
    parser()
    build = time.perf_counter() - start
    library = SkillLibrary([project_skills_dir()])
    library.list()

    with tempfile.TemporaryDirectory() as tmp:
        vtl = Path(tmp) / "bench.vtl"
        vtl.write_text(generate(args.statements), encoding="utf-8")
        task = parse_file(vtl)
        yml = Path(tmp) / "bench.yaml"
        yml.write_text(format_task(task, "yaml"), encoding="utf-8")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"cpus: {os.cpu_count()}, load average (1/5/15 min): {load}")
        print(f"statements: {count(task.body)} (in {len(task.body)} top-level)")
        print(f"parser construction (once per process): {build * 1000:.0f} ms")
        print("median wall-clock times; `cpu` is this process's CPU time for parse+check")
        print(
            f"{'surface':8} {'size':>8} {'read':>9} {'parse':>9} {'check':>9} {'parse+check':>12}"
            f" {'cpu':>9}"
        )
        for path in (vtl, yml):
            parsed = parse_file(path)
            read = median_time(lambda p=path: p.read_text(encoding="utf-8"), args.repeats)
            parse = median_time(lambda p=path: parse_file(p), args.repeats)
            check = median_time(lambda t=parsed: check_task(t, library=library), args.repeats)

            def both(p: Path = path) -> None:
                assert not check_task(parse_file(p), library=library)

            total = median_time(both, args.repeats)
            cpu = median_time(both, args.repeats, time.process_time)
            size = f"{path.stat().st_size // 1024} KiB"
            print(
                f"{path.suffix[1:]:8} {size:>8} {read * 1000:8.2f}ms {parse * 1000:8.1f}ms "
                f"{check * 1000:8.1f}ms {total * 1000:11.1f}ms {cpu * 1000:8.1f}ms"
            )


if __name__ == "__main__":
    main()
