"""Helpers for the task-language tests: write files, compile them, collect codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vitalskills.lang import CheckFailed, compile_task
from vitalskills.skills import SkillLibrary, project_skills_dir

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"


@pytest.fixture(autouse=True)
def _clean_user_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep the developer's own skills out of the tests."""
    monkeypatch.setenv("VITALSKILLS_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def library() -> SkillLibrary:
    """The shipped library (plug_insert, usb_insert, card_swipe, key_insert)."""
    return SkillLibrary([project_skills_dir()])


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a task file under tmp_path and return its path."""

    def _write(text: str | bytes, name: str = "task.vtl") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def tasks_dir() -> Path:
    """The example task files shipped in `tasks/`."""
    return TASKS


@pytest.fixture
def errors_of(library: SkillLibrary) -> Callable[..., list[tuple[str, int, int]]]:
    """Compile a file; return (code, line, column) of every diagnostic, [] when it checks."""

    def _errors(path: Path, **kwargs) -> list[tuple[str, int, int]]:
        kwargs.setdefault("library", library)
        try:
            compile_task(path, **kwargs)
        except CheckFailed as failed:
            return [(e.code, e.location.line, e.location.column) for e in failed.errors]
        return []

    return _errors
