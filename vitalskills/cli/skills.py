"""`vitalskills skills list|show|register|verify`: the skill library on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.table import Table

from vitalskills.cli.app import SkillsDirs, console, renamed, user_errors
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.skills import SkillLibrary

skills_app = typer.Typer(
    name="skills", help="List and inspect installed skills.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@skills_app.command("list")
def list_(skills: SkillsDirs = None, json_: JsonFlag = False) -> None:
    """List every installed skill: name, version, sensors, trained or not, source path."""
    from vitalskills.skills import default_library

    with user_errors(exit_code=1):
        manifests = default_library(skills or []).list()
    if json_:
        rows = [
            {
                "name": m.name,
                "version": m.version,
                "sensors": m.sensors,
                "trained": m.trained,
                "path": str(m.root),
            }
            for m in manifests
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "version", "sensors", "trained")
    table.add_column("source", overflow="fold")
    for m in manifests:
        table.add_row(
            m.name, m.version, ", ".join(m.sensors), "yes" if m.trained else "no", str(m.root)
        )
    console.print(table)
    if not manifests:
        console.print("no skills installed; add a library with --skills DIR")


@skills_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Skill name, optionally NAME@CONSTRAINT.")],
    skills: SkillsDirs = None,
    json_: JsonFlag = False,
) -> None:
    """Show one skill's manifest (the newest version matching an optional `@constraint`)."""
    from vitalskills.skills import default_library

    skill, _, constraint = name.partition("@")
    with user_errors(exit_code=1):
        manifest = default_library(skills or []).get(skill, constraint or None)
    data = manifest.model_dump(mode="json")
    if json_:
        typer.echo(json.dumps({**data, "path": str(manifest.root)}, indent=2))
        return
    console.print(f"# {manifest.root}", markup=False, highlight=False)
    if not manifest.trained:
        console.print("# untrained: this skill lists no weights yet", markup=False)
    # Lists of numbers (limits, offsets, seeds) on a line, not one number per line.
    typer.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100), nl=False)


@skills_app.command("register")
def register_command(
    skill_dir: Annotated[
        Path | None,
        typer.Argument(help="A trained skill folder (or use --from-lerobot).", show_default=False),
    ] = None,
    library: Annotated[
        Path | None,
        typer.Option(
            "--skills", help="Skill library folder to install into (default: the user's)."
        ),
    ] = None,
    library_old: Annotated[Path | None, typer.Option("--library", hidden=True)] = None,
    link: Annotated[bool, typer.Option("--link", help="Symlink instead of copying.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an installed copy.")] = False,
    from_lerobot: Annotated[
        Path | None,
        typer.Option(
            "--from-lerobot",
            help="A LeRobot checkpoint folder (config.json, model.safetensors) to register "
            "as a skill whose policy runs in LeRobot's own environment.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="With --from-lerobot: the skill's name.")
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            help="With --from-lerobot: the Python of the environment LeRobot is installed in.",
        ),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            help="With --from-lerobot: map an input feature to observation keys, "
            "FEATURE=KEY[,KEY] (keys: wrist_rgb, tactile, ee_pose, gripper); repeatable.",
        ),
    ] = None,
    approach_offset: Annotated[
        str,
        typer.Option(
            "--approach-offset",
            help="With --from-lerobot: where the policy starts, metres above/beside the "
            "located target, X,Y,Z in the base frame.",
        ),
    ] = "0,0,0.03",
    control_hz: Annotated[
        float, typer.Option("--control-hz", help="With --from-lerobot: actions per second.")
    ] = 10.0,
    max_steps: Annotated[
        int, typer.Option("--max-steps", help="With --from-lerobot: most actions per attempt.")
    ] = 200,
) -> None:
    """Verify a skill folder and install it into a skill library, or register a LeRobot
    checkpoint as a skill (`--from-lerobot CKPT --name NAME --python PY`)."""
    from vitalskills.skills import user_skills_dir

    with user_errors():
        library = renamed("--skills", library, "--library", library_old) or user_skills_dir()
        if from_lerobot is not None:
            installed = _register_lerobot(
                from_lerobot,
                library,
                name,
                python,
                inputs or [],
                approach_offset,
                control_hz,
                max_steps,
                force,
                skill_dir,
                link,
            )
        else:
            from vitalskills.learning.skill_folder import register_skill

            if skill_dir is None:
                raise UsageError(
                    "`skills register` needs a skill folder",
                    hint="pass SKILL_DIR, or --from-lerobot CHECKPOINT --name NAME --python PY",
                )
            installed = register_skill(skill_dir, library, link=link, force=force)
    console.print(f"registered {from_lerobot or skill_dir} as {installed}")


def _register_lerobot(
    checkpoint: Path,
    library: Path,
    name: str | None,
    python: str | None,
    inputs: list[str],
    approach_offset: str,
    control_hz: float,
    max_steps: int,
    force: bool,
    skill_dir: Path | None,
    link: bool,
) -> Path:
    from vitalskills.app.lerobot_skill import register_lerobot

    if skill_dir is not None or link:
        raise UsageError("`--from-lerobot` takes no SKILL_DIR and no `--link`")
    if not name or not python:
        raise UsageError(
            "`--from-lerobot` needs `--name NAME` and `--python PY`",
            hint="PY is the interpreter of LeRobot's environment, e.g. ~/lerobot/.venv/bin/python",
        )
    mapping = {}
    for item in inputs:
        feature, sep, keys = item.partition("=")
        if not sep or not feature or not keys:
            raise UsageError(f"`--input {item}` is not FEATURE=KEY[,KEY]")
        mapping[feature] = [key.strip() for key in keys.split(",")]
    try:
        offset = [float(x) for x in approach_offset.split(",")]
    except ValueError:
        offset = []
    if len(offset) != 3:
        raise UsageError(
            f"`--approach-offset {approach_offset}` is not X,Y,Z in metres",
            hint="write e.g. `--approach-offset 0,0,0.03`",
        )
    return register_lerobot(
        checkpoint,
        library,
        name,
        force=force,
        python=python,
        approach_offset=offset,
        control_hz=control_hz,
        max_steps=max_steps,
        inputs=mapping,
    )


@skills_app.command("verify")
def verify_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Skills to verify: names (NAME or NAME@CONSTRAINT) from the library, or "
            "skill folders (default: every installed skill).",
        ),
    ] = None,
    skills: SkillsDirs = None,
) -> None:
    """Check skills' files against their sha256, load each policy, run one forward pass.

    Prints one row per skill; exits 1 when any failed. Untrained skills are listed, not
    failed.
    """
    from rich.markup import escape

    from vitalskills.errors import VitalskillsError
    from vitalskills.learning.skill_folder import verify_skill
    from vitalskills.skills import default_library, load_manifest

    with user_errors(exit_code=1):
        library = default_library(skills or [])
        folders = [_skill_folder(library, target) for target in targets or []] or [
            manifest.root for manifest in library.list()
        ]
    table = Table("skill", "version", "result", "folder")
    failed = 0
    for folder in folders:
        try:
            manifest = load_manifest(folder)
            if manifest.trained:
                verify_skill(folder)
        except VitalskillsError as error:
            failed += 1
            name, version = _declared(folder)
            hint = f" ({error.hint})" if error.hint else ""
            reason = escape(f"{error.message}{hint}")
            table.add_row(name, version, f"[red]failed[/]: {reason}", escape(str(folder)))
            continue
        if not manifest.trained:
            untrained = "untrained: no weights"
            table.add_row(manifest.name, manifest.version, untrained, escape(str(folder)))
            continue
        result = f"[green]ok[/] ({len(manifest.weights)} files verified)"
        table.add_row(manifest.name, manifest.version, result, escape(str(folder)))
    console.print(table)
    console.print(f"{len(folders) - failed} of {len(folders)} verified")
    if failed:
        raise typer.Exit(1)


def _skill_folder(library: SkillLibrary, target: str) -> Path:
    """A `skills verify` target: a folder holding skill.yaml, else a library name."""
    if Path(target, "skill.yaml").is_file() or Path(target).is_dir():
        return Path(target)
    name, _, constraint = target.partition("@")
    return library.get(name, constraint or None).root


def _declared(folder: Path) -> tuple[str, str]:
    """The name and version a skill folder's manifest declares, as far as it can be read."""
    try:
        data = yaml.safe_load((folder / "skill.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return folder.name, "?"
    if not isinstance(data, dict):
        return folder.name, "?"
    return str(data.get("name", folder.name)), str(data.get("version", "?"))
