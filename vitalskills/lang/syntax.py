"""Turn lark's "unexpected token" into a labelled, located syntax error.

Two layers, after lark's `error_reporting_lalr.py`: a few rules that read the error
token and the expected set (unknown statement, two statements on one line, missing or
extra braces, unterminated strings, keywords used as names), then a table of small
malformed examples matched by parser state (`SYNTAX_EXAMPLES`; a test checks that every
example yields its own label).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from vitalskills.errors import Location
from vitalskills.lang.errors import TaskSyntaxError
from vitalskills.lang.grammar import parser

STATEMENTS = (
    "locate", "reach", "move", "run", "gripper", "wait", "fail",
    "if", "try", "retry", "timeout", "repeat", "include",
)  # fmt: skip
TOP_LEVEL = ("task", "param", *STATEMENTS)
RUN_OPTIONS = ("at", "retries", "timeout")
LOCATE_OPTIONS = ("as", "min_score", "using")
_END_OF_STATEMENT = {"_SEP", "$END", "RBRACE"}
MAX_NESTING = 100


@dataclass(frozen=True)
class SyntaxLabel:
    """What a class of malformed input means: a code, a message and a fix."""

    code: str
    message: str
    hint: str | None = None


def _label(code: str, message: str, hint: str, *examples: str) -> tuple[SyntaxLabel, list[str]]:
    return (SyntaxLabel(code, message, hint), list(examples))


SYNTAX_EXAMPLES: list[tuple[SyntaxLabel, list[str]]] = [
    _label(
        "E150", "`as` needs a name", 'write `as NAME`, e.g. `locate "plug" as plug`',
        'locate "x" as\n', 'locate "x" as 3\n', 'locate "x" as "y"\n',
    ),
    _label(
        "E151", "`locate` needs a query", 'write `locate "power strip"` or `locate PARAM`',
        "locate\n", "locate 3\n", "locate {\n}\n",
    ),
    _label(
        "E152", "`run` must be followed by `skill NAME`", "write `run skill NAME`",
        "run plug_insert\n", "run\n", 'run "plug_insert"\n',
    ),
    _label(
        "E153", "`run skill` needs a skill name", "write `run skill NAME`",
        "run skill\n", "run skill 3\n", 'run skill "plug_insert"\n',
    ),
    _label(
        "E154", "missing unit after the number", "add a unit: mm, cm, m, ms, s, deg or rad",
        "wait 30\n", "timeout 30 {\n}\n", "run skill a timeout 3\n", "wait 30 {\n",
    ),
    _label(
        "E155", "missing duration", "write a number and a unit, e.g. `500 ms`",
        "wait\n", "timeout {\n}\n", "run skill a timeout\n", 'wait "1 s"\n',
    ),
    _label(
        "E156", "missing `{` to open the block", "write the block as `{ ... }`",
        "try\n", "retry 3\n", "repeat 2 gripper open\n", "if found x\n", "timeout 3 s\n",
        "try {\n} else\n", "try { gripper open } else gripper close\n",
    ),
    _label(
        "E157", "`else` must follow `}` on the same line", "write `} else {`",
        "try {\n}\nelse {\n}\n", "else {\n}\n",
    ),
    _label(
        "E158", "`param` needs `NAME = value`", 'write e.g. `param target = "power strip"`',
        "param x\n", "param x =\n", "param = 3\n", "param\n", "param x = y\n", "param x 3\n",
    ),
    _label(
        "E159", "malformed vector", "write a vector as `[x, y, z] mm`",
        "move [0, 0 0] mm\n", "move [0, 0, 0\n", "move [0, 0,] mm\n",
        "move [a, 0, 0] mm\n", "move [\n", "move [0 0\n",
    ),
    _label(
        "E160", "`move` needs a vector", "write e.g. `move [0, 0, 100] mm in base`",
        "move\n", "move 3 mm\n",
    ),
    _label(
        "E161", "missing located name", "write the name bound by `locate ... as NAME`",
        "reach\n", 'reach "x"\n', "reach 3\n", "run skill a at\n", 'run skill a at "x"\n',
    ),
    _label(
        "E162", "`gripper` needs `open` or `close`", "write `gripper open` or `gripper close`",
        "gripper\n", "gripper 1\n", 'gripper "open"\n',
    ),
    _label(
        "E163", "`fail` needs a message in double quotes", 'write e.g. `fail "no plug"`',
        "fail\n", "fail 3\n",
    ),
    _label(
        "E164", "`include` needs a file path in double quotes",
        'write e.g. `include "common/home.vtl"`',
        "include\n", "include common\n", "include 3\n",
    ),
    _label(
        "E165", "missing count", "write a whole number, e.g. `retry 3 { ... }`",
        "retry {\n}\n", "repeat {\n}\n", "retry \"2\" {\n}\n", "run skill a retries\n",
    ),
    _label(
        "E166", "`if` must be followed by `found NAME`", "write `if found NAME { ... }`",
        "if strip {\n}\n", "if found {\n}\n", "if\n", 'if found "x" {\n}\n',
    ),
    _label(
        "E167", "`task` needs a name", 'write e.g. `task plug_in_socket "Plug it in"`',
        "task\n", 'task "x"\n', "task 3\n",
    ),
    _label(
        "E168", "`task` description must be in double quotes",
        'write e.g. `task plug_in_socket "Plug it in"`',
        "task x y\n", "task x 3\n",
    ),
    _label(
        "E172", "`min_score` needs a number from 0 to 1", 'write e.g. `min_score 0.3`',
        'locate "x" min_score\n', 'locate "x" min_score "high"\n',
    ),
    _label(
        "E173", "`in` needs a frame", "write `in base` or `in ee`",
        "move [0, 0, 1] mm in\n", "move [0, 0, 1] mm in 3\n",
    ),
]  # fmt: skip


def _location(file: str, line: int, column: int, width: int = 1) -> Location:
    return Location(file, line, column, line, column + max(width, 1))


def _unclosed_brace(source: str, deeper_than: int | None = None) -> tuple[int, int] | None:
    """Return (line, column) of the first `{` never closed, skipping strings and comments.

    With `deeper_than`, return the first `{` that opens a block nested deeper than that.
    """
    stack: list[tuple[int, int]] = []
    line, column, in_string, in_comment, escaped = 1, 0, False, False, False
    for char in source:
        column += 1
        if char == "\n":
            line, column, in_string, in_comment = line + 1, 0, False, False
        elif in_comment:
            continue
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            in_comment = True
        elif char == "{":
            stack.append((line, column))
            if deeper_than is not None and len(stack) > deeper_than:
                return stack[-1]
        elif char == "}" and stack:
            stack.pop()
    return stack[0] if stack else None


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


def _describe(token: str) -> str:
    if token.startswith("\n") or token.startswith("\r") or token == "":
        return "end of line"
    if token.startswith(";"):
        return "`;`"
    return f"`{token}`"


def _token_rules(error: UnexpectedToken, source: str, file: str) -> TaskSyntaxError | None:
    token = error.token
    kind = token.type
    expected = set(error.expected)
    at_end = kind == "$END"
    if at_end:
        line, column = token.end_line or token.line, token.end_column or token.column
    else:
        line, column = token.line, token.column
    here = _location(file, line, column, len(str(token)) if not at_end else 1)
    if at_end:
        unclosed = _unclosed_brace(source)
        if unclosed:
            return TaskSyntaxError(
                "missing closing brace",
                location=_location(file, *unclosed),
                hint="add `}` to close the block opened here",
                code="E101",
            )
    if (
        kind == "RBRACE"
        and "RBRACE" not in expected
        and _unclosed_brace(source[: token.start_pos]) is None
    ):
        return TaskSyntaxError(
            "unexpected closing brace: no block is open",
            location=here,
            hint="remove this `}` or open a block with `{`",
            code="E104",
        )
    word = str(token)
    before = source[: token.start_pos] if not at_end else source
    lines = source.splitlines()
    line_text = lines[line - 1] if line <= len(lines) else ""
    unquoted = re.match(r"\s*locate\s+([A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)+)", line_text)
    if unquoted and '"' not in line_text and kind == "NAME":
        query = re.split(r"\s+(?:as|min_score|using)\b", unquoted.group(1))[0]
        return TaskSyntaxError(
            "a `locate` query of several words must be in double quotes",
            location=here,
            hint=f'write `locate "{query}"`',
            code="E100",
        )
    closed = before.rstrip()
    if kind == "ELSE" and closed.endswith("}") and "\n" in before[len(closed) :]:
        return TaskSyntaxError(
            "`else` must follow `}` on the same line",
            location=here,
            hint="write `} else {`",
            code="E157",
        )
    if re.search(r"\boffset$", closed) and kind != "LSQB":
        return TaskSyntaxError(
            "`offset` needs a vector",
            location=here,
            hint="write e.g. `reach strip offset [0, 0, 40] mm`",
            code="E160",
        )
    after_vector = closed.endswith("]")
    if after_vector and (kind in _END_OF_STATEMENT or kind == "IN"):
        return TaskSyntaxError(
            "a vector needs a unit after `]`",
            location=here,
            hint="write e.g. `[0, 0, 100] mm` (units: m, cm, mm; deg, rad for rotations)"
            + ("; `in` names a frame, it is not inches" if kind == "IN" else ""),
            code="E159",
        )
    if kind == "IN" and re.search(r"\d\s*$", before):
        return TaskSyntaxError(
            "`in` is not a unit here",
            location=here,
            hint="units are m, cm, mm (and s, ms; deg, rad); `in` names a frame: "
            "`move [0, 0, 10] mm in base`",
            code="E100",
        )
    if kind == "NAME" and "LOCATE" in expected:
        return TaskSyntaxError(
            f"unknown statement `{word}`",
            location=here,
            hint=_did_you_mean(word, TOP_LEVEL if "TASK" in expected else STATEMENTS),
            code="E105",
        )
    if "LOCATE" in expected and kind not in ("ELSE", "$END") and kind not in _END_OF_STATEMENT:
        return TaskSyntaxError(
            f"expected a statement, found {_describe(word)}",
            location=here,
            hint="statements start with a keyword such as `locate`, `run` or `wait`",
            code="E100",
        )
    if kind == "NAME" and "RETRIES" in expected:
        return TaskSyntaxError(
            f"unknown option `{word}` for `run skill`",
            location=here,
            hint=_did_you_mean(word, RUN_OPTIONS) or "options are `at`, `retries` and `timeout`",
            code="E109",
        )
    if kind == "NAME" and "MIN_SCORE" in expected:
        return TaskSyntaxError(
            f"unknown option `{word}` for `locate`",
            location=here,
            hint=_did_you_mean(word, LOCATE_OPTIONS) or "options are `as`, `min_score` and `using`",
            code="E109",
        )
    if "NAME" in expected and kind != "NAME" and word.isidentifier() and kind == word.upper():
        return TaskSyntaxError(
            f"`{word}` is a keyword and cannot be used as a name",
            location=here,
            hint=f"choose another name, e.g. `{word}_1`",
            code="E170",
        )
    if expected and expected <= _END_OF_STATEMENT and kind not in _END_OF_STATEMENT:
        return TaskSyntaxError(
            f"expected the end of the statement, found {_describe(word)}",
            location=here,
            hint="put each statement on its own line or separate statements with `;`",
            code="E102",
        )
    return None


def too_deep(source: str, file: str) -> TaskSyntaxError:
    """Return the error for blocks nested beyond what the parser can build."""
    where = _unclosed_brace(source, deeper_than=MAX_NESTING) or (1, 1)
    return TaskSyntaxError(
        f"blocks are nested too deeply (more than {MAX_NESTING} levels)",
        location=_location(file, *where),
        hint="split the task into included files",
        code="E171",
    )


@cache
def _example_index() -> tuple[dict[tuple[int, str], SyntaxLabel], dict[int, SyntaxLabel]]:
    """Index the example table by parser state (and error token type), first label wins.

    Like lark's `match_examples`, but keyed on the LALR state alone: lark also compares
    the stack depth, so an example would only match at the same nesting and position.
    """
    exact: dict[tuple[int, str], SyntaxLabel] = {}
    by_state: dict[int, SyntaxLabel] = {}
    for label, examples in SYNTAX_EXAMPLES:
        for text in examples:
            try:
                parser().parse(text)
            except UnexpectedToken as error:
                exact.setdefault((error.state.position, error.token.type), label)
                by_state.setdefault(error.state.position, label)
            except UnexpectedInput:
                continue
    return exact, by_state


#: Quotes that editors and chat apps substitute for `"` and `'`.
SMART_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2018\u2019\u201a\u201b"


def describe_syntax_error(error: UnexpectedInput, source: str, file: str) -> TaskSyntaxError:
    """Return the labelled, located error for a lark parse failure."""
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream] if error.pos_in_stream < len(source) else ""
        where = _location(file, error.line, error.column)
        if char == '"':
            return TaskSyntaxError(
                "unterminated string",
                location=where,
                hint='close the string with `"` on the same line',
                code="E103",
            )
        shown = char if char.isprintable() else repr(char)
        hint = None
        if char in SMART_QUOTES:
            hint = 'a typographic quote (as word processors and chat apps type): write `"` instead'
        elif char == "\t":
            hint = "a tab: indent with spaces"
        return TaskSyntaxError(
            f"unexpected character `{shown}`", location=where, hint=hint, code="E100"
        )
    if isinstance(error, UnexpectedToken):
        ruled = _token_rules(error, source, file)
        if ruled is not None:
            return ruled
        exact, by_state = _example_index()
        position = error.state.position if error.state is not None else None
        label = exact.get((position, error.token.type)) or by_state.get(position)
        token = error.token
        at_end = token.type == "$END"
        line = (token.end_line if at_end else token.line) or 1
        column = (token.end_column if at_end else token.column) or 1
        where = _location(file, line, column, 1 if at_end else len(str(token)))
        if label is not None:
            return TaskSyntaxError(label.message, location=where, hint=label.hint, code=label.code)
        found = "end of file" if at_end else _describe(str(token))
        return TaskSyntaxError(f"unexpected {found}", location=where, code="E100")
    if isinstance(error, UnexpectedEOF):
        return TaskSyntaxError(
            "unexpected end of file", location=_location(file, 1, 1), code="E100"
        )
    return TaskSyntaxError("syntax error", location=_location(file, 1, 1), code="E100")
