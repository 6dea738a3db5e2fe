"""YAML surface errors, encodings and includes: each at the offending node or byte."""

from __future__ import annotations

import pytest

from vitalskills.errors import UsageError
from vitalskills.lang import parse_file
from vitalskills.lang.errors import LangError


def error_for(path) -> LangError:
    with pytest.raises(LangError) as caught:
        parse_file(path)
    return caught.value


@pytest.mark.parametrize(
    ("text", "code", "message", "line", "column"),
    [
        (
            "task: t\nstep:\n  - wait: 1 s\n",
            "E113",
            "unknown key `step` at the top level of a task file",
            2,
            1,
        ),
        (
            "steps:\n  - wait: 1 s\n    retries: 2\n",
            "E113",
            "unknown key `retries` for `wait`",
            3,
            5,
        ),
        (
            "steps:\n  - run: a\n    retires: 2\n",
            "E113",
            "unknown key `retires` for `run`",
            3,
            5,
        ),
        ("steps:\n  - wiat: 1 s\n", "E113", "unknown statement `wiat`", 2, 5),
        ("steps:\n  - gripper\n", "E113", "unknown statement `gripper`", 2, 5),
        (
            "steps:\n  - wait: 1 s\n    gripper: open\n",
            "E113",
            "a step holds one statement, found `wait` and `gripper`",
            3,
            5,
        ),
        ("steps:\n  - wait: 1 s\n    wait: 2 s\n", "E113", "key `wait` appears twice", 3, 5),
        ("steps:\n  - wait: 30\n", "E114", "`wait` must be a number with a unit, got `30`", 2, 11),
        (
            "steps:\n  - run: a\n    retries: two\n",
            "E114",
            "`retries` must be a number, got `two`",
            3,
            14,
        ),
        ("steps:\n  - move: [0, 0, 1]\n", "E114", "`move` must be a vector", 2, 11),
        ("steps:\n  - move: {mm: [0, 1]}\n", "E114", "`move` needs 3 components", 2, 16),
        (
            "steps:\n  - move: {mm: [0, 0, 1]}\n    in: camera\n",
            "E114",
            "unknown frame `camera`",
            3,
            9,
        ),
        ("steps:\n  - gripper: half\n", "E114", "unknown gripper action `half`", 2, 14),
        ("steps:\n  - retry: 2\n    steps: {wait: 1 s}\n", "E114", "steps must be a list", 3, 12),
        ("steps: [\n", "E112", None, 2, 1),
        ("steps:\n  - wait: 1 s\n - bad\n", "E112", None, 3, 2),
        ("task: [a]\nsteps:\n  - wait: 1 s\n", "E114", "`task` must be a single value", 1, 7),
        ("params:\n  p: yes\nsteps:\n  - wait: 1 s\n", "E114", None, 2, 6),
        ("steps:\n  - wait: 1 lightyear\n", "E220", "unknown unit `lightyear`", 2, 11),
        ("- wait: 1 s\n", "E114", "a task file must be a mapping of keys to values", 1, 1),
        ("", "E110", "file is empty", 1, 1),
        ("steps:\n  - {}\n", "E113", "empty step", 2, 5),
        ("task: t\n", "E110", "file has no statements", 1, 1),
        ("steps:\n  - &a {wait: 1 s}\n  - *a\n", "E114", None, 2, 5),
    ],
)
def test_yaml_errors_point_at_the_node(write, text, code, message, line, column):
    error = error_for(write(text, "t.yaml"))
    assert error.code == code
    if message is not None:
        assert error.message == message
    assert (error.location.line, error.location.column) == (line, column)


def test_yaml_unknown_key_suggests_the_closest(write):
    error = error_for(write("steps:\n  - run: a\n    retires: 2\n", "t.yaml"))
    assert error.hint == "did you mean `retries`?"


def test_yaml_tags_never_build_objects(write):
    text = "steps:\n  - fail: !!python/object/apply:os.system [echo hi]\n"
    assert error_for(write(text, "t.yml")).code == "E114"


def test_binary_file(write):
    error = error_for(write(b"gripper open\n\x00\x01\x02", "t.vtl"))
    assert (error.code, error.location.line) == ("E111", 2)


def test_non_utf8_byte_is_located(write):
    error = error_for(write('gripper open\nfail "caf\xe9"\n'.encode("latin-1"), "t.vtl"))
    assert error.code == "E111" and "0xe9" in error.message
    assert (error.location.line, error.location.column) == (2, 10)


def test_utf8_bom_and_unicode_text_are_fine(write):
    task = parse_file(write('\ufefffail "café ☕"\n', "t.vtl"))
    assert task.body[0].message == "café ☕"


def test_missing_file_and_unknown_suffix_are_usage_errors(tmp_path, write):
    with pytest.raises(UsageError):
        parse_file(tmp_path / "nope.vtl")
    with pytest.raises(UsageError):
        parse_file(write("gripper open", "t.txt"))


def test_include_splices_the_other_file_relative_to_the_includer(write):
    write("gripper open\nwait 1 s\n", "lib/home.yaml".replace(".yaml", ".vtl"))
    main = write('include "lib/home.vtl"\ngripper close\n', "main.vtl")
    body = parse_file(main).body
    assert [s.kind for s in body[0].body] == ["gripper", "wait"]
    assert body[0].body[0].span.file.endswith("lib/home.vtl")


def test_include_across_surfaces_and_nested(write):
    write("steps:\n  - include: ../leaf.vtl\n", "sub/mid.yaml")
    write("gripper open\n", "leaf.vtl")
    main = write('include "sub/mid.yaml"\n', "main.vtl")
    mid = parse_file(main).body[0]
    assert mid.body[0].kind == "include" and mid.body[0].body[0].action == "open"


def test_missing_include_points_at_the_path(write):
    error = error_for(write('gripper open\ninclude "nope.vtl"\n', "main.vtl"))
    assert (error.code, error.location.line, error.location.column) == ("E120", 2, 9)


def test_include_cycle_is_located(write):
    write('gripper open\ninclude "a.vtl"\n', "b.vtl")
    main = write('include "b.vtl"\n', "a.vtl")
    error = error_for(main)
    assert error.code == "E121" and error.message == "include cycle: a.vtl -> b.vtl -> a.vtl"
    assert error.location.file.endswith("b.vtl") and error.location.line == 2


def test_self_include_is_a_cycle(write):
    assert error_for(write('include "t.vtl"\n', "t.vtl")).code == "E121"


def test_errors_inside_an_included_file_point_into_it(write):
    write("gripper open\nwait 3\n", "inc.vtl")
    error = error_for(write('include "inc.vtl"\n', "main.vtl"))
    assert error.code == "E154" and error.location.file.endswith("inc.vtl")


def test_yaml_tabs_and_quoted_quantities_get_a_hint(tmp_path):
    tabbed = tmp_path / "tabs.yaml"
    tabbed.write_text("task: t\nsteps:\n\t- wait: 500 ms\n")
    with pytest.raises(LangError) as caught:
        parse_file(tabbed)
    assert caught.value.hint == "YAML does not allow tabs for indentation: indent with spaces"
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text('task: t\nsteps:\n  - wait: "500 ms"\n')
    with pytest.raises(LangError) as caught:
        parse_file(quoted)
    assert caught.value.hint == "drop the quotes: a quoted value is text; write `500 ms`"
    assert caught.value.location.line == 3 and caught.value.location.column == 11
