"""The VS Code extension folder: its TextMate grammar knows the language's keywords and
units, and its manifest points at files that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vitalskills.lang import ir
from vitalskills.lang.grammar import parser

VSCODE = Path(__file__).resolve().parents[2] / "editors" / "vscode"
GRAMMAR = json.loads((VSCODE / "syntaxes" / "vtl.tmLanguage.json").read_text(encoding="utf-8"))


def keywords_of_the_language() -> set[str]:
    """Every word the lark grammar reserves (`task`, `locate`, `min_score`, ...)."""
    return {
        terminal.pattern.value
        for terminal in parser().terminals
        if terminal.pattern.type == "str" and terminal.pattern.value.isidentifier()
    }


def test_the_grammar_highlights_every_keyword() -> None:
    patterns = [re.compile(p["match"]) for p in GRAMMAR["repository"]["keyword"]["patterns"]]
    missing = sorted(
        word for word in keywords_of_the_language() if not any(p.fullmatch(word) for p in patterns)
    )
    assert missing == []
    assert not any(p.fullmatch("strip") for p in patterns)


def test_the_grammar_knows_every_unit_and_no_other() -> None:
    quantity = re.compile(GRAMMAR["repository"]["quantity"]["match"])
    for unit in ir.UNITS:
        match = quantity.fullmatch(f"-2.5 {unit}")
        assert match and match.group(2) == unit
    assert quantity.fullmatch("3 in") is None
    assert quantity.match("0.3 min_score") is None  # `m` only as a whole word


def test_the_grammar_scopes_comments_strings_and_skills() -> None:
    repository = GRAMMAR["repository"]
    assert re.fullmatch(repository["comment"]["match"], "# home first")
    skill = re.match(repository["skill"]["match"], "run skill plug_insert@>=1.0 at strip")
    assert skill and skill.group(3, 4) == ("plug_insert", "@>=1.0")
    escape = repository["string"]["patterns"][0]["match"]
    assert re.fullmatch(escape, "\\u00e9") and not re.fullmatch(escape, "\\q")


def test_the_extension_manifest_names_files_that_exist() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    assert (VSCODE / manifest["main"]).is_file()
    (language,) = manifest["contributes"]["languages"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "vtl"
    assert grammar["scopeName"] == GRAMMAR["scopeName"]
    assert (VSCODE / grammar["path"]).is_file() and (VSCODE / language["configuration"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    assert '"lsp"' in (VSCODE / manifest["main"]).read_text(encoding="utf-8")
