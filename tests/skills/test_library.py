"""Skill manifests, versions and the library's search order (dirs, user dir, entry points)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.errors import UsageError
from vitalskills.lang.errors import SkillVersionError, UnknownSkillError, VersionSyntaxError
from vitalskills.skills import (
    BrokenSkillError,
    ManifestError,
    SkillLibrary,
    SkillNotTrainedError,
    SkillWeightsError,
    default_library,
    load_manifest,
    parse_constraint,
    parse_version,
    project_skills_dir,
    sha256_of,
)

SHIPPED = ("card_swipe", "key_insert", "plug_insert", "usb_insert")


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VITALSKILLS_HOME", str(tmp_path_factory.mktemp("home")))


def make_skill(root: Path, name: str, version: str = "1.0.0", **changes) -> Path:
    """Write a valid, untrained skill folder (plug_insert's declarations with changes)."""
    data = yaml.safe_load((project_skills_dir() / "plug_insert" / "skill.yaml").read_text())
    data.update(name=name, version=version, weights=[], provenance={"status": "untrained"})
    data["observation"] = {
        "cameras": [{"name": "wrist_rgb", "width": 128, "height": 128}],
        "tactile_dim": 15,
        "proprio": ["ee_pose", "gripper"],
    }
    data.update(changes)
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    (folder / "skill.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_shipped_skills_are_valid_and_trained():
    manifests = SkillLibrary([project_skills_dir()]).list()
    assert [m.name for m in manifests] == list(SHIPPED)
    for m in manifests:
        assert m.observation.cameras[0].name == "wrist_rgb"
        assert m.observation.tactile_dim == 15 and m.action.dim == 7 and m.action.frame == "ee"
        assert m.control_hz == 10 and 0 < max(abs(x) for x in m.approach_offset) <= 0.1
        assert m.trained and m.provenance["status"] == "trained"
        paths = m.weight_paths()  # checks every sha256
        assert sum(path.stat().st_size for path in paths) < 5 * 2**20
        assert m.provenance["command"].startswith("vitalskills train bc ")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_skills_were_made_as_on_a_real_robot(name):
    """Each shipped skill says it was made through the bridge from what a robot reports:
    teleoperated demonstrations, chroma masks, BC without privileged input, a residual
    trained on the robot's bench toward a recorded goal; with its evaluation in `scene`.
    (Wall times are recorded in the provenance and docs/results.md, not asserted.)"""
    provenance = SkillLibrary([project_skills_dir()]).get(name).provenance
    assert provenance["dataset"]["source"].startswith("teleop:")
    assert provenance["dataset"]["episodes"] == 32
    training = provenance["training"]
    assert training["privileged"] is False and training["signals"]["privileged_keys"] == []
    assert training["signals"]["aux_target_pose"]["source"] == "hindsight"
    assert training["signals"]["masks"]["method"]["method"] == "chroma"
    residual = provenance["residual"]
    assert residual["where"] == "robot" and residual["robot"].startswith("sim:")
    assert residual["goal"]["made"]["source"].startswith("data:")
    assert residual["critic"] and residual["interventions"] is not None
    for part in ("bc", "vital"):
        scene = provenance["evaluation"][part]["scene"]
        assert scene["episodes"] == 30 and scene["seeds"] == "10000..10029"


def test_untrained_manifest_has_no_weights(tmp_path):
    m = load_manifest(make_skill(tmp_path, "declared"))
    assert not m.trained and m.weights == []
    with pytest.raises(SkillNotTrainedError):
        m.weight_paths()


def test_root_is_kept_but_not_serialized():
    manifest = load_manifest(project_skills_dir() / "plug_insert")
    assert manifest.root == project_skills_dir() / "plug_insert"
    assert "root" not in manifest.model_dump()


def test_weights_are_verified_by_sha256(tmp_path):
    folder = make_skill(tmp_path, "w")
    (folder / "policy.safetensors").write_bytes(b"weights")
    digest = sha256_of(folder / "policy.safetensors")
    data = yaml.safe_load((folder / "skill.yaml").read_text())
    data["weights"] = [{"path": "policy.safetensors", "sha256": digest}]
    (folder / "skill.yaml").write_text(yaml.safe_dump(data))
    manifest = load_manifest(folder)
    assert manifest.trained and manifest.weight_paths() == [folder / "policy.safetensors"]
    (folder / "policy.safetensors").write_bytes(b"tampered")
    with pytest.raises(SkillWeightsError, match="does not match its sha256"):
        manifest.weight_paths()
    (folder / "policy.safetensors").unlink()
    with pytest.raises(SkillWeightsError, match="is missing"):
        manifest.weight_paths()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"control_hz": -1}, "control_hz"),
        ({"approach_offset": [0, 0]}, "approach_offset"),
        ({"colour": "red"}, "colour"),
        ({"version": "v1"}, "version"),
        ({"action": {"frame": "ee", "dim": 2, "low": [0], "high": [1, 1]}}, "action"),
        ({"weights": [{"path": "../x", "sha256": "0" * 64}]}, "weights.0.path"),
    ],
)
def test_invalid_manifests_are_located(tmp_path, changes, field):
    folder = make_skill(tmp_path, "bad", **changes)
    with pytest.raises(ManifestError) as caught:
        load_manifest(folder)
    error = caught.value
    assert f"`{field}" in error.message
    assert error.location.file == str(folder / "skill.yaml")
    lines = (folder / "skill.yaml").read_text().splitlines()
    if field in ("colour", "control_hz", "version"):  # scalars: the exact line
        assert lines[error.location.line - 1].startswith(f"{field}:")


def test_versions_and_constraints():
    assert parse_version("1.2") == (1, 2, 0)
    cases = {
        ">=1.0": [False, True, True, True],
        "^1.2": [False, False, True, False],
        "~=1.2": [False, False, True, False],
        "~=1.2.0": [False, False, True, False],
        "1.0.0": [False, True, False, False],
        ">=1,<2,!=1.2.5": [False, True, False, False],
    }
    versions = [(0, 9, 0), (1, 0, 0), (1, 2, 5), (2, 0, 0)]
    for text, expected in cases.items():
        accepts = parse_constraint(text)
        if text == ">=1,<2,!=1.2.5":
            assert [accepts(v) for v in versions] == expected
        else:
            assert [accepts(v) for v in versions] == expected, text
    for bad in ("", "=>1", "1.x", "~=1", ">="):
        with pytest.raises(VersionSyntaxError):
            parse_constraint(bad)


def test_get_picks_newest_matching_version(tmp_path):
    for version in ("1.0.0", "1.4.0", "2.0.0"):
        make_skill(tmp_path, "peg", version)
    library = SkillLibrary([tmp_path])
    assert library.get("peg").version == "2.0.0"
    assert library.get("peg", "^1.0").version == "1.4.0"
    with pytest.raises(SkillVersionError, match="satisfies `>=3`"):
        library.get("peg", ">=3")
    with pytest.raises(UnknownSkillError) as caught:
        library.get("pge")
    assert caught.value.hint == "did you mean `peg`?"


def test_search_order_earlier_directories_win(tmp_path, monkeypatch):
    first = make_skill(tmp_path / "a", "plug_insert", "0.1.0", description="mine")
    user = tmp_path / "home"
    monkeypatch.setenv("VITALSKILLS_HOME", str(user))
    make_skill(user / "skills", "user_only", "0.3.0")
    library = default_library([tmp_path / "a"])
    plug = library.get("plug_insert")
    assert plug.description == "mine" and plug.root == first
    assert library.get("user_only").root.parent == user / "skills"
    assert {"card_swipe", "user_only"} <= set(library.names())


def test_a_skill_folder_itself_can_be_a_library_dir(tmp_path):
    folder = make_skill(tmp_path, "solo")
    assert [m.name for m in SkillLibrary([folder]).list()] == ["solo"]


def test_missing_extra_dir_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        SkillLibrary([tmp_path / "nope"])


def test_entry_points_add_skill_packs(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path), read by importlib.metadata."""
    pack = tmp_path / "site"
    make_skill(pack / "fancy_pack_data", "fancy", "0.2.0")
    (pack / "fancy_pack.py").write_text(
        "from pathlib import Path\n"
        "def skills_dir():\n"
        "    return Path(__file__).parent / 'fancy_pack_data'\n"
    )
    info = pack / "fancy_pack-0.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fancy-pack\nVersion: 0.2.0\n")
    (info / "entry_points.txt").write_text("[vitalskills.skills]\nfancy = fancy_pack:skills_dir\n")
    monkeypatch.syspath_prepend(str(pack))
    library = default_library()
    assert library.get("fancy").version == "0.2.0"
    (info / "entry_points.txt").write_text("[vitalskills.skills]\nbroken = no_such_module:x\n")
    sys.modules.pop("fancy_pack", None)
    with pytest.raises(UsageError, match="entry point `broken`"):
        default_library()


runner = CliRunner()


def test_skills_list_and_show_commands(tmp_path):
    make_skill(tmp_path, "extra", "3.1.0")
    listed = runner.invoke(app, ["skills", "list", "--json", "--skills", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == [
        "card_swipe",
        "extra",
        "key_insert",
        "plug_insert",
        "usb_insert",
    ]
    assert rows[1]["sensors"] == ["wrist_rgb", "tactile", "ee_pose", "gripper"]
    assert rows[1]["path"] == str(tmp_path / "extra-3.1.0")
    table = runner.invoke(app, ["skills", "list"], terminal_width=200)
    assert table.exit_code == 0 and "plug_insert" in table.stdout and "0.1.0" in table.stdout
    shown = runner.invoke(app, ["skills", "show", "extra", "--skills", str(tmp_path)])
    assert shown.exit_code == 0 and "untrained" in shown.stdout
    trained = runner.invoke(app, ["skills", "show", "plug_insert"])
    assert trained.exit_code == 0 and "untrained" not in trained.stdout
    # Lists of numbers are shown on a line (the 64 seeds took 64 lines), and it is YAML.
    assert "  low: [-0.01, -0.01, -0.01, -0.05, -0.05, -0.05, -1.0]" in trained.stdout
    seeds = next(line for line in trained.stdout.splitlines() if "seeds:" in line)
    assert seeds.strip().startswith("seeds: [0, 1, 2, 3")
    shown_yaml = yaml.safe_load(trained.stdout.split("\n", 1)[1])
    assert shown_yaml["name"] == "plug_insert"
    data = json.loads(
        runner.invoke(
            app, ["skills", "show", "extra@^3", "--json", "--skills", str(tmp_path)]
        ).stdout
    )
    declared = yaml.safe_load((tmp_path / "extra-3.1.0" / "skill.yaml").read_text())
    assert data["version"] == "3.1.0"
    assert data["approach_offset"] == declared["approach_offset"]
    missing = runner.invoke(app, ["skills", "show", "plug_insrt"])
    assert missing.exit_code == 1 and "did you mean `plug_insert`?" in missing.stderr


def test_a_broken_manifest_fails_only_the_tasks_that_use_it(tmp_path, caplog):
    # Before: one bad skill.yaml anywhere in --skills failed `check` for every task.
    make_skill(tmp_path, "peg", "1.0.0")
    bad = tmp_path / "bolt"
    bad.mkdir()
    (bad / "skill.yaml").write_text("manifest_version: 1\nname: bolt\ncontrol_hz: -1\n")
    library = SkillLibrary([tmp_path])
    with caplog.at_level("WARNING", logger="vitalskills.skills"):
        assert [m.name for m in library.list()] == ["peg"]
        library.list()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and f"skipped the skill in {bad}" in warnings[0]
    assert list(library.broken) == [bad]
    with pytest.raises(BrokenSkillError, match="skill `bolt` cannot be used") as caught:
        library.get("bolt")
    assert f"{bad / 'skill.yaml'}:" in caught.value.message
    with pytest.raises(UnknownSkillError, match="unknown skill `nut`"):
        library.get("nut")

    uses = tmp_path / "uses.vtl"
    uses.write_text('task t "x"\nlocate "a" as a\nrun skill bolt at a\n')
    other = tmp_path / "other.vtl"
    other.write_text('task t "x"\nlocate "a" as a\nrun skill peg at a\n')
    fine = CliRunner().invoke(app, ["check", str(other), "--skills", str(tmp_path)])
    assert fine.exit_code == 0, fine.output
    failed = CliRunner().invoke(app, ["check", str(uses), "--skills", str(tmp_path)])
    assert failed.exit_code == 1
    assert f"{uses}:3:11: error: skill `bolt` cannot be used" in failed.stderr


def test_check_and_dry_run_refuse_a_skill_whose_weights_changed(tmp_path):
    # Before: `check` and `run --dry-run` accepted weights that fail their sha256.
    import shutil

    copy = tmp_path / "lib" / "plugx"
    shutil.copytree(project_skills_dir() / "plug_insert", copy)
    manifest = yaml.safe_load((copy / "skill.yaml").read_text())
    (copy / "skill.yaml").write_text(yaml.safe_dump({**manifest, "name": "plugx"}))
    task = tmp_path / "t.vtl"
    task.write_text('task t "x"\nlocate "a" as a\nrun skill plugx at a\n')
    args = [str(task), "--skills", str(tmp_path / "lib")]
    assert CliRunner().invoke(app, ["check", *args]).exit_code == 0
    config = copy / "residual" / "config.json"
    config.write_bytes(config.read_bytes() + b" ")
    for command in (["check"], ["run", "--dry-run"]):
        result = CliRunner().invoke(app, [*command[:1], *args, *command[1:]])
        assert result.exit_code in (1, 2), result.output
        assert f"{task}:3:11: error: weights file `{config}` does not match" in result.stderr


def test_weights_digests_are_cached_by_size_and_mtime(tmp_path):
    import json
    import os

    from vitalskills.skills.hashcache import cache_path, cached_sha256

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    assert cached_sha256(weights) == sha256_of(weights)
    store = cache_path()
    assert store.is_relative_to(Path(os.environ["VITALSKILLS_HOME"]))
    # An unchanged file is not read again: a digest planted in the cache is what comes back.
    cache = json.loads(store.read_text())
    cache[str(weights.resolve())]["sha256"] = "planted"
    store.write_text(json.dumps(cache))
    assert cached_sha256(weights) == "planted"
    # A changed file (same size, new mtime) is hashed again.
    weights.write_bytes(b"WEIGHTS")
    os.utime(weights, ns=(1, 1))
    assert cached_sha256(weights) == sha256_of(weights)
    store.write_text("not json")  # a damaged cache costs only the hashing
    assert cached_sha256(weights) == sha256_of(weights)
