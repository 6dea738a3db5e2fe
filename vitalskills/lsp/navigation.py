"""Hover and go to definition: what a name under the cursor is, and where it comes from.

A skill shows its manifest summary (what a user weighs before running it: sensors, the
approach offset, recorded evaluations); a param shows its value as written; a located
name shows its `locate`. Definitions lead to the `param`, to the `locate ... as`, or to
the included file.
"""

from __future__ import annotations

from typing import Any

from vitalskills.errors import VitalskillsError
from vitalskills.lang import SkillLookup, ir
from vitalskills.lang.format import vector_items
from vitalskills.lsp.analysis import Index, Symbol
from vitalskills.skills import SkillManifest


def source_text(source: str, span: ir.Span) -> str:
    """The text `span` covers in `source` (the open file's text)."""
    lines = source.splitlines()
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    first = lines[span.line - 1][span.column - 1 :]
    middle = lines[span.line : span.end_line - 1]
    return "\n".join([first, *middle, lines[span.end_line - 1][: span.end_column - 1]])


def _first_line(source: str, span: ir.Span) -> str:
    """The first line of a statement as written (a block statement without its block)."""
    return source_text(source, span).splitlines()[0].rstrip(" {")


def _evaluations(manifest: SkillManifest) -> list[str]:
    """`bc scene: 29/30 (97%)` for each recorded evaluation in the manifest's provenance."""
    recorded: Any = manifest.provenance.get("evaluation") or {}
    rows = []
    for policy, conditions in recorded.items() if isinstance(recorded, dict) else ():
        for condition, result in conditions.items() if isinstance(conditions, dict) else ():
            if isinstance(result, dict) and {"episodes", "successes"} <= result.keys():
                rate = result["successes"] / max(1, result["episodes"])
                rows.append(
                    f"{policy} {condition}: {result['successes']}/{result['episodes']} ({rate:.0%})"
                )
    return rows


def skill_summary(manifest: SkillManifest) -> str:
    """A skill's manifest as a short Markdown summary: the facts a task author needs."""
    offset = ir.Vector(values=list(manifest.approach_offset), unit="mm", dimension="length")
    lines = [
        f"**skill `{manifest.name}`** {manifest.version}"
        + ("" if manifest.trained else " (untrained: no weights yet)"),
        "",
    ]
    if manifest.description:
        lines += [manifest.description, ""]
    lines += [
        f"- sensors: {', '.join(manifest.sensors) or 'none'}",
        f"- approach offset: [{vector_items(offset)}] mm (base frame)",
        f"- {manifest.control_hz:g} Hz, at most {manifest.max_steps} steps",
    ]
    evaluations = _evaluations(manifest)
    lines.append(f"- evaluation: {'; '.join(evaluations) if evaluations else 'none recorded'}")
    lines.append(f"- folder: `{manifest.root}`")
    return "\n".join(lines)


def _skill(library: SkillLookup | None, node: ir.RunSkill) -> SkillManifest | None:
    if library is None:
        return None
    try:
        manifest = library.get(node.skill, node.version)
    except VitalskillsError:  # the diagnostics already say why
        return None
    return manifest if isinstance(manifest, SkillManifest) else None


def _locate_of(index: Index, symbol: Symbol) -> Symbol | None:
    """The `locate ... as` a located name refers to: the last one above it, else the first."""
    if symbol.kind not in ("ref", "located"):
        return None
    declared = index.declarations("located", symbol.name)
    above = [d for d in declared if d.anchor.line <= symbol.anchor.line]
    return above[-1] if above else declared[0] if declared else None


def hover(index: Index, source: str, symbol: Symbol, library: SkillLookup | None) -> str | None:
    """Markdown for the symbol under the cursor, or None when there is nothing to say."""
    if symbol.kind == "skill" and isinstance(symbol.node, ir.RunSkill):
        manifest = _skill(library, symbol.node)
        return skill_summary(manifest) if manifest is not None else None
    param = index.params.get(symbol.name) if symbol.kind in ("param", "ref") else None
    if param is not None and param.default.span is not None:
        written = source_text(source, param.default.span)
        return f"**param `{param.name}`** = `{written}`"
    located = _locate_of(index, symbol)
    if located is None:
        return None
    span = located.node.span
    if span is not None and span.file == index.file:
        return f"**located `{symbol.name}`**: `{_first_line(source, span)}`"
    return f"**located `{symbol.name}`**, in `{located.span.file}`"


def definition(index: Index, symbol: Symbol) -> ir.Span | None:
    """Where the symbol under the cursor is defined (its span names the file), or None
    (a skill, an unknown name, an include that could not be read)."""
    if symbol.kind == "include" and isinstance(symbol.node, ir.Include):
        spans = [node.span for node in symbol.node.body if node.span is not None]
        if not spans:
            return None
        return ir.Span(file=spans[0].file, line=1, column=1, end_line=1, end_column=1)
    if symbol.kind in ("ref", "param") and symbol.name in index.params:
        return index.declarations("param", symbol.name)[0].span
    located = _locate_of(index, symbol)
    return located.span if located is not None else None
