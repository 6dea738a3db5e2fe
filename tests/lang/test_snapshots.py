"""Pin the full rendered text of every diagnostic code (rustc/ruff-style snapshots).

The expected output lives in `snapshots.txt` beside this file. After an intended change
to a message, regenerate it with `VITALSKILLS_UPDATE_SNAPSHOTS=1 uv run pytest
tests/lang/test_snapshots.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vitalskills.errors import VitalskillsError
from vitalskills.lang import CheckFailed, compile_task
from vitalskills.lang.robotcaps import load_capabilities
from vitalskills.skills import SkillLibrary, load_manifest, project_skills_dir

SNAPSHOTS = Path(__file__).with_name("snapshots.txt")
HEAD = 'param target = "power strip"\nlocate "strip" as strip\n'

#: (case name, {file: content}); the first file is compiled (with `--set x=1` for E240).
CASES: list[tuple[str, dict[str, str | bytes]]] = [
    ("E100 unexpected", {"t.vtl": "gripper open %\n"}),
    ("E101 missing closing brace", {"t.vtl": "retry 2 {\n  gripper open\n"}),
    ("E102 end of statement", {"t.vtl": "gripper open gripper close\n"}),
    ("E103 unterminated string", {"t.vtl": 'fail "no plug\n'}),
    ("E104 extra closing brace", {"t.vtl": "gripper open\n}\n"}),
    ("E105 unknown statement", {"t.vtl": 'locat "plug"\n'}),
    ("E106 vector size", {"t.vtl": "move [0, 100] mm\n"}),
    ("E107 option twice", {"t.vtl": 'locate "x" min_score 0.1 min_score 0.2\n'}),
    ("E108 unknown frame", {"t.vtl": "move [0, 0, 1] mm in world\n"}),
    ("E109 unknown option", {"t.vtl": HEAD + "run skill plug_insert retires 2\n"}),
    ("E110 empty file", {"t.vtl": "# nothing yet\n"}),
    ("E111 not utf-8", {"t.vtl": b'fail "caf\xe9"\n'}),
    ("E112 yaml syntax", {"t.yaml": "steps:\n  - wait: 1 s\n - gripper: open\n"}),
    ("E113 yaml unknown key", {"t.yaml": "steps:\n  - run: plug_insert\n    retires: 2\n"}),
    ("E114 yaml shape", {"t.yaml": "steps:\n  - move: [0, 0, 1]\n"}),
    ("E115 header not first", {"t.vtl": "gripper open\ntask late\n"}),
    ("E120 missing include", {"t.vtl": 'include "common/nope.vtl"\n'}),
    ("E121 include cycle", {"t.vtl": 'include "u.vtl"\n', "u.vtl": 'include "t.vtl"\n'}),
    (
        "E122 include argument, and an error inside the included file",
        {"t.vtl": 'include "u.vtl" with b = 2\n', "u.vtl": "param a = 1\nwait a\n"},
    ),
    ("E150 as needs a name", {"t.vtl": 'locate "power strip" as\n'}),
    ("E154 missing unit", {"t.vtl": "wait 500\n"}),
    ("E157 else on its own line", {"t.vtl": "try {\n  gripper open\n}\nelse {\n}\n"}),
    ("E169 bad escape", {"t.vtl": 'fail "a \\q"\n'}),
    ("E170 keyword as name", {"t.vtl": 'locate "x" as skill\n'}),
    ("E171 too deep", {"t.vtl": "try {\n" * 102 + "}\n" * 102}),
    ("E200 unknown skill", {"t.vtl": HEAD + "run skill plug_insrt at strip\n"}),
    ("E201 version mismatch", {"t.vtl": HEAD + "run skill plug_insert@>=1.0\n"}),
    ("E202 bad constraint", {"t.vtl": HEAD + "run skill plug_insert@=>1\n"}),
    ("E210 undefined name", {"t.vtl": HEAD + "reach stirp\n"}),
    ("E211 used before locate", {"t.vtl": 'reach plug\nlocate "plug" as plug\n'}),
    ("E212 param as target", {"t.vtl": HEAD + "reach target\n"}),
    ("E213 no target", {"t.vtl": "run skill plug_insert\n"}),
    ("E220 wrong unit", {"t.vtl": "wait 30 mm\n"}),
    ("E221 bad value", {"t.vtl": 'locate "plug" min_score 1.5\n'}),
    ("E230 missing sensor", {"t.vtl": HEAD + "run skill plug_insert\n", "robot.yaml": ""}),
    ("E240 bad override", {"t.vtl": HEAD + "wait 1 s\n"}),
    ("E241 missing task file", {}),
    ("E242 bad robot caps", {"t.vtl": HEAD, "robot.yaml": "name: r\nsensors: 3\n"}),
    ("E300 bad manifest", {"t.vtl": HEAD, "sk/s/skill.yaml": "name: s\nversion: one\n"}),
]


def _render(name: str, files: dict[str, str | bytes]) -> tuple[str, set[str]]:
    """Write the case's files in the current directory; return the output and codes."""
    library = SkillLibrary([project_skills_dir()])
    for relative, content in files.items():
        path = Path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    target = Path(next(iter(files), "missing.vtl"))
    robot = None
    try:
        if name.startswith("E230"):
            Path("robot.yaml").write_text("name: arm\nsensors: [wrist_rgb, ee_pose, gripper]\n")
        if name.startswith(("E230", "E242")):
            robot = load_capabilities(Path("robot.yaml"))
        if name.startswith("E300"):
            load_manifest(Path("sk/s"))
        overrides = {"tagret": "x"} if name.startswith("E240") else None
        compile_task(target, library=library, robot=robot, overrides=overrides)
    except CheckFailed as failed:
        return failed.render(), {error.code for error in failed.errors}
    except VitalskillsError as error:
        return error.render(), {error.code}
    return "(no error)", set()


def _all(tmp_path: Path) -> str:
    blocks = []
    for name, files in CASES:
        case_dir = tmp_path / name.split()[0]
        case_dir.mkdir()
        os.chdir(case_dir)
        blocks.append(f"### {name}\n{_render(name, files)[0]}\n")
    return "\n".join(blocks)


def test_rendered_diagnostics_match_snapshots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    actual = _all(tmp_path)
    if os.environ.get("VITALSKILLS_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.write_text(actual, encoding="utf-8")
    expected = SNAPSHOTS.read_text(encoding="utf-8") if SNAPSHOTS.exists() else ""
    assert actual == expected


@pytest.mark.parametrize(("name", "files"), CASES, ids=[c[0].split()[0] for c in CASES])
def test_each_case_reports_its_code(tmp_path, monkeypatch, name, files):
    monkeypatch.chdir(tmp_path)
    text, codes = _render(name, files)
    assert name.split()[0] in codes, text
