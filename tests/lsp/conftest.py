"""The language server under test: `vitalskills lsp` in a subprocess, driven over stdio.

Its library is the shipped skills plus `tests/lsp/library` (one untrained skill,
`tiny_insert`), and the per-user skill directory points at nowhere, so a developer's
own skills stay out of the tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

LIBRARY = Path(__file__).resolve().parent / "library"
#: An empty per-user directory (the server writes its hash cache there), outside the tree.
HOME = Path(tempfile.mkdtemp(prefix="vitalskills-lsp-home-"))


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "vitalskills", "lsp", "--skills", str(LIBRARY)],
        server_env={**os.environ, "VITALSKILLS_HOME": str(HOME)},
    ),
)
async def client(lsp_client: LanguageClient):
    """A client with an initialized session, one server per test module (each test opens
    files of its own); the server is shut down after the module."""
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=pytest_lsp.client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()
