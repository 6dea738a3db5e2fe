"""`fmt`: canonical, idempotent, and lossless across surfaces for every file in tasks/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vitalskills.lang import format_task, parse_file, parse_source

REPO = Path(__file__).resolve().parents[2]
TASK_FILES = sorted(
    p.relative_to(REPO / "tasks")
    for p in (REPO / "tasks").rglob("*")
    if p.suffix in (".vtl", ".yaml", ".yml")
)


def test_tasks_folder_has_both_surfaces():
    names = {str(p) for p in TASK_FILES}
    assert {"plug_in_socket.vtl", "plug_in_socket.yaml", "common/home.vtl"} <= names
    assert "normative.vtl" in names


@pytest.mark.parametrize("relative", TASK_FILES, ids=str)
@pytest.mark.parametrize("surface", ["vtl", "yaml"])
def test_round_trip_is_lossless(tmp_path, relative, surface):
    tree = tmp_path / "tasks"
    shutil.copytree(REPO / "tasks", tree)
    original = tree / relative
    expected = parse_file(original).model_dump_json()
    text = format_task(parse_file(original, includes=False), surface)
    converted = original.with_name(f"{original.stem}.converted.{surface}")
    converted.write_text(text, encoding="utf-8")
    assert parse_file(converted).model_dump_json() == expected
    again = format_task(parse_file(converted, includes=False), surface)
    assert again == text  # canonical: formatting a formatted file changes nothing


@pytest.mark.parametrize(
    "source",
    [
        'fail "quote \\" backslash \\\\ tab \\t newline \\n unicode é ☕"\n',
        'locate "30 mm" as a\nlocate "$a"\nlocate "yes"\nlocate "null"\nlocate "a: b"\n',
        'locate "- dash"\nlocate "# hash"\nlocate "[x]"\nlocate "3"\nlocate ""\n',
        "wait 0.1 ms\nwait 1e-9 s\nwait 123456.789 ms\nwait 0.3 s\nwait 1e20 s\n",
        "move [0.1, -0.2, 1e-7] cm in ee\nmove [90, 45, 0.5] deg\nmove [1, 2, 3] m\n",
        'param a = -3.5\nparam b = "x"\nparam c = 10 deg\nparam d = [1, 2, 3] mm\ngripper open\n',
        "run skill plug_insert@>=1.0,<2 retries 3 timeout 1.5 s\n",
        "retry 2 { }\ntry { } else { gripper open }\nrepeat 1 { try { } }\n",
        'locate "x" as x min_score 0 using oracle\nif found x { } else { fail "" }\n',
        'locate "x" as x using "owlv2-sam"\nlocate "y" using "vlm point"\n',
    ],
)
def test_tricky_values_survive_both_surfaces(source):
    task = parse_source(source, "t.vtl", "vtl")
    for surface in ("vtl", "yaml"):
        text = format_task(task, surface)
        back = parse_source(text, f"t.{surface}", surface)
        assert back.model_dump_json() == task.model_dump_json(), text
        assert format_task(back, surface) == text


COMMENTED = """# File header
task commented "with comments"  # on the header

# about the param
param target = "power # strip"  # the default

locate target as strip   # on locate
if found strip {  # on the if
  # inside the block
  run skill plug_insert at strip
} else {
  fail "no # comment here" ; # after a semicolon
}
# the end
"""


def test_comments_survive_fmt_and_conversion(write):
    from vitalskills.lang.format import format_file

    text = format_file(write(COMMENTED, "c.vtl"))
    for comment in ("# File header", "# on the header", "# about the param", "# the default",
                    "# on locate", "# on the if", "# inside the block", "# after a semicolon",
                    "# the end"):  # fmt: skip
        assert text.count(comment) == 1, comment
    assert '"power # strip"' in text and '"no # comment here"' in text
    assert format_file(write(text, "again.vtl")) == text
    yaml_text = format_file(write(text, "c2.vtl"), "yaml")
    assert "  - locate: $target  # on locate" in yaml_text
    assert format_file(write(yaml_text, "c3.yaml")) == yaml_text
    assert format_file(write(yaml_text, "c4.yaml"), "vtl") == text


def test_yaml_comment_scanner_respects_quotes():
    from vitalskills.lang.comments import scan_comments

    source = "a: 'x # y'  # real\nb: \"p # q\"\nc: d#e\n# own\n"
    found = [(c.line, c.text, c.own_line) for c in scan_comments(source, "yaml")]
    assert found == [(1, " real", False), (4, " own", True)]


@pytest.mark.parametrize("relative", TASK_FILES, ids=str)
def test_every_task_file_is_already_canonical_or_converges(tmp_path, relative):
    from vitalskills.lang.format import format_file

    shutil.copytree(REPO / "tasks", tmp_path / "tasks")
    path = tmp_path / "tasks" / relative
    once = format_file(path)
    path.write_text(once, encoding="utf-8")
    assert format_file(path) == once
