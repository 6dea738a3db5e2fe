"""A faster lexer for the `.vtl` grammar, built from the grammar's own terminals.

lark's basic lexer matches one terminal at a time and counts newlines in every token;
on a 10,000-statement file that was a third of the parse. This lexer compiles the same
terminals (from the grammar file, in lark's order) into one alternation, resolves
keywords the way lark does (a keyword is a NAME whose text is the keyword), and counts
lines only in the one terminal that can hold newlines. `tests/lang/test_lexer.py`
checks it yields exactly lark's tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer, LexerState

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class FastLexer(Lexer):
    """Tokenize with one compiled regex; same tokens as lark's basic lexer."""

    def __init__(self, conf: Any) -> None:
        self.ignore = frozenset(conf.ignore)
        self.keywords: dict[str, str] = {}
        patterns = []
        for terminal in conf.terminals:
            pattern = terminal.pattern
            if pattern.type == "str" and _WORD.fullmatch(pattern.value):
                self.keywords[pattern.value] = terminal.name
            else:
                patterns.append(terminal)
        # lark's order (BasicLexer): priority, widest possible match, longest literal, name.
        patterns.sort(
            key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name)
        )
        self.regex = re.compile(
            "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in patterns)
        )
        # lark's own test for terminals that may span lines.
        self.newline_types = frozenset(
            t.name
            for t in patterns
            if any(mark in t.pattern.to_regexp() for mark in ("\n", "\\n", "\\s", "[^"))
        )

    def lex(self, state: LexerState | str, parser_state: Any = None) -> Iterator[Token]:
        text = state if isinstance(state, str) else state.text.text
        match = self.regex.match
        keywords, ignore, newline_types = self.keywords, self.ignore, self.newline_types
        position, line, line_start, size = 0, 1, 0, len(text)
        while position < size:
            found = match(text, position)
            if found is None:
                raise UnexpectedCharacters(text, position, line, position - line_start + 1)
            kind = found.lastgroup or ""
            end = found.end()
            start_line, start_column = line, position - line_start + 1
            if kind in newline_types:
                newlines = text.count("\n", position, end)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", position, end) + 1
            if kind not in ignore:
                value = found.group()
                if kind == "NAME":
                    kind = keywords.get(value, kind)
                yield Token(
                    kind, value, position, start_line, start_column, line, end - line_start + 1, end
                )
            position = end
