"""The language server for task files (`vitalskills lsp`): diagnostics exactly as `check`
gives them, completion, hover, go to definition and `fmt` formatting, for both surfaces.

It sits beside `app`: it uses the language and the skill library, and never loads a
model, a simulator or the bridge.
"""

from vitalskills.lsp.server import TaskLanguageServer, build_server, serve

__all__ = ["TaskLanguageServer", "build_server", "serve"]
