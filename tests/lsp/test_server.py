"""`vitalskills lsp` end to end: a real server process, driven over stdio by pytest-lsp.

Diagnostics and formatting are compared with what `vitalskills check` and `fmt` print
for the same text, so the server cannot drift from the command line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from typer.testing import CliRunner

from tests.lsp.conftest import HOME, LIBRARY
from vitalskills.cli import app

pytestmark = pytest.mark.asyncio(loop_scope="module")

LANGUAGE = {".vtl": "vtl", ".yaml": "yaml"}
#: `FILE:LINE:COL: SEVERITY: MESSAGE`, the first line of each diagnostic `check` prints.
_HEADLINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<severity>\w+): (.*)$")


@pytest.fixture(autouse=True)
def _same_library_as_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALSKILLS_HOME", str(HOME))


def check_output(path: Path) -> list[tuple[int, int, str, str]]:
    """(line, column, severity, message with its `help:` line) for each diagnostic that
    `vitalskills check --skills LIBRARY` prints for `path`."""
    result = CliRunner().invoke(app, ["check", "--skills", str(LIBRARY), str(path)])
    assert result.exit_code in (0, 1), result.output  # checked, not a usage error
    found: list[tuple[int, int, str, str]] = []
    for line in result.stderr.splitlines():
        if headline := _HEADLINE.match(line):
            found.append((int(headline["line"]), int(headline["column"]),
                          headline["severity"], headline[5]))  # fmt: skip
        elif line.startswith("help: ") and found:
            row, column, severity, message = found[-1]
            found[-1] = (row, column, severity, f"{message}\n{line}")
    return found


def shown(client: LanguageClient, uri: str) -> list[tuple[int, int, str, str]]:
    """The server's diagnostics for `uri` in the shape of `check_output`."""
    severity = {
        types.DiagnosticSeverity.Error: "error",
        types.DiagnosticSeverity.Warning: "warning",
    }
    return [
        (d.range.start.line + 1, d.range.start.character + 1, severity[d.severity], d.message)
        for d in client.diagnostics[uri]
    ]


def codes(client: LanguageClient, uri: str) -> list[str]:
    return [str(d.code) for d in client.diagnostics[uri]]


async def open_file(client: LanguageClient, path: Path, text: str) -> str:
    """Write `text` to `path`, open it in the server and wait for its diagnostics."""
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    item = types.TextDocumentItem(uri=uri, language_id=LANGUAGE[path.suffix], version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def change_file(client: LanguageClient, path: Path, text: str, version: int) -> None:
    """Replace the whole buffer (and the file, for `check` to compare) and wait."""
    path.write_text(text, encoding="utf-8")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)


BAD = 'param lift = [0, 0, 5] cm\nrun skill tiny_insrt at hole\nlocate "peg hole" as hole\n'
UNUSED = 'param lift = [0, 0, 5] cm\nlocate "peg hole" as hole\nrun skill tiny_insert at hole\n'
SYNTAX = 'locate "peg hole" as hole\nrun skill tiny_insert at hole retries\n'


async def test_diagnostics_after_open_and_change_are_those_of_check(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "task.vtl"
    uri = await open_file(client, path, BAD)
    assert codes(client, uri) == ["E200", "E211"]
    assert shown(client, uri) == check_output(path)
    assert "help: did you mean `tiny_insert`?" in client.diagnostics[uri][0].message

    await change_file(client, path, UNUSED, version=2)
    assert codes(client, uri) == ["W100"]  # a warning, as `check` prints it, and exit 0
    assert shown(client, uri) == check_output(path)

    await change_file(client, path, SYNTAX, version=3)
    assert codes(client, uri) == ["E165"]
    assert shown(client, uri) == check_output(path)


async def test_every_shipped_task_gets_the_diagnostics_of_check(client: LanguageClient) -> None:
    tasks = Path(__file__).resolve().parents[2] / "tasks"
    files = sorted(p for p in tasks.rglob("*") if p.suffix in LANGUAGE)
    assert len(files) > 10
    for path in files:
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        item = types.TextDocumentItem(
            uri=uri, language_id=LANGUAGE[path.suffix], version=1, text=text
        )
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        assert shown(client, uri) == check_output(path), path


async def test_yaml_diagnostics_are_those_of_check(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    text = (
        "task: t\nsteps:\n  - locate: peg hole\n    as: hole\n  - run: tiny_insrt\n    at: hole\n"
    )
    uri = await open_file(client, path, text)
    assert codes(client, uri) == ["E200"]
    assert shown(client, uri) == check_output(path)


async def test_an_error_inside_an_included_file_is_shown_at_the_include(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "home.vtl").write_text("wait 3 mm\n", encoding="utf-8")
    uri = await open_file(client, tmp_path / "task.vtl", 'locate "x" as x\ninclude "home.vtl"\n')
    (diagnostic,) = client.diagnostics[uri]
    assert diagnostic.code == "E220"
    assert diagnostic.range.start.line == 1  # the include line
    (related,) = diagnostic.related_information or []
    assert related.location.uri == (tmp_path / "home.vtl").as_uri()
    assert related.location.range.start == types.Position(line=0, character=5)


def labels(result: types.CompletionList | list[types.CompletionItem] | None) -> list[str]:
    items = result.items if isinstance(result, types.CompletionList) else result or []
    return [item.label for item in items]


async def complete_at(client: LanguageClient, uri: str, line: int, character: int) -> list[str]:
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )
    return labels(result)


async def test_completion_offers_keywords_options_skills_and_names_in_scope(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = (
        'param target = "peg hole"\nparam pause = 200 ms\nlocate target as hole\n'
        "run skill tiny_insert at hole\nreach hole\n"
    )
    uri = await open_file(client, tmp_path / "task.vtl", text)
    assert codes(client, uri) == ["W100"]  # `pause` is not used yet
    keywords = await complete_at(client, uri, 4, 0)  # the start of `reach hole`
    assert {"locate", "run skill", "if found", "retry", "include"} <= set(keywords)
    skills = await complete_at(client, uri, 3, len("run skill "))
    assert "tiny_insert" in skills and "plug_insert" in skills
    assert await complete_at(client, uri, 3, len("run skill tiny_insert ")) == [
        "retries",  # `at` is given already
        "timeout",
    ]
    assert await complete_at(client, uri, 4, len("reach ")) == ["hole"]
    assert await complete_at(client, uri, 2, len("locate ")) == ["target"]  # a text param
    assert await complete_at(client, uri, 0, 0) == await complete_at(client, uri, 4, 0)

    # Half-typed lines do not parse: names come from the last text that did.
    await change_file(client, tmp_path / "task.vtl", text + "wait ", 2)
    assert codes(client, uri) == ["E155"]
    assert await complete_at(client, uri, 5, len("wait ")) == ["pause"]  # a duration param
    await change_file(client, tmp_path / "task.vtl", text + "run skill tiny_insert@", 3)
    assert await complete_at(client, uri, 5, len("run skill tiny_insert@")) == ["0.2.0", ">=0.2.0"]


async def test_completion_inside_a_block_and_of_a_half_typed_word(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = 'locate "peg hole" as hole\nif found hole {\n  run skill ti\n}\n'
    uri = await open_file(client, tmp_path / "task.vtl", text)
    assert "tiny_insert" in await complete_at(client, uri, 2, len("  run skill ti"))
    inside = await complete_at(client, uri, 2, 2)
    assert "locate" in inside and "task" not in inside and "param" not in inside
    assert "param" in await complete_at(client, uri, 4, 0)  # after the block


async def test_completion_in_yaml(client: LanguageClient, tmp_path: Path) -> None:
    text = "task: t\nsteps:\n  - locate: peg hole\n    as: hole\n  - run: \n    \n"
    uri = await open_file(client, tmp_path / "task.yaml", text)
    assert "tiny_insert" in await complete_at(client, uri, 4, len("  - run: "))
    assert await complete_at(client, uri, 5, 4) == ["version", "at", "retries", "timeout"]
    assert "if_found" in await complete_at(client, uri, 2, len("  - "))


async def test_hover_on_a_skill_shows_its_manifest_summary(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = await open_file(client, tmp_path / "task.vtl", 'locate "x" as x\nrun skill tiny_insert\n')
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=len("run skill tiny")),
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    summary = hover.contents.value
    assert "**skill `tiny_insert`** 0.2.0 (untrained: no weights yet)" in summary
    assert "- sensors: wrist_rgb, tactile, ee_pose" in summary
    assert "- approach offset: [0, 0, 40] mm (base frame)" in summary
    assert "- evaluation: bc scene: 17/20 (85%)" in summary
    assert hover.range == types.Range(
        start=types.Position(line=1, character=10), end=types.Position(line=1, character=21)
    )


async def definition_at(
    client: LanguageClient, uri: str, line: int, character: int
) -> types.Location:
    result = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )
    assert isinstance(result, types.Location), result
    return result


async def test_definition_of_located_names_params_and_includes(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "home.vtl").write_text("gripper open\n", encoding="utf-8")
    text = (
        'param target = "peg hole"\nlocate target as hole\nif found hole {\n'
        '  reach hole\n}\ninclude "common/home.vtl"\n'
    )
    uri = await open_file(client, tmp_path / "task.vtl", text)
    located = await definition_at(client, uri, 3, len("  reach h"))
    assert located.uri == uri
    assert located.range.start == types.Position(line=1, character=len("locate target as "))
    assert (await definition_at(client, uri, 2, len("if found "))).range == located.range
    param = await definition_at(client, uri, 1, len("locate tar"))
    assert param.range.start == types.Position(line=0, character=len("param "))
    included = await definition_at(client, uri, 5, len('include "com'))
    assert included.uri == (tmp_path / "common" / "home.vtl").as_uri()
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=len("locate tar")),
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value == '**param `target`** = `"peg hole"`'
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=3, character=len("  reach h")),
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value == "**located `hole`**: `locate target as hole`"


async def test_the_buffer_is_checked_and_formatted_as_the_editor_has_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "never_saved.vtl"  # nothing on disk: only the editor has the text
    uri = path.as_uri()
    item = types.TextDocumentItem(
        uri=uri, language_id="vtl", version=1, text='locate "x" as x\nrun skill tiny_insrt\n'
    )
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert codes(client, uri) == ["E200"]
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert [edit.new_text for edit in edits or []] == [
        'task never_saved\n\nlocate "x" as x\nrun skill tiny_insrt\n'  # the stem names it
    ]
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".vtl", ".yaml"])
async def test_formatting_is_the_fmt_output(
    client: LanguageClient, tmp_path: Path, suffix: str
) -> None:
    texts = {
        ".vtl": '# home first\nlocate   "peg hole"  as hole ;  reach hole\n\n\nwait 500   ms\n',
        ".yaml": "steps:\n- locate: peg hole   # the hole\n  as: hole\n-   wait: 500 ms\n",
    }
    path = tmp_path / f"task{suffix}"
    uri = await open_file(client, path, texts[suffix])
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    fmt = CliRunner().invoke(app, ["fmt", str(path)])
    assert fmt.exit_code == 0, fmt.output
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == fmt.stdout
    assert edits[0].new_text != texts[suffix]
    assert edits[0].range.start == types.Position(line=0, character=0)
