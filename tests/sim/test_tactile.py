"""The simulated skin: quiet in free space, loud in contact, nonlinear, saturating."""

import numpy as np

from vitalskills.robot.geometry import pose_matrix
from vitalskills.sim import make_env
from vitalskills.sim.tactile import SATURATION, TactileSkin, skin_field


def test_field_is_zero_without_load_and_nonlinear_with_it() -> None:
    assert np.allclose(skin_field(np.zeros(3), np.zeros(3)), 0.0)
    one = np.abs(skin_field(np.array([0.0, 1.0, 0.0]), np.zeros(3))).max()
    four = np.abs(skin_field(np.array([0.0, 4.0, 0.0]), np.zeros(3))).max()
    forty = np.abs(skin_field(np.array([0.0, 40.0, 0.0]), np.zeros(3))).max()
    assert one > 0.5
    assert abs(four / one - 4.0) > 0.2  # not a linear map
    assert forty < 10 * four  # the elastomer stiffens: saturating
    twist = skin_field(np.zeros(3), np.array([0.1, 0.0, 0.0]))
    assert np.abs(twist).max() > 0.3  # torque is felt too, as a pattern across taxels
    assert not np.allclose(twist[3], twist[4])


def test_baseline_is_the_median_of_the_first_five_readings() -> None:
    skin = TactileSkin(np.random.default_rng(0))
    raws = [skin.raw(np.zeros(3), np.zeros(3)) for _ in range(5)]
    assert np.abs(np.median(raws, axis=0)).max() > 0.5  # the raw offset is large
    again = TactileSkin(np.random.default_rng(0))
    readings = [again.read(np.zeros(3), np.zeros(3)) for _ in range(8)]
    assert np.abs(readings[-1]).max() < 0.1
    loud = again.raw(np.array([0, 1e6, 0.0]), np.array([1e3, 1e3, 1e3]))
    assert np.abs(loud).max() <= SATURATION


def test_tactile_is_near_zero_in_free_space_and_responds_to_contact() -> None:
    env = make_env("key_in_lock", render_wrist=False)
    obs, _ = env.reset(seed=4)
    free = [obs["tactile"]]
    for i in range(20):  # wave the key around in the air
        step = 0.008 * np.array([np.sin(i), np.cos(i), 0.3 * np.sin(2 * i)])
        obs, *_ = env.step(np.concatenate([step, [0.05 * np.sin(i), 0, 0, 1.0]]))
        free.append(obs["tactile"])
    assert np.abs(free).max() < 0.3
    # Put the key on the lock's face 2 mm beside the keyway and press down.
    env.place_held(pose_matrix(np.array([0.0, 0.0035, env.task.entry_z + 0.001]), np.eye(3)))
    pressed = []
    for _ in range(6):
        obs, *_ = env.step(np.array([0, 0, 0.004, 0, 0, 0, 1.0]))
        pressed.append(np.linalg.norm(obs["tactile"]))
    assert max(pressed) > 2.0
    assert max(pressed) > 10 * np.linalg.norm(free, axis=1).max()
    env.close()
