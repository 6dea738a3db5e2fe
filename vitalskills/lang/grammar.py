"""Load the `.vtl` grammar once: the file, and the LALR parser built from it.

Its own module so that both the transformer (text.py) and the syntax-error labeller
(syntax.py, which parses its table of malformed examples) can use the parser without
importing each other.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lark import Lark

from vitalskills.lang.lexer import FastLexer

_PACKAGE = Path(__file__).resolve().parent.parent


def grammar_path() -> Path:
    """Return the grammar file: inside the wheel, or `<repo>/grammar` in a checkout."""
    shipped = _PACKAGE / "_grammar" / "vitalskills.lark"
    if shipped.is_file():
        return shipped
    return _PACKAGE.parent / "grammar" / "vitalskills.lark"


def examples_dir() -> Path:
    """Return the example tasks: inside the wheel, or `<repo>/tasks` in a checkout.

    `include` falls back to it, so `include "common/home.vtl"` works after a pip install.
    """
    shipped = _PACKAGE / "_tasks"
    return shipped if shipped.is_dir() else _PACKAGE.parent / "tasks"


@cache
def parser() -> Lark:
    """Build the LALR parser once per process."""
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer=FastLexer,
        maybe_placeholders=True,
    )
