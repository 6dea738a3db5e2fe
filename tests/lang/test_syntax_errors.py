"""Labelled syntax errors: the example table, and each rule at its exact location."""

from __future__ import annotations

import pytest

from vitalskills.lang import parse_source
from vitalskills.lang.errors import LangError
from vitalskills.lang.syntax import SYNTAX_EXAMPLES

TABLE = [(label, text) for label, examples in SYNTAX_EXAMPLES for text in examples]


def error_for(text: str) -> LangError:
    with pytest.raises(LangError) as caught:
        parse_source(text, "t.vtl", "vtl")
    return caught.value


@pytest.mark.parametrize(("label", "text"), TABLE, ids=[repr(t) for _, t in TABLE])
def test_every_table_example_gets_its_label(label, text):
    error = error_for(text)
    assert (error.code, error.message) == (label.code, label.message)
    assert error.location is not None and error.location.file == "t.vtl"


def test_table_codes_are_unique():
    codes = [label.code for label, _ in SYNTAX_EXAMPLES]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("text", "code", "message", "line", "column"),
    [
        ('locate "x" as', "E150", "`as` needs a name", 1, 14),
        ("if found s {\n  gripper open\n", "E101", "missing closing brace", 1, 12),
        ("try {\n  retry 2 {\n gripper open\n}\n", "E101", "missing closing brace", 1, 5),
        ('fail "oops\n', "E103", "unterminated string", 1, 6),
        ('gripper open\nlocat "x"', "E105", "unknown statement `locat`", 2, 1),
        ("gripper open gripper close", "E102", None, 1, 14),
        ("run skill x retires 3", "E109", "unknown option `retires` for `run skill`", 1, 13),
        ('locate "x" ass y', "E109", "unknown option `ass` for `locate`", 1, 12),
        ("gripper open\n}", "E104", "unexpected closing brace: no block is open", 2, 1),
        ("move [0, 0] mm", "E106", "a vector needs 3 components, got 2", 1, 6),
        ("wait 3 min", "E220", "unknown unit `min`", 1, 8),
        ("move [0, 0, 1] mm in camera", "E108", "unknown frame `camera`", 1, 22),
        ("gripper half", "E108", "unknown gripper action `half`", 1, 9),
        ('fail "bad \\q escape"', "E169", "invalid escape sequence in string", 1, 6),
        ("retry 2.5 { gripper open }", "E221", "the count must be a whole number, got 2.5", 1, 7),
        ("gripper open\ntask late", "E115", "the `task` header must come first", 2, 1),
        ('locate "x" as a as b', "E107", "`name` given twice", 1, 20),
        ('locate "x" as skill', "E170", "`skill` is a keyword and cannot be used as a name", 1, 15),
        ("wait 1e999 s", "E221", "number `1e999` is too large", 1, 6),
        ("gripper open %", "E100", "unexpected character `%`", 1, 14),
        ("  {  }", "E100", "expected a statement, found `{`", 1, 3),
        ("gripper open\n[1, 2, 3] mm", "E100", "expected a statement, found `[`", 2, 1),
        ("", "E110", "file has no statements", 1, 1),
        ("# only a comment\n", "E110", "file has no statements", 1, 1),
        ('task t "only a header"\nparam p = 1\n', "E110", "file has no statements", 1, 1),
    ],
)
def test_rules_point_at_the_problem(text, code, message, line, column):
    error = error_for(text)
    assert error.code == code
    if message is not None:
        assert error.message == message
    assert (error.location.line, error.location.column) == (line, column)


def test_keywords_need_word_boundaries():
    task = parse_source('locate "x" as assembly min_score 0.5\nreach assembly', "t.vtl", "vtl")
    assert task.body[0].name == "assembly" and task.body[1].target.name == "assembly"


def test_unknown_statement_suggests_the_closest():
    assert error_for("repaet 2 { gripper open }").hint == "did you mean `repeat`?"


def test_deep_nesting_is_a_located_error_not_a_crash():
    depth = 3000
    text = "try {\n" * depth + "gripper open\n" + "}\n" * depth
    error = error_for(text)
    assert error.location is not None


@pytest.mark.parametrize(
    ("text", "message", "hint", "column"),
    [
        # Before: "unknown option `strip` for `run skill`".
        ("locate power strip as strip\n", "a `locate` query of several words must be in "
         "double quotes", 'write `locate "power strip"`', 14),
        ("locate power strip\n", "must be in double quotes", 'write `locate "power strip"`', 14),
        # Before: "unexpected character" with no hint.
        ("locate \u201cpower strip\u201d as strip\n", "unexpected character `\u201c`",
         'write `"` instead', 8),
        # Before: "malformed vector".
        ("move [0, 0, 100]\n", "a vector needs a unit after `]`", "[0, 0, 100] mm", 17),
        ("move [0, 0, 4] in base\n", "a vector needs a unit after `]`",
         "`in` names a frame, it is not inches", 16),
        # Before: "`move` needs a vector".
        ('locate "a" as a\nreach a offset 5 mm\n', "`offset` needs a vector",
         "reach strip offset [0, 0, 40] mm", 16),
        # Before: "`in` is a keyword and cannot be used as a name".
        ("wait 5 in\n", "`in` is not a unit here", "units are m, cm, mm", 8),
    ],
)  # fmt: skip
def test_common_slips_get_a_message_that_names_them(text, message, hint, column):
    error = error_for(text)
    assert message in error.message and hint in (error.hint or ""), (error.message, error.hint)
    assert error.location is not None and error.location.column == column


@pytest.mark.parametrize("head", ['locate "a" as a\nif found a', "try"])
def test_else_on_the_next_line_is_named_after_if_found_and_try(head):
    # Before: E157 after `try` only in some shapes; after `if found`, "unexpected `else`".
    error = error_for(f"{head} {{\n  wait 1 s\n}}\nelse {{\n  wait 1 s\n}}\n")
    assert (error.code, error.hint) == ("E157", "write `} else {`")
    assert error.location is not None and error.location.column == 1
