"""Completion: what may be written at the cursor, read from the text before it.

The line being typed rarely parses, so the position is judged from the words before the
cursor, and names come from the last index that parsed: statement keywords and options
(the language's own tables), skill names and versions from the library, located names
bound above the cursor, and params of the kind the position takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from vitalskills.lang import ir
from vitalskills.lang.syntax import STATEMENTS, TOP_LEVEL
from vitalskills.lang.yaml_surface import STEP_KEYS, TOP_KEYS
from vitalskills.lsp.analysis import Index
from vitalskills.skills import SkillLibrary

ItemKind = Literal["keyword", "option", "skill", "version", "located", "param", "value"]

#: Keywords that only ever come in pairs, completed whole.
_PAIRS = {"run": "run skill", "if": "if found"}
#: `.vtl` statement -> its options (YAML's step keys, less those `.vtl` writes otherwise).
_VTL_OPTIONS = {
    key: tuple(option for option in STEP_KEYS[key] if option != "version")
    for key in ("locate", "reach", "move", "run")
}
#: Words after which a fixed word comes.
_CHOICES = {"in": ("base", "ee"), "gripper": ("open", "close"), "run": ("skill",), "if": ("found",)}
#: Value positions -> the param kind that fits there (what `param` defaults can hold).
_PARAM_KINDS: dict[str, tuple[type[ir.IRNode], str | None]] = {
    "locate": (ir.Text, None),
    "fail": (ir.Text, None),
    "wait": (ir.Quantity, "time"),
    "timeout": (ir.Quantity, "time"),
    "retries": (ir.Number, None),
    "retry": (ir.Number, None),
    "repeat": (ir.Number, None),
    "min_score": (ir.Number, None),
    "offset": (ir.Vector, "length"),
    "move": (ir.Vector, "length"),
}
#: Words after which something new is written (a name, a string): nothing to offer.
_NEW_NAME = ("as", "using", "task", "param", "include")
#: Where a located name (or a point param) is the target.
_TARGETS = ("reach", "at")
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"(?:run\s+skill\s+|run:\s*)([A-Za-z_][A-Za-z0-9_]*)@[^\s]*$")
_YAML_KEY = re.compile(r"^(\s*)(-\s+)?[A-Za-z_]*$")
_YAML_VALUE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_]+):\s+\$?[A-Za-z0-9_]*$")
_YAML_STEP = re.compile(r"^(\s*)-\s+([A-Za-z_]+):")


@dataclass(frozen=True)
class Item:
    """One completion: the text to insert, what it is, and a detail line."""

    label: str
    kind: ItemKind
    detail: str = ""


def _fits(param: ir.Param, want: tuple[type[ir.IRNode], str | None]) -> bool:
    cls, dimension = want
    default = param.default
    return isinstance(default, cls) and getattr(default, "dimension", None) == dimension


def _params(index: Index | None, key: str) -> list[Item]:
    want = _PARAM_KINDS.get(key)
    if index is None or want is None:
        return []
    return [Item(p.name, "param") for p in index.task.params if _fits(p, want)]


def _targets(index: Index | None, line: int, points: bool) -> list[Item]:
    """Located names bound above `line` (1-based), and point params where those fit."""
    if index is None:
        return []
    seen = dict.fromkeys(s.name for s in index.located_before(line))
    items = [Item(name, "located", "located above") for name in seen]
    if points:
        point = (ir.Vector, "length")
        items += [Item(p.name, "param", "a point") for p in index.task.params if _fits(p, point)]
    return items


def _skills(library: SkillLibrary | None) -> list[Item]:
    if library is None:
        return []
    newest = {m.name: m for m in library.list()}  # sorted by version: the last one wins
    return [Item(m.name, "skill", f"{m.version}: {m.description}") for m in newest.values()]


def _versions(library: SkillLibrary | None, skill: str) -> list[Item]:
    if library is None:
        return []
    versions = [m.version for m in library.list() if m.name == skill]
    items = [Item(v, "version", "exactly this version") for v in versions]
    return items + [Item(f">={v}", "version", "this version or newer") for v in versions]


def _depth(text: str) -> int:
    """How many blocks are open at the end of `text` (strings and comments left out)."""
    code = _STRING_OR_COMMENT.sub("", text)
    return code.count("{") - code.count("}")


def _vtl(
    above: str,
    before: str,
    after: str,
    line: int,
    index: Index | None,
    library: SkillLibrary | None,
) -> list[Item]:
    """Completions on a `.vtl` line: `above` is the text of the lines above, `before` and
    `after` the line's text on either side of the cursor, `line` its 1-based number."""
    if before.count('"') % 2 or "#" in before:
        return []  # inside a string or a comment
    if match := _VERSION.search(before):
        return _versions(library, match.group(1))
    # The statement being typed starts after the last `;` or `{` (`} else {` included).
    statement = re.split(r"[;{]", before)[-1]
    partial = _WORD.search(statement)
    words = statement[: partial.start() if partial else None].split()
    words = [w for w in words if w not in ("}", "else")]
    if not words:
        keywords = STATEMENTS if _depth(above + before) else TOP_LEVEL
        return [Item(_PAIRS.get(k, k), "keyword") for k in keywords]
    last = words[-1]
    if words[-2:] == ["run", "skill"]:
        return _skills(library)
    if words[-2:] == ["if", "found"]:
        return _targets(index, line, points=False)
    if last in _NEW_NAME:
        return []
    if last in _CHOICES:
        return [Item(word, "value") for word in _CHOICES[last]]
    if last in _TARGETS:
        return _targets(index, line, points=True)
    if last in _PARAM_KINDS:
        return _params(index, last)
    head = "run" if words[:2] == ["run", "skill"] else words[0]
    used = {*words, *re.split(r"[;{]", after)[0].split()}  # options given on either side
    options = [o for o in _VTL_OPTIONS.get(head, ()) if o not in used]
    return [Item(option, "option", f"option of `{_PAIRS.get(head, head)}`") for option in options]


def _yaml_keys(lines: list[str], row: int, indent: str, dash: bool) -> list[Item]:
    """Keys for a YAML line: statement keys after `- `, else the options of the step above
    at this indent, else the top-level keys."""
    if dash:
        return [Item(key, "keyword") for key in STEP_KEYS]
    if not indent:
        return [Item(key, "keyword") for key in TOP_KEYS]
    for above in reversed(lines[:row]):
        step = _YAML_STEP.match(above)
        if step and len(step.group(1)) + 2 == len(indent):
            return [Item(option, "option") for option in STEP_KEYS.get(step.group(2), ())]
        if above.strip() and len(above) - len(above.lstrip()) < len(indent) - 2:
            break
    return []


def _yaml(
    lines: list[str], row: int, before: str, index: Index | None, library: SkillLibrary | None
) -> list[Item]:
    if "#" in before:
        return []
    if match := _VERSION.search(before):
        return _versions(library, match.group(1))
    if match := _YAML_KEY.match(before):
        return _yaml_keys(lines, row, match.group(1), bool(match.group(2)))
    match = _YAML_VALUE.match(before)
    if match is None:
        return []
    key = match.group(1)
    if key == "run":
        return _skills(library)
    if key == "if_found":
        return _targets(index, row + 1, points=False)
    if key in _TARGETS:
        return _targets(index, row + 1, points=True)
    if key in _CHOICES:
        return [Item(word, "value") for word in _CHOICES[key]]
    # In YAML a param stands as `$name` where text could also stand (the locate query).
    sigil = "$" if key == "locate" else ""
    return [Item(f"{sigil}{item.label}", "param") for item in _params(index, key)]


def complete(
    source: str,
    line: int,
    column: int,
    surface: Literal["vtl", "yaml"],
    index: Index | None,
    library: SkillLibrary | None,
) -> list[Item]:
    """Return what fits at 0-based `line` and `column` (code points) of `source`.

    Args:
        source: the open file's text as the editor has it now.
        surface: `vtl` or `yaml`.
        index: the last index of the file that parsed (None: offer no names).
        library: the skill library (None: offer no skills).
    """
    lines = source.splitlines()
    text = lines[line] if line < len(lines) else ""
    before = text[:column]
    if surface == "vtl":
        above = "".join(f"{text}\n" for text in lines[:line])
        return _vtl(above, before, text[column:], line + 1, index, library)
    return _yaml(lines, line, before, index, library)
