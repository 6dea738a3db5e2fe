"""`train bc` from real signals: no privileged key is read unless asked, and it says so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.learning.test_dataset import toy_info
from tests.learning.test_train import tiny_config
from tests.learning.toy import LABELS, ToyExpert, ToyRobot
from vitalskills.app.collect import collect
from vitalskills.app.train import train_skill
from vitalskills.cli import app
from vitalskills.learning import dataset as dataset_module
from vitalskills.learning.bc import bc_loss, load_demos, plan_signals, resolve_device, train_bc
from vitalskills.learning.bc.batches import Batcher
from vitalskills.learning.bc.config import TrainConfig
from vitalskills.learning.bc.demos import pauses
from vitalskills.learning.dataset import DatasetWriter, DemoDataset, Episode
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import LabelMasks
from vitalskills.robot import Observation

runner = CliRunner()
KEEP = [LABELS["target"], LABELS["gripper"], LABELS["held"]]
TINY_CLI = ["--image-size", "32", "--width", "32", "--layers", "1", "--chunk", "4",
            "--steps", "2", "--batch-size", "4", "--checkpoint-every", "10"]  # fmt: skip


def rewrite(
    source: Path,
    target: Path,
    edit: Callable[[Episode], dict[str, np.ndarray]],
    info: dict[str, object] | None = None,
    **extra: object,
) -> DemoDataset:
    """Copy a dataset episode by episode, with each episode's frames edited."""
    dataset = DemoDataset(source)
    changes = {"features": {}, "created": "", **(info or {})}
    info = dataset.info.model_copy(update=changes)
    with DatasetWriter(target, info) as writer:
        for episode in dataset:
            meta = episode.meta
            writer.add_episode(
                edit(episode), seed=meta.seed, success=meta.success, extra={**meta.extra, **extra}
            )
    return DemoDataset(target)


def real_frames(episode: Episode) -> dict[str, np.ndarray]:
    """What a real robot records, with keep masks as `vitalskills masks` stores them."""
    frames = {k: v for k, v in episode.frames.items() if not k.startswith("privileged.")}
    frames["mask.keep"] = np.isin(episode.frames["privileged.wrist_mask"], KEEP)
    return frames


def with_garbage(episode: Episode) -> dict[str, np.ndarray]:
    """The real frames plus privileged keys that would wreck any training reading them."""
    frames = real_frames(episode)
    rng = np.random.default_rng(episode.meta.index)
    length = len(episode)
    frames["privileged.wrist_mask"] = rng.integers(0, 255, (length, 32, 32), dtype=np.uint8)
    frames["privileged.target_pose"] = np.full((length, 4, 4), np.nan, np.float32)
    return frames


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy") / "sim"
    collect(ToyRobot(), ToyExpert(), root, toy_info(), episodes=3, seed=0, max_steps=60)
    return root


@pytest.fixture(scope="module")
def real(toy: Path) -> DemoDataset:
    return rewrite(toy, toy.parent / "real", real_frames)


@pytest.fixture(scope="module")
def garbage(toy: Path) -> DemoDataset:
    return rewrite(toy, toy.parent / "garbage", with_garbage)


class RecordingFrames(dict):
    """An episode's arrays that remember which of them were read."""

    def __init__(self, frames: dict[str, np.ndarray], read: set[str]) -> None:
        super().__init__(frames)
        self.read = read

    def __getitem__(self, key: str) -> np.ndarray:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return super().get(key, default)

    def items(self):  # type: ignore[override]
        self.read.update(self)
        return super().items()

    def values(self):  # type: ignore[override]
        self.read.update(self)
        return super().values()


@contextmanager
def recording_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Record every frame key read from any episode loaded while inside."""
    read: set[str] = set()
    load = dataset_module._load_episode

    def recording(path: Path, info: object, frames: bool = True) -> Episode:
        episode = load(path, info, frames)  # type: ignore[arg-type]
        return Episode(meta=episode.meta, frames=RecordingFrames(episode.frames, read))

    with monkeypatch.context() as patch:
        patch.setattr(dataset_module, "_load_episode", recording)
        yield read


def test_the_real_dataset_holds_no_privileged_key_and_training_reads_none(
    real: DemoDataset, garbage: DemoDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not [key for key in real.info.features if key.startswith("privileged.")]
    assert {"privileged.wrist_mask", "privileged.target_pose"} <= set(garbage.info.features)
    config = tiny_config(pose_head=True)
    train = TrainConfig(steps=3, batch_size=4, backgrounds=4)
    with recording_reads(monkeypatch) as read:
        train_skill(garbage.root, tmp_path / "skill", config, train)
    assert read, "the recorder saw no reads"
    assert not [key for key in read if key.startswith("privileged.")], sorted(read)
    assert {"observation.wrist_rgb", "observation.ee_pose", "mask.keep", "action"} <= read
    # The recorder does see privileged reads when a run is allowed them.
    with recording_reads(monkeypatch) as read:
        train_bc(garbage, tiny_config(), train.model_copy(update={"privileged": True}), tmp_path)
    assert "privileged.wrist_mask" in read


def test_privileged_garbage_does_not_change_training(
    real: DemoDataset, garbage: DemoDataset, tmp_path: Path
) -> None:
    config = tiny_config(pose_head=True)
    train = TrainConfig(steps=4, batch_size=4, backgrounds=4, seed=3, checkpoint_every=10)
    clean = train_bc(real, config, train, tmp_path / "a")
    dirty = train_bc(garbage, config, train, tmp_path / "b")
    assert clean.losses == dirty.losses and np.all(np.isfinite(clean.losses))
    for key, value in clean.model.state_dict().items():
        assert torch.equal(value, dirty.model.state_dict()[key]), key
    assert clean.signals == dirty.signals
    assert clean.signals is not None and clean.signals.privileged_keys == ()


def test_without_stored_masks_augmentation_says_how_to_make_them(toy: Path, tmp_path: Path) -> None:
    dataset = DemoDataset(toy)
    with pytest.raises(TrainingError, match=r"no stored keep masks \(`mask.keep`\)") as error:
        train_bc(dataset, tiny_config(), TrainConfig(steps=1), tmp_path)
    assert f"vitalskills masks {toy} --chroma green" in (error.value.hint or "")
    assert "--no-augment" in (error.value.hint or "") and "--privileged" in (error.value.hint or "")
    with pytest.raises(TrainingError, match=r"would read `privileged.wrist_mask`"):
        train_bc(dataset, tiny_config(), TrainConfig(steps=1), tmp_path, masks=LabelMasks(LABELS))
    # Without augmentation nothing privileged is needed: it trains.
    assert train_bc(dataset, tiny_config(), TrainConfig(steps=1, augment=False), tmp_path).losses


def test_failed_episodes_get_no_pose_loss(real: DemoDataset, tmp_path: Path) -> None:
    episodes = list(real)
    mixed = tmp_path / "mixed"
    with DatasetWriter(mixed, real.info.model_copy(update={"features": {}})) as writer:
        for episode in episodes:
            writer.add_episode(dict(episode.frames), success=episode.meta.index != 0)
    mixed_dataset = DemoDataset(mixed)
    demos = load_demos(mixed_dataset, tactile=True, masks=None, pose=True)
    length = len(episodes[0])
    assert demos.pose_valid is not None
    assert not demos.pose_valid[:length].any() and demos.pose_valid[length:].all()
    assert np.all(demos.pose[:length] == 0.0)
    signals, _ = plan_signals(mixed_dataset, tiny_config(pose_head=True), TrainConfig())
    assert signals.goals == {"last_frame": 2, "failed": 1}
    assert "none for 1 failed" in signals.describe()
    # The pose loss ignores the frames without a goal, whatever their target says.
    from vitalskills.learning.bc.model import VitalBC

    model = VitalBC(tiny_config(pose_head=True)).eval()
    batch = Batcher(demos, model.config, TrainConfig(augment=False), torch.Generator()).sample(16)
    assert batch.pose is not None and batch.pose_valid is not None
    scrambled = batch.pose.clone()
    scrambled[~batch.pose_valid] = 1e3
    with torch.no_grad():
        plain = bc_loss(model, batch, pose_weight=1.0)
        batch.pose = scrambled
        assert torch.equal(bc_loss(model, batch, pose_weight=1.0), plain)


def test_train_bc_prints_and_records_what_it_read(real: DemoDataset, tmp_path: Path) -> None:
    out = tmp_path / "skill"
    result = runner.invoke(app, ["train", "bc", "--data", str(real.root), "--out", str(out),
                                 *TINY_CLI])  # fmt: skip
    assert result.exit_code == 0, result.output
    line = (
        "inputs: wrist_rgb, tactile (policy), ee_pose (proprio, pose target only); "
        "targets: action; aux target pose: hindsight (the last frame's ee_pose from 3/3 "
        "episodes); masks: stored (`mask.keep`); privileged keys: none"
    )
    assert line in result.output
    provenance = yaml.safe_load((out / "skill.yaml").read_text())["provenance"]
    signals = provenance["training"]["signals"]
    assert signals["summary"] == line
    assert signals["privileged"] is False and signals["privileged_keys"] == []
    assert signals["aux_target_pose"] == {
        "source": "hindsight", "goals": {"last_frame": 3}, "episodes": 3,
    }  # fmt: skip
    assert provenance["training"]["privileged"] is False
    assert provenance["training"]["device"] == "cpu"


def test_privileged_flag_keeps_the_simulator_recipe(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "skill"
    args = ["train", "bc", "--data", str(toy), "--out", str(out), "--privileged", *TINY_CLI]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # The toy robot stores no target pose: the pose head is left out, and it says so.
    assert "aux target pose: off; masks: privileged (`privileged.wrist_mask`); " in result.output
    assert "privileged keys: `privileged.wrist_mask`" in result.output
    provenance = yaml.safe_load((out / "skill.yaml").read_text())["provenance"]
    assert provenance["training"]["signals"]["privileged_keys"] == ["privileged.wrist_mask"]


def test_goal_ee_pose_is_the_hindsight_goal_when_stored(real: DemoDataset, tmp_path: Path) -> None:
    goal = [0.4, 0.1, 0.0, 1.0, 0.0, 0.0, 0.0]
    chroma = {"derived": {"mask.keep": {"method": "chroma", "colour": "green"}}}
    marked = rewrite(
        real.root, tmp_path / "marked", lambda e: dict(e.frames), chroma, goal_ee_pose=goal
    )
    signals, _ = plan_signals(marked, tiny_config(pose_head=True), TrainConfig())
    assert "hindsight (goal_ee_pose from 3/3 episodes)" in signals.describe()
    assert "masks: stored (`mask.keep`, chroma green)" in signals.describe()
    assert signals.record()["masks"]["method"] == {"method": "chroma", "colour": "green"}
    demos = load_demos(marked, tactile=False, masks=None, pose=True)
    # Identity rotations: the goal seen from the gripper is the difference of positions,
    # standardized over the dataset.
    raw = np.concatenate([np.asarray(goal[:3]) - e.frames["observation.ee_pose"][:, :3]
                          for e in marked])  # fmt: skip
    expected = (raw - raw.mean(0)) / np.where(raw.std(0) < 1e-6, 1.0, raw.std(0))
    np.testing.assert_allclose(demos.pose[:, :3], expected, atol=1e-4)


def test_device_auto_cpu_and_an_unavailable_cuda(
    real: DemoDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(TrainingError, match="unknown device `tpu`"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(TrainingError, match="torch sees no CUDA device"):
        resolve_device("cuda")
    args = ["train", "bc", "--data", str(real.root), "--out", str(tmp_path / "s"), *TINY_CLI]
    result = runner.invoke(app, [*args, "--device", "cuda"])
    assert result.exit_code == 1
    assert "device `cuda` asked for, but torch sees no CUDA device" in result.output
    assert not (tmp_path / "s").exists()
    assert runner.invoke(app, [*args, "--device", "auto"]).exit_code == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_saves_a_skill_that_acts_on_the_cpu(real: DemoDataset, tmp_path: Path) -> None:
    from vitalskills.learning.policies import TrainedPolicyProvider
    from vitalskills.skills import load_manifest

    out = tmp_path / "skill"
    args = ["train", "bc", "--data", str(real.root), "--out", str(out), "--device", "cuda"]
    result = runner.invoke(app, [*args, *TINY_CLI])
    assert result.exit_code == 0, result.output
    provenance = load_manifest(out).provenance
    assert provenance["training"]["device"].startswith("cuda")
    policy = TrainedPolicyProvider().load(load_manifest(out))
    observation = {k.removeprefix("observation."): v[0] for k, v in real.episode(0).frames.items()}
    assert policy.act(observation).shape == (7,)


class RealToyRobot(ToyRobot):
    """The toy robot as real hardware: no privileged keys in what it reports."""

    def capabilities(self):  # type: ignore[no-untyped-def]
        return super().capabilities().model_copy(update={"privileged": False})

    def observe(self) -> Observation:
        observation = super().observe()
        del observation["privileged/wrist_mask"]
        return observation


class Operator:
    """A person beside the toy table: sees where the target is, moves the square to it."""

    def __init__(self, robot: ToyRobot) -> None:
        self.robot = robot

    def reset(self) -> None:
        pass

    def act(self, observation: Observation) -> np.ndarray:
        position = observation["ee_pose"][:2] * self.robot.size
        step = np.clip((self.robot.target - position) / 2.0, -1.0, 1.0)
        return np.array([step[0], step[1], 0, 0, 0, 0, 1.0], np.float32)


def test_a_dataset_recorded_through_the_bridge_trains(tmp_path: Path) -> None:
    from vitalskills.bridge import BridgeServer, connect
    from vitalskills.bridge.limits import SafetyLimits

    robot = RealToyRobot()
    # The toy moves up to 2 px (1/16 of its table) per step: loosen the speed limits.
    limits = SafetyLimits(max_step=2.0, max_speed=100.0)
    server = BridgeServer(robot, "tcp://127.0.0.1:*", limits=limits)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    data = tmp_path / "bridge"
    try:
        with connect(server.address) as client:
            info = toy_info(mask_labels={}, robot=client.capabilities().model_dump(mode="json"))
            collect(client, Operator(robot), data, info, episodes=2, seed=0, max_steps=60)
    finally:
        stop.set()
        thread.join(timeout=10)
    dataset = DemoDataset(data)
    assert len(dataset) == 2
    assert not [key for key in dataset.info.features if key.startswith("privileged")]
    out = tmp_path / "skill"
    args = ["train", "bc", "--data", str(data), "--out", str(out), "--no-augment", *TINY_CLI]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "aux target pose: hindsight" in result.output
    assert "masks: none (no augmentation); privileged keys: none" in result.output
    assert (out / "skill.yaml").is_file()


def with_pauses(episode: Episode) -> dict[str, np.ndarray]:
    """The frames with the operator stopping twice for three frames (still actions)."""
    frames = dict(episode.frames)
    length = len(episode)
    repeat = np.r_[np.arange(length), [2, 2, 2, length - 1, length - 1, length - 1]]
    order = np.sort(repeat, kind="stable")
    paused = {key: value[order] for key, value in frames.items()}
    actions = paused["action"].copy()
    still = np.r_[False, order[1:] == order[:-1]]
    actions[still, :6] = 1e-6  # a hand at rest: under 0.05 mm and 0.06 degrees
    paused["action"] = actions
    return paused


def test_the_operators_pauses_are_left_out(real: DemoDataset, tmp_path: Path) -> None:
    paused = rewrite(real.root, tmp_path / "paused", with_pauses)
    plain = load_demos(real, tactile=True, masks=None, pose=True)
    demos = load_demos(paused, tactile=True, masks=None, pose=True, pause_mm=0.05)
    assert demos.paused == 6 * len(real)
    np.testing.assert_array_equal(demos.actions, plain.actions)
    np.testing.assert_array_equal(demos.images, plain.images)
    np.testing.assert_array_equal(demos.ends - demos.starts, plain.ends - plain.starts)
    kept = load_demos(paused, tactile=True, masks=None, pose=True, pause_mm=0.0)
    assert kept.paused == 0 and len(kept.actions) == len(plain.actions) + 6 * len(real)
    # The gripper closing while the arm is still is no pause.
    actions = np.zeros((3, 7), np.float32)
    actions[:, 6] = [1.0, -1.0, -1.0]
    assert pauses(actions, 0.05).tolist() == [True, False, True]
    out = tmp_path / "skill"
    result = runner.invoke(app, ["train", "bc", "--data", str(paused.root), "--out", str(out),
                                 *TINY_CLI])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"({6 * len(real)} pauses left out)" in result.output
    training = yaml.safe_load((out / "skill.yaml").read_text())["provenance"]["training"]
    assert training["pauses_left_out"] == 6 * len(real) and training["pause_mm"] == 0.05


def test_a_dataset_of_pauses_only_is_refused(real: DemoDataset, tmp_path: Path) -> None:
    def frozen(episode: Episode) -> dict[str, np.ndarray]:
        frames = dict(episode.frames)
        frames["action"] = np.zeros_like(frames["action"])
        return frames

    still = rewrite(real.root, tmp_path / "still", frozen)
    with pytest.raises(TrainingError, match="is a pause") as caught:
        load_demos(still, tactile=True, masks=None, pause_mm=0.05)
    assert "--pause-mm 0" in caught.value.hint
