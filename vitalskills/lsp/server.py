"""The language server's wiring: LSP messages in, the analysis modules' answers out.

pygls keeps each open document's text; this module turns positions between the LSP's
0-based client units and the IR's 1-based code-point spans, and nothing else.
Diagnostics are published after every open and change, computed in the request's own
turn: a 50-line task checks in milliseconds, so there is nothing to debounce.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from vitalskills.errors import VitalskillsError
from vitalskills.lang import ir
from vitalskills.lang.format import format_file
from vitalskills.lang.loader import surface_of
from vitalskills.lsp.analysis import Index, diagnose, parse_index, task_path
from vitalskills.lsp.completion import ItemKind, complete
from vitalskills.lsp.navigation import definition, hover
from vitalskills.skills import SkillLibrary, default_library

_KINDS: dict[ItemKind, types.CompletionItemKind] = {
    "keyword": types.CompletionItemKind.Keyword,
    "option": types.CompletionItemKind.Property,
    "skill": types.CompletionItemKind.Module,
    "version": types.CompletionItemKind.Constant,
    "located": types.CompletionItemKind.Variable,
    "param": types.CompletionItemKind.Constant,
    "value": types.CompletionItemKind.EnumMember,
}


@dataclass
class _Open:
    """What the server keeps per open file: the path it is read as, and its last index."""

    path: Path
    index: Index | None = None


class TaskLanguageServer(LanguageServer):
    """A language server for task files, holding one skill library for every file."""

    def __init__(self, library: SkillLibrary) -> None:
        super().__init__("vitalskills", version("vitalskills"))
        self.library = library
        self.files: dict[str, _Open] = {}

    def opened(self, uri: str) -> tuple[TextDocument, _Open]:
        """The document and its state; a document the client never opened is read as is."""
        document = self.workspace.get_text_document(uri)
        state = self.files.get(uri)
        if state is None:
            state = self.files[uri] = _Open(task_path(document.path, document.language_id))
        return document, state

    def analyse(self, uri: str) -> None:
        """Publish the file's diagnostics and refresh its index when it parses."""
        document, state = self.opened(uri)
        source = document.source
        errors = diagnose(state.path, source, self.library)
        state.index = parse_index(state.path, source) or state.index
        diagnostics = [_diagnostic(document, state, error) for error in errors]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, version=document.version, diagnostics=diagnostics
            )
        )


def _diagnostic(document: TextDocument, state: _Open, error: VitalskillsError) -> types.Diagnostic:
    """An error as `check` prints it: same code, message and `help:`; an error inside an
    included file is shown at that `include`, and links to the place itself."""
    message = error.message + (f"\nhelp: {error.hint}" if error.hint else "")
    severity = (
        types.DiagnosticSeverity.Warning
        if error.severity == "warning"
        else types.DiagnosticSeverity.Error
    )
    loc = error.location
    span = None if loc is None else ir.Span(
        file=loc.file, line=loc.line, column=loc.column,
        end_line=loc.end_line or loc.line, end_column=loc.end_column or loc.column + 1,
    )  # fmt: skip
    related = None
    if span is not None and span.file != str(state.path):
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=from_fs_path(span.file) or "", range=_range(span)),
                message=f"{span.file}:{span.line}:{span.column}: {error.message}",
            )
        ]
        span = _including(state.index, span.file)
    return types.Diagnostic(
        range=_client_range(document, span) if span else _start(),
        message=message,
        severity=severity,
        code=error.code,
        source="vitalskills",
        related_information=related,
    )


def _including(index: Index | None, file: str) -> ir.Span | None:
    """The span of the `include` in the open file that brought in statements from `file`."""
    if index is None:
        return None
    for symbol in index.symbols:
        node = symbol.node
        if symbol.kind == "include" and symbol.span.file == index.file and isinstance(
            node, ir.Include
        ) and file in index.files_of(node):  # fmt: skip
            return node.span
    return None


def _start() -> types.Range:
    start = types.Position(line=0, character=0)
    return types.Range(start=start, end=start)


def _range(span: ir.Span) -> types.Range:
    """A span in a file that is not open: code points stand for client units."""
    return types.Range(
        start=types.Position(line=span.line - 1, character=span.column - 1),
        end=types.Position(line=span.end_line - 1, character=span.end_column - 1),
    )


def _client_range(document: TextDocument, span: ir.Span) -> types.Range:
    server = ServerTextRange(
        ServerTextPosition(span.line - 1, span.column - 1),
        ServerTextPosition(span.end_line - 1, span.end_column - 1),
    )
    return document.range_to_client_units(server)


def build_server(library: SkillLibrary) -> TaskLanguageServer:
    """Return a server with every feature registered, checking against `library`."""
    server = TaskLanguageServer(library)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TaskLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.files.pop(params.text_document.uri, None)
        ls.analyse(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TaskLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TaskLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)  # included files may have changed on disk

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TaskLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.files.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[" ", "@", "$"]),
    )
    def completion(ls: TaskLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        document, state = ls.opened(params.text_document.uri)
        where = document.position_from_client_units(params.position)
        surface = surface_of(state.path)
        items = complete(
            document.source, where.line, where.character, surface,  # type: ignore[arg-type]
            state.index, ls.library,
        )  # fmt: skip
        return types.CompletionList(
            is_incomplete=False,
            items=[
                types.CompletionItem(label=item.label, kind=_KINDS[item.kind], detail=item.detail)
                for item in items
            ],
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: TaskLanguageServer, params: types.HoverParams) -> types.Hover | None:
        document, state = ls.opened(params.text_document.uri)
        where = document.position_from_client_units(params.position)
        symbol = state.index.at(where.line + 1, where.character + 1) if state.index else None
        text = hover(state.index, document.source, symbol, ls.library) if symbol else None
        if text is None or symbol is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=_client_range(document, symbol.span),
        )

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(
        ls: TaskLanguageServer, params: types.DefinitionParams
    ) -> types.Location | None:
        document, state = ls.opened(params.text_document.uri)
        where = document.position_from_client_units(params.position)
        index = state.index
        symbol = index.at(where.line + 1, where.character + 1) if index else None
        target = definition(index, symbol) if index and symbol else None
        if target is None:
            return None
        if target.file == str(state.path):
            return types.Location(uri=document.uri, range=_client_range(document, target))
        return types.Location(uri=from_fs_path(target.file) or "", range=_range(target))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: TaskLanguageServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        document, state = ls.opened(params.text_document.uri)
        source = document.source
        try:
            text = format_file(state.path, source=source)
        except VitalskillsError:  # does not parse: the diagnostics say why
            return None
        if text == source:
            return []
        end = types.Position(line=len(document.lines), character=0)
        whole = types.Range(start=types.Position(line=0, character=0), end=end)
        return [types.TextEdit(range=whole, new_text=text)]

    return server


def serve(skills: list[Path] | None = None) -> None:
    """Run the language server over stdin and stdout until the editor ends it.

    Args:
        skills: extra skill library directories, searched before the defaults (as
            `check --skills`).

    Raises:
        SkillLibraryError: a directory in `skills` does not exist.
    """
    build_server(default_library(skills or [])).start_io()
