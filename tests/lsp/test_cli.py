"""`vitalskills lsp` on the command line: a bad `--skills` is reported before serving."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vitalskills.cli import app


def test_a_missing_skills_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lsp", "--skills", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert f"skill directory `{tmp_path / 'nope'}` does not exist" in result.stderr
