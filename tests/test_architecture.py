"""The layers of docs/architecture.md hold: import-linter's contracts, run as CI runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_an_upward_import_breaks_the_build_and_is_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "vitalskills", tmp_path / "vitalskills")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "vitalskills" / "robot" / "upward.py").write_text(
        '"""A contract that reaches up into a workflow."""\n\nimport vitalskills.app.run\n'
    )
    done = lint_imports(tmp_path, tmp_path)
    assert done.returncode != 0
    assert "layers: a package imports only from the layers below it BROKEN" in done.stdout
    assert "vitalskills.robot.upward -> vitalskills.app.run" in done.stdout


def test_rotations_are_implemented_once() -> None:
    """Quaternion and rotation-matrix code lives in `robot/geometry.py` and nowhere else."""
    pattern = re.compile(r"^\s*def \w*(quat|axis_angle|rotation_matrix|rotvec)\w*\(", re.M)
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "vitalskills").rglob("*.py"))
        if path != ROOT / "vitalskills" / "robot" / "geometry.py"
        and pattern.search(path.read_text())
    ]
    assert elsewhere == []
