"""Random text and random mutations of valid tasks only ever raise located project errors.

Any other exception (a lark, yaml or pydantic error leaking out, a RecursionError, an
IndexError in the diagnostics) is a bug. Every error must also render without failing.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitalskills.lang import CheckFailed, check_task, parse_source
from vitalskills.lang.comments import attach_comments, scan_comments
from vitalskills.lang.errors import LangError
from vitalskills.lang.format import format_task
from vitalskills.skills import SkillLibrary, project_skills_dir

TASKS = Path(__file__).resolve().parents[2] / "tasks"
SEEDS = {
    path.name: (path.read_text(encoding="utf-8"), "yaml" if path.suffix != ".vtl" else "vtl")
    for path in sorted(TASKS.rglob("*"))
    if path.suffix in (".vtl", ".yaml", ".yml")
}
LIBRARY = SkillLibrary([project_skills_dir()])
PIECES = [
    *'{}[]();,"#@=:-$\n\t ',
    "locate", "as", "run", "skill", "retry", "try", "else", "if", "found", "timeout", "mm",
    "ms", "deg", "include", "param", "task", "1e999", "-3", "0.5", "steps:", "- ", "  ",
    "&a", "*a", "!!python/object", "\x00", "\ufeff", "é", "\\", "'",
]  # fmt: skip
SETTINGS = settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _parse_and_check(text: str, surface: str) -> None:
    try:
        task = parse_source(text, f"fuzz.{surface}", surface)
        errors = check_task(task, library=LIBRARY)
    except LangError as error:
        assert error.location is not None, error
        assert error.location.line >= 1 and error.location.column >= 1
        error.render()
        return
    for error in errors:
        assert error.location is not None, error
    if errors:
        CheckFailed(errors).render()
    comments = attach_comments(task, scan_comments(text, surface))
    for target in ("vtl", "yaml"):
        format_task(task, target, comments)  # whatever parses must also format


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["vtl", "yaml"]))
def test_random_text_only_raises_located_errors(text, surface):
    _parse_and_check(text, surface)


@SETTINGS
@given(
    st.sampled_from(sorted(SEEDS)),
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.floats(0, 1),
            st.sampled_from(PIECES) | st.text(max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_tasks_only_raise_located_errors(seed, mutations):
    text, surface = SEEDS[seed]
    for action, where, piece in mutations:
        at = int(where * len(text))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + len(piece) + 1 :]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    _parse_and_check(text, surface)
