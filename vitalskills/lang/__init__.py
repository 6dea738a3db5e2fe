"""The task language: two surfaces (`.vtl` text, YAML), one IR, checks and formatting."""

from vitalskills.lang.checks import check_task
from vitalskills.lang.compile import apply_overrides, compile_task, parse_override
from vitalskills.lang.errors import CheckFailed, LangError
from vitalskills.lang.format import format_task
from vitalskills.lang.ir import Task
from vitalskills.lang.loader import parse_file, parse_source
from vitalskills.lang.skill_lookup import SkillLookup

__all__ = [
    "CheckFailed",
    "LangError",
    "SkillLookup",
    "Task",
    "apply_overrides",
    "check_task",
    "compile_task",
    "format_task",
    "parse_file",
    "parse_override",
    "parse_source",
]
