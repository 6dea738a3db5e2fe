"""The protocol document's minimal raw-pyzmq client works against the real server."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from conftest import served

DOC = Path(__file__).parents[2] / "docs" / "bridge-protocol.md"


def test_minimal_client_from_the_protocol_document_runs() -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[-1]
    with served() as server:
        namespace: dict = {}
        exec(code.replace("tcp://127.0.0.1:5555", server.address), namespace)
    assert namespace["obs"]["wrist_rgb"].shape == (32, 32, 3)
    np.testing.assert_array_equal(namespace["applied"], np.zeros(7, np.float32))
    namespace["sock"].close()
