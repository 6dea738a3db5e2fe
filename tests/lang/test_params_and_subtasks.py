"""Params wherever a value of their kind fits, and included files called with arguments.

Both surfaces, checked through `compile_task`, formatted through `fmt`'s functions, and
planned through the runtime's `build_plan` (the values a robot would be commanded with).
"""

from __future__ import annotations

import json

import pytest

from vitalskills.lang import CheckFailed, compile_task
from vitalskills.lang.compile import apply_overrides
from vitalskills.lang.format import format_task
from vitalskills.lang.loader import parse_file
from vitalskills.runtime.plan import build_plan

EVERY_KIND = """\
task every_kind

param where = "power strip"
param score = 0.4
param lift = [0, 0, 5] cm
param pause = 200 ms
param tries = 2
param limit = 30 s
param why = "no strip"

locate where as strip min_score score
reach strip offset lift
move lift in ee
wait pause
retry tries {
  run skill plug_insert at strip retries tries timeout limit
}
timeout limit {
  repeat tries {
    wait pause
  }
}
if found strip {
  gripper open
} else {
  fail why
}
"""

EVERY_KIND_YAML = """\
task: every_kind
params:
  where: power strip
  score: 0.4
  lift: {cm: [0, 0, 5]}
  pause: 200 ms
  tries: 2
  limit: 30 s
  why: no strip
steps:
  - locate: $where
    as: strip
    min_score: $score
  - reach: strip
    offset: $lift
  - move: $lift
    in: ee
  - wait: $pause
  - retry: $tries
    steps:
      - run: plug_insert
        at: strip
        retries: $tries
        timeout: $limit
  - timeout: $limit
    steps:
      - repeat: $tries
        steps:
          - wait: $pause
  - if_found: strip
    steps:
      - gripper: open
    else:
      - fail: $why
"""


def skill(name: str, version: str | None) -> object:
    return name


def labels_and_values(task) -> list[tuple[str, object]]:
    """Each plan node's label with the value it will act on."""
    out = []
    for node in build_plan(task, skill).nodes:
        for attribute in (
            "min_score",
            "offset",
            "delta",
            "seconds",
            "duration",
            "times",
            "attempts",
        ):
            value = getattr(node, attribute, None)
            if value is not None:
                out.append(
                    (attribute, [round(float(v), 6) for v in getattr(value, "flat", [value])])
                )
        if node.kind == "fail":
            out.append(("message", node.message))
    return out


@pytest.mark.parametrize("name,text", [("t.vtl", EVERY_KIND), ("t.yaml", EVERY_KIND_YAML)])
def test_a_param_works_wherever_a_value_of_its_kind_fits(write, library, name, text):
    task = compile_task(write(text, name), library=library, warnings=(warnings := []))
    assert warnings == []  # every param is used
    planned = labels_and_values(task)
    assert ("min_score", [0.4]) in planned
    assert ("offset", [0.0, 0.0, 0.05]) in planned and ("delta", [0.0, 0.0, 0.05]) in planned
    assert ("seconds", [0.2]) in planned and ("duration", [30.0]) in planned
    assert ("times", [2.0]) in planned and ("attempts", [3.0]) in planned
    (run,) = [n for n in build_plan(task, skill).nodes if n.kind == "run_skill"]
    assert run.timeout == 30.0
    assert ("message", "no strip") in planned


def test_set_reaches_every_use_and_is_checked_against_the_declared_kind(write, library):
    path = write(EVERY_KIND)
    task = compile_task(
        path, library=library, overrides={"lift": "[0, 0, 2] cm", "tries": "3", "why": "gone"}
    )
    planned = labels_and_values(task)
    assert ("offset", [0.0, 0.0, 0.02]) in planned and ("times", [3.0]) in planned
    assert ("message", "gone") in planned
    for name, value in (("lift", "2 cm"), ("pause", "[0, 0, 1] s"), ("tries", "two")):
        with pytest.raises(Exception, match=f"`--set {name}=") as caught:
            apply_overrides(parse_file(path), {name: value})
        assert caught.value.code == "E240"


def test_both_surfaces_compile_to_the_same_json_and_format_back(write, library):
    vtl = compile_task(write(EVERY_KIND, "t.vtl"), library=library)
    yaml = compile_task(write(EVERY_KIND_YAML, "t.yaml"), library=library)
    assert json.loads(vtl.model_dump_json()) == json.loads(yaml.model_dump_json())
    assert format_task(parse_file(write(EVERY_KIND, "t.vtl")), to="vtl") == EVERY_KIND
    assert format_task(parse_file(write(EVERY_KIND, "t.vtl")), to="yaml") == EVERY_KIND_YAML


def diagnostics(path, library) -> list[tuple[str, int, int, str]]:
    with pytest.raises(CheckFailed) as caught:
        compile_task(path, library=library)
    return [(e.code, e.location.line, e.location.column, e.message) for e in caught.value.errors]


def test_a_param_of_the_wrong_kind_is_an_error_at_its_use(write, library):
    text = (
        "param pause = 200 ms\nparam lift = [0, 0, 5] cm\nparam half = 2.5\nparam zero = 0\n"
        'locate "power strip" as strip min_score lift\nwait lift\nmove pause\n'
        "retry half {\n  gripper open\n}\nrepeat zero {\n  wait pause\n}\nfail half\n"
    )
    found = diagnostics(write(text), library)
    assert found == [
        ("E212", 5, 41, "`min_score` needs a number, but param `lift` is a length vector"),
        ("E212", 6, 6, "`wait` needs a time quantity, but param `lift` is a length vector"),
        ("E212", 7, 6, "`move` needs a length vector, but param `pause` is a time quantity"),
        ("E221", 8, 7, "`retry` needs a whole number, but param `half` is 2.5"),
        ("E221", 11, 8, "`repeat` must be at least 1, got 0"),
        ("E212", 14, 6, "`fail` needs text, but param `half` is a number"),
    ]


def test_names_that_are_no_param_get_a_hint_for_what_was_meant(write, library):
    with pytest.raises(CheckFailed) as caught:
        compile_task(write("wait ms\nfail oops\n"), library=library)
    wait, fail = caught.value.errors
    assert (wait.code, wait.hint) == ("E210", "a number goes before the unit, e.g. `500 ms`")
    assert fail.code == "E210" and fail.hint.startswith('write text in double quotes: `"oops"`')


PLUG = """\
param target = "power strip"
param tries = 1
param lift = [0, 0, 3] cm
locate target as socket
run skill plug_insert at socket retries tries
move lift
"""


def test_an_included_file_is_called_with_arguments(write, library):
    write(PLUG, "lib/plug.vtl")
    main = write(
        'param where = "wall socket"\n'
        'include "lib/plug.vtl" with target = where, tries = 3\n'
        'include "lib/plug.vtl"\n'
        "reach socket\n",
        "main.vtl",
    )
    task = compile_task(main, library=library, warnings=(warnings := []))
    assert warnings == []
    plan = build_plan(task, skill)
    locates = [node for node in plan.nodes if node.kind == "locate"]
    assert [node.query for node in locates] == ["wall socket", "power strip"]
    runs = [node for node in plan.nodes if node.kind == "run_skill"]
    assert [node.attempts for node in runs] == [4, 2]
    # `--set` changes the caller's param, and through the argument the callee's use.
    task = compile_task(main, library=library, overrides={"where": "desk"})
    assert next(n.query for n in build_plan(task, skill).nodes if n.kind == "locate") == "desk"


def test_an_include_with_arguments_in_yaml_equals_the_vtl(write, library):
    write(PLUG, "plug.vtl")
    vtl = write('include "plug.vtl" with target = "desk lamp", lift = [0, 0, 1] cm\n', "a.vtl")
    yaml = write(
        "steps:\n  - include: plug.vtl\n    with:\n      target: desk lamp\n"
        "      lift: {cm: [0, 0, 1]}\n",
        "a.yaml",
    )
    a, b = (json.loads(compile_task(p, library=library).model_dump_json()) for p in (vtl, yaml))
    assert a == b
    assert format_task(parse_file(vtl, includes=False), to="yaml") == (
        "task: a\nsteps:\n  - include: plug.vtl\n    with:\n      target: desk lamp\n"
        "      lift: {cm: [0, 0, 1]}\n"
    )


def test_arguments_are_checked_at_the_call_and_errors_inside_show_the_call_chain(write, library):
    write(PLUG + "wait lift\n", "plug.vtl")
    write('include "plug.vtl" with tries = 2\n', "twice.vtl")
    main = write(
        'include "plug.vtl" with targt = "x"\n'
        'include "plug.vtl" with tries = 2 s\n'
        'include "twice.vtl"\n',
        "main.vtl",
    )
    with pytest.raises(CheckFailed) as caught:
        compile_task(main, library=library)
    errors = {
        (e.location.file.rsplit("/", 1)[-1], e.location.line, e.code): e
        for e in caught.value.errors
    }
    unknown = errors[("main.vtl", 1, "E122")]
    assert unknown.message == "`plug.vtl` has no param `targt`"
    assert unknown.hint == "did you mean `target`?"
    wrong = errors[("main.vtl", 2, "E122")]
    assert wrong.message.startswith("argument `tries` needs a number")
    inside = errors[("plug.vtl", 7, "E212")]
    assert inside.message == "`wait` needs a time quantity, but param `lift` is a length vector"
    assert (
        inside.notes[0].startswith("in `plug.vtl`, included at ")
        and "main.vtl:1:1" in inside.notes[0]
    )
    assert "note: in `plug.vtl`, included at" in inside.render()


def test_a_call_chain_names_every_include(write, library):
    write("param pause = 1 cm\nwait pause\n", "inner.vtl")
    write('include "inner.vtl"\n', "middle.vtl")
    main = write('gripper open\ninclude "middle.vtl"\n', "main.vtl")
    with pytest.raises(CheckFailed) as caught:
        compile_task(main, library=library)
    (error,) = caught.value.errors
    assert [note.split(" included at ")[1].rsplit("/", 1)[-1] for note in error.notes] == [
        "middle.vtl:1:1",
        "main.vtl:2:1",
    ]


def test_an_included_files_params_are_its_own(write, library):
    write("param pause = 1 s\nwait pause\n", "inc.vtl")
    main = write('include "inc.vtl"\nwait pause\n', "main.vtl")
    assert diagnostics(main, library) == [("E210", 2, 6, "undefined name `pause`")]


def test_unused_params_warn_in_the_file_that_declares_them(write, library):
    write("param unused = 2\nparam used = 1 s\nwait used\n", "inc.vtl")
    main = write(
        'param top = 3\ninclude "inc.vtl" with used = 2 s\ninclude "inc.vtl"\n', "main.vtl"
    )
    warnings = []
    compile_task(main, library=library, warnings=warnings)
    assert sorted((w.location.file.rsplit("/", 1)[-1], w.location.line) for w in warnings) == [
        ("inc.vtl", 1),
        ("main.vtl", 1),
    ]
