"""Parsing both surfaces into the IR: every construct, units, separators, spans."""

from __future__ import annotations

import math

import pytest

from vitalskills.lang import compile_task, parse_file


def test_normative_example_parses_into_the_ir(library, tasks_dir):
    task = compile_task(tasks_dir / "normative.vtl", library=library)
    assert task.name == "plug_in_socket"
    assert task.description == "Plug the charger into the power strip"
    assert [p.name for p in task.params] == ["target"]
    assert task.params[0].default.value == "power strip"
    kinds = [s.kind for s in task.body]
    assert kinds == ["locate", "if_found", "wait", "retry", "timeout", "repeat", "include"]
    locate = task.body[0]
    assert locate.query.name == "target" and locate.name == "strip"
    assert locate.min_score == 0.3
    run = task.body[1].then[0].body[0]
    assert (run.skill, run.at.name, run.retries, run.timeout.value) == (
        "plug_insert",
        "strip",
        2,
        30.0,
    )
    move = task.body[1].then[0].orelse[1]
    assert move.delta.values == pytest.approx([0, 0, 0.1]) and move.frame == "base"
    assert task.body[2].duration.value == pytest.approx(0.5)
    assert task.body[4].body[0].offset.values == pytest.approx([0, 0, 0.04])
    assert [g.action for g in task.body[5].body] == ["close", "open"]
    home = task.body[6]
    assert home.path == "common/home.vtl" and [s.kind for s in home.body] == ["gripper", "move"]


def test_semicolons_end_statements_like_newlines(write):
    task = parse_file(write('locate "power strip"; run skill plug_insert'))
    assert [s.kind for s in task.body] == ["locate", "run_skill"]
    assert task.name == "task"  # no header: the file's stem


def test_comments_and_blank_lines_are_ignored(write):
    text = "# a comment\n\n  gripper open   # trailing\n;;\n\n# end\ngripper close\n"
    assert [s.action for s in parse_file(write(text)).body] == ["open", "close"]


@pytest.mark.parametrize(
    ("text", "si", "dimension"),
    [
        ("30 mm", 0.03, "length"),
        ("4 cm", 0.04, "length"),
        ("1.5 m", 1.5, "length"),
        ("250 ms", 0.25, "time"),
        ("2 s", 2.0, "time"),
        ("90 deg", math.pi / 2, "angle"),
        ("0.5 rad", 0.5, "angle"),
    ],
)
def test_units_are_stored_in_si(write, text, si, dimension):
    task = parse_file(write(f"param p = {text}\ngripper open"))
    value = task.params[0].default
    assert value.value == pytest.approx(si) and value.dimension == dimension


def test_every_statement_form(write):
    text = """task t
param n = 3
param v = [1, 2, 3] cm
locate "plug" as plug min_score 0.5 using oracle
reach plug
reach plug offset [0, 0, 1] cm
move [1, 0, 0] mm in ee
move [1, 0, 0] mm
run skill plug_insert@^0.1 at plug retries 1 timeout 5 s
gripper close
wait 1 s
try { fail "x" }
if found plug { gripper open }
"""
    body = parse_file(write(text)).body
    assert body[0].grounder == "oracle"
    assert body[1].offset is None and body[2].offset.values == pytest.approx([0, 0, 0.01])
    assert body[3].frame == "ee" and body[4].frame == "base"
    assert body[5].version == "^0.1"
    assert body[7].duration.unit == "s"
    assert body[8].orelse == [] and body[9].orelse == []


def test_spans_point_at_the_source(write):
    path = write('gripper open\n  locate "x" as thing\n')
    locate = parse_file(path).body[1]
    assert (locate.span.line, locate.span.column) == (2, 3)
    assert (locate.field_spans["name"].line, locate.field_spans["name"].column) == (2, 17)
    assert locate.span.file == str(path)


def test_yaml_surface_gives_the_same_ir_as_text(library, tasks_dir):
    text = compile_task(tasks_dir / "plug_in_socket.vtl", library=library)
    yaml = compile_task(tasks_dir / "plug_in_socket.yaml", library=library)
    assert text.model_dump_json() == yaml.model_dump_json()


def test_yaml_plain_and_quoted_scalars_differ(write):
    path = write(
        'params:\n  a: 30 mm\n  b: "30 mm"\n  c: 3\n  d: "3"\n  e: {mm: [1, 2, 3]}\n'
        'steps:\n  - locate: $a\n  - locate: "$a"\n',
        "t.yaml",
    )
    task = parse_file(path)
    kinds = [p.default.kind for p in task.params]
    assert kinds == ["quantity", "text", "number", "text", "vector"]
    assert (task.body[0].query.kind, task.body[0].query.name) == ("ref", "a")
    assert (task.body[1].query.kind, task.body[1].query.value) == ("text", "$a")


def test_yaml_run_accepts_an_inline_version(write):
    run = parse_file(write("steps:\n  - run: plug_insert@>=0.1\n", "t.yaml")).body[0]
    assert (run.skill, run.version) == ("plug_insert", ">=0.1")


@pytest.mark.parametrize(
    ("file", "name"), [("plug-in.vtl", "plug_in"), ("2nd try.yaml", "_2nd_try")]
)
def test_headerless_tasks_are_named_after_a_valid_form_of_the_file(write, file, name):
    text = "steps:\n  - gripper: open\n" if file.endswith(".yaml") else "gripper open\n"
    assert parse_file(write(text, file)).name == name
