"""The `compile --json` schema is stable: it matches the published docs/ir.schema.json.

After an intended IR change, regenerate with `VITALSKILLS_UPDATE_SNAPSHOTS=1 uv run
pytest tests/lang/test_schema.py`, bump `ir_version` if old JSON no longer validates,
and update the schema section of docs/language.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vitalskills.lang.ir import Task

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "ir.schema.json"


def test_published_schema_matches_the_ir():
    actual = json.dumps(Task.model_json_schema(mode="serialization"), indent=2) + "\n"
    if os.environ.get("VITALSKILLS_UPDATE_SNAPSHOTS"):
        SCHEMA.write_text(actual, encoding="utf-8")
    assert SCHEMA.read_text(encoding="utf-8") == actual


def test_compiled_json_validates_against_the_schema_shape(tasks_dir, library):
    from vitalskills.lang import compile_task

    data = json.loads(compile_task(tasks_dir / "normative.vtl", library=library).model_dump_json())
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert set(data) == set(schema["properties"])
    assert data["ir_version"] == 1
