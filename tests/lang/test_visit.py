"""The one IR visitor: it covers every statement kind, and passes over the IR share it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from vitalskills.lang import compile_task, ir, parse_source
from vitalskills.lang.format import statement_line
from vitalskills.lang.skill_lookup import ActionNeeds, ObservationNeeds, SkillLookup, SkillNeeds
from vitalskills.lang.visit import StatementVisitor, StatementWalker, child_blocks
from vitalskills.skills import SkillLibrary

LANG = Path(__file__).resolve().parents[2] / "vitalskills" / "lang"
STATEMENTS = get_args(get_args(ir.Statement)[0])


def test_every_statement_kind_has_exactly_one_abstract_visit_method():
    kinds = {f"visit_{cls.model_fields['kind'].default}" for cls in STATEMENTS}
    assert kinds == set(StatementVisitor.__abstractmethods__)


def test_a_visitor_that_misses_a_kind_cannot_be_made():
    class NoTry(StatementVisitor[None]):
        def _skip(self, statement: ir.IRNode) -> None:
            return None

        visit_locate = visit_reach = visit_move = visit_run_skill = visit_gripper = _skip
        visit_wait = visit_fail = visit_if_found = visit_retry = visit_timeout = _skip
        visit_repeat = visit_include = _skip

    with pytest.raises(TypeError, match="visit_try"):
        NoTry()  # type: ignore[abstract]


def test_visiting_something_that_is_not_a_statement_is_a_type_error():
    with pytest.raises(TypeError, match="not a statement"):
        StatementWalker().visit(ir.Param(name="p", default=ir.Number(value=1)))


def test_the_walker_visits_every_statement_in_document_order():
    task = parse_source(
        'locate "a" as a\nif found a { try { wait 1 s } else { gripper open } }\n'
        'retry 2 { repeat 2 { timeout 1 s { move [0, 0, 1] mm } } }\nfail "x"\n',
        "t.vtl",
        "vtl",
    )
    task.body.append(ir.Include(path="x.vtl", body=[ir.Gripper(action="close")]))
    seen: list[str] = []

    class Kinds(StatementWalker):
        def visit(self, statement: ir.IRNode) -> None:
            seen.append(statement.kind)  # type: ignore[attr-defined]
            super().visit(statement)

    Kinds().walk(task.body)
    assert seen == [
        "locate", "if_found", "try", "wait", "gripper", "retry", "repeat", "timeout", "move",
        "fail", "include", "gripper",
    ]  # fmt: skip
    assert [len(block) for block in child_blocks(task.body[1].then[0])] == [1, 1]
    assert child_blocks(task.body[0]) == []


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ('locate "power strip" as strip min_score 0.3 using "owlv2-sam"', None),
        ("reach strip offset [0, 0, 40] mm", None),
        ("move [0, 0, -0.25] m in ee", "move [0, 0, -0.25] m in ee"),
        ("run skill plug_insert@^1.0 at strip retries 2 timeout 30 s", None),
        ('fail "no \\"strip\\""', None),
        ("wait 500 ms", None),
        ("if found strip { gripper open }", "if found strip"),
        ("try { gripper open } else { gripper close }", "try"),
        ("retry 3 { gripper open }", "retry 3"),
        ("repeat 2 { gripper open }", "repeat 2"),
        ("timeout 1.5 s { gripper open }", "timeout 1.5 s"),
        ('include "common/home.vtl"', None),
    ],
)
def test_statement_line_is_the_canonical_first_line(source, line):
    (statement,) = parse_source(source + "\n", "t.vtl", "vtl").body
    assert statement_line(statement) == (line or source)


def _properties(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if isinstance(value, property)]


def test_the_skill_library_satisfies_the_lookup_protocol(library: SkillLibrary):
    lookup: SkillLookup = library
    assert callable(lookup.get)
    skill = lookup.get("plug_insert", None)
    for protocol, value in (
        (SkillNeeds, skill),
        (ObservationNeeds, skill.observation),
        (ActionNeeds, skill.action),
    ):
        for name in _properties(protocol):
            assert hasattr(value, name), f"{type(value).__name__} lacks `{name}`"


def test_compile_task_needs_a_library(write):
    with pytest.raises(TypeError, match="library"):
        compile_task(write("gripper open\n"))  # type: ignore[call-arg]


def test_lang_imports_only_robot_errors_and_itself():
    allowed = ("vitalskills.lang", "vitalskills.robot", "vitalskills.errors")
    for path in sorted(LANG.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("vitalskills"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
