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


BLANKS = """\
task t

param a = 1
param b = 2

locate "x" as x


# two blank lines above shrink to one
gripper open
try {
  wait 1 s

  wait 2 s
} else {
  fail "f"
}
"""


def test_fmt_keeps_blank_lines_one_at_most_on_both_surfaces(write):
    # Before: every blank line inside the body was dropped.
    from vitalskills.lang.format import format_file

    text = format_file(write(BLANKS, "b.vtl"))
    assert text == BLANKS.replace("\n\n\n", "\n\n")
    yaml_text = format_file(write(text, "b2.vtl"), "yaml")
    assert "\n\n  # two blank lines above shrink to one\n  - gripper: open" in yaml_text
    assert "wait: 1 s\n\n" in yaml_text
    assert format_file(write(yaml_text, "b3.yaml"), "vtl") == text
    # plug_then_swipe.vtl separates its three stages with blank lines; they stay.
    assert format_file(REPO / "tasks" / "plug_then_swipe.vtl") == (
        REPO / "tasks" / "plug_then_swipe.vtl"
    ).read_text(encoding="utf-8")


def test_fmt_to_yaml_writes_letters_as_they_are(write):
    # Before: `"prise \u00e9lectrique"` (an escape where the letter belongs).
    from vitalskills.lang.format import format_file

    text = format_file(write('task t\n\nlocate "prise électrique" as p\n', "u.vtl"), "yaml")
    assert '  - locate: "prise électrique"' in text
    assert parse_file(write(text, "u.yaml")).model_dump_json() == parse_file(
        write('task t\n\nlocate "prise électrique" as p\n', "u2.vtl")
    ).model_dump_json().replace("u2.vtl", "u.yaml")


def test_fmt_check_and_force_on_the_command_line(write):
    from typer.testing import CliRunner

    from vitalskills.cli import app

    runner = CliRunner()
    canonical = write("task t\n\ngripper open\n", "ok.vtl")
    messy = write("task t\ngripper open;   gripper close\n", "messy.vtl")
    result = runner.invoke(app, ["fmt", "--check", str(canonical)])
    assert result.exit_code == 0 and "1 formatted" in result.stderr
    result = runner.invoke(app, ["fmt", "--check", str(canonical), str(messy)])
    assert result.exit_code == 1
    assert f"+++ {messy} (formatted)" in result.stdout and "+gripper close" in result.stdout
    assert f"would reformat {messy}" in result.stderr and "1 of 2 files" in result.stderr
    assert messy.read_text() == "task t\ngripper open;   gripper close\n"  # untouched
    # --write --to refuses to replace an existing twin unless --force.
    twin = messy.with_suffix(".yaml")
    twin.write_text("keep me\n")
    result = runner.invoke(app, ["fmt", "--to", "yaml", "--write", str(messy)])
    assert result.exit_code != 0 and "exists; --write would replace it" in result.stderr
    assert twin.read_text() == "keep me\n"
    result = runner.invoke(app, ["fmt", "--to", "yaml", "--write", "--force", str(messy)])
    assert result.exit_code == 0 and twin.read_text().startswith("task: t")


BLOCK_COMMENTS = """\
task t

locate "a" as a
if found a {
  try {
    wait 1 s
  } else {
    wait 2 s
    # dangling in else
  }
  # end of then
} else {
  wait 3 s
}
"""


def test_fmt_keeps_each_comment_in_its_block_on_both_surfaces(write):
    # Before: "# end of then" moved into the else block, and "# dangling in else" out of
    # its block.
    from vitalskills.lang.format import format_file

    assert format_file(write(BLOCK_COMMENTS, "k.vtl")) == BLOCK_COMMENTS
    yaml_text = format_file(write(BLOCK_COMMENTS, "k2.vtl"), "yaml")
    assert "          - wait: 2 s\n          # dangling in else\n      # end of then\n" in yaml_text
    assert format_file(write(yaml_text, "k3.yaml")) == yaml_text
    assert format_file(write(yaml_text, "k4.yaml"), "vtl") == BLOCK_COMMENTS


def test_a_yaml_comment_between_options_stays_with_its_step(write):
    # Before: it moved into the `else:` block below.
    from vitalskills.lang.format import format_file

    source = (
        "task: t\nsteps:\n  - locate: a\n    as: a\n  - try:\n      - run: plug_insert\n"
        "        at: a\n        # between options\n        retries: 2\n    else:\n"
        "      - wait: 1 s\n"
    )
    text = format_file(write(source, "o.yaml"))
    assert "  - try:\n      # between options\n      - run: plug_insert\n" in text
    assert text.index("# between options") < text.index("else:")


@pytest.mark.parametrize("vtl", sorted((REPO / "tasks").glob("*.vtl")), ids=lambda p: p.name)
def test_shipped_tasks_are_canonical_and_their_twins_are_their_conversion(vtl):
    from vitalskills.lang.format import format_file

    assert format_file(vtl) == vtl.read_text(encoding="utf-8"), (
        f"run `vitalskills fmt --write {vtl.name}`"
    )
    twin = vtl.with_suffix(".yaml")
    if twin.exists():  # the YAML twin carries the same statements and comments
        assert format_file(vtl, "yaml") == twin.read_text(encoding="utf-8")
