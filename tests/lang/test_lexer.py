"""The fast lexer yields exactly the tokens (and errors) of lark's own basic lexer."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import UnexpectedCharacters

from vitalskills.lang.grammar import grammar_path
from vitalskills.lang.lexer import FastLexer

PIECES = [
    *'{}[]();,"#@=-\n\t \r',
    "locate", "as", "assembly", "run", "skill", "skills", "try", "else", "timeout", "mm",
    "ms", "1e-3", "-3", "0.5", ".5", "x_1", '"a b"', '"a\\"b"', "@>=1.0", "# c\n", "é", "\x0c",
]  # fmt: skip


@cache
def lark_lexer() -> Lark:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="basic")


def tokens(lexer, text: str):
    try:
        return [
            (t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
            for t in lexer(text)
        ]
    except UnexpectedCharacters as error:
        return ("error", error.pos_in_stream, error.line, error.column)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=2), max_size=40).map("".join))
def test_same_tokens_as_lark(text):
    fast = FastLexer(lark_lexer().lexer_conf).lex
    assert tokens(fast, text) == tokens(lark_lexer().lex, text)


def test_normative_example_tokens(tasks_dir):
    text = (tasks_dir / "normative.vtl").read_text(encoding="utf-8")
    fast = FastLexer(lark_lexer().lexer_conf).lex
    assert tokens(fast, text) == tokens(lark_lexer().lex, text)
