"""Static checks: every diagnostic class at its exact location, on both surfaces."""

from __future__ import annotations

import pytest

from vitalskills.lang import CheckFailed, check_task, compile_task, parse_file
from vitalskills.robot import CameraSpec, RobotCapabilities

HEAD = 'task t\nparam target = "power strip"\nparam n = 3\nlocate "strip" as strip\n'


@pytest.mark.parametrize(
    ("line", "code", "column"),
    [
        ("run skill plug_insrt", "E200", 11),
        ("run skill plug_insert@>=1.0", "E201", 22),
        ("run skill plug_insert@>>1", "E202", 22),
        ("run skill plug_insert@~=1", "E202", 22),
        ("reach nowhere", "E210", 7),
        ("run skill plug_insert at strp", "E210", 26),
        ("locate nothing", "E210", 8),
        ('if found later { gripper open }\nlocate "x" as later', "E211", 10),
        ("reach target", "E212", 7),
        ("locate n", "E212", 8),
        ("locate strip", "E212", 8),
        ("wait 30 mm", "E220", 6),
        ("timeout 2 deg { gripper open }", "E220", 9),
        ("move [0, 0, 1] s", "E220", 6),
        ("reach strip offset [0, 0, 1] ms", "E220", 20),
        ("run skill plug_insert timeout 3 m", "E220", 31),
        ("run skill plug_insert retries -1", "E221", 31),
        ("run skill plug_insert timeout 0 s", "E221", 31),
        ("timeout -1 s { gripper open }", "E221", 9),
        ('locate "x" min_score 1.5', "E221", 22),
        ('locate "x" min_score -0.1', "E221", 22),
        ("retry 0 { gripper open }", "E221", 7),
        ("repeat -2 { gripper open }", "E221", 8),
        ("wait -1 s", "E221", 6),
    ],
)
def test_each_check_at_its_location(write, errors_of, line, code, column):
    assert errors_of(write(HEAD + line)) == [(code, 5, column)]


def test_valid_task_has_no_errors(write, errors_of):
    text = HEAD + "run skill plug_insert@^0.1 at strip retries 1 timeout 20 s\nwait 0 s"
    assert errors_of(write(text)) == []


def test_a_point_param_is_a_fixed_target(write, errors_of):
    text = "param home = [0.4, 0, 0.3] m\nparam t = 3 s\nreach home offset [0, 0, 1] cm\n"
    text += "run skill plug_insert at home\nreach t\n"
    assert errors_of(write(text)) == [("E212", 5, 7)]


def test_run_skill_without_any_locate_has_no_target(write, errors_of):
    assert errors_of(write("gripper open\nrun skill plug_insert")) == [("E213", 2, 11)]


def test_duplicate_param_and_name_clash(write, errors_of):
    text = 'param a = 1\nparam a = 2\nparam s = "x"\nlocate "y" as s\n'
    assert errors_of(write(text)) == [("E115", 2, 7), ("E212", 3, 7)]


def test_all_errors_are_reported_in_source_order_each_once(write, errors_of):
    text = "wait 1 mm\nreach ghost\nrun skill nope\nreach ghost\n"
    assert errors_of(write(text)) == [
        ("E220", 1, 6),
        ("E210", 2, 7),
        ("E213", 3, 11),
        ("E200", 3, 11),
        ("E210", 4, 7),
    ]


def test_unknown_skill_hint_names_the_closest(write, library):
    with pytest.raises(CheckFailed) as failed:
        compile_task(write('locate "x"\nrun skill usb_inset'), library=library)
    assert failed.value.errors[0].hint == "did you mean `usb_insert`?"


def test_yaml_checks_point_at_the_yaml_node(write, errors_of):
    text = (
        "steps:\n"
        "  - locate: strip\n"
        "    as: strip\n"
        "  - run: plug_insrt\n"
        "    at: strp\n"
        "    retries: -1\n"
        "  - wait: 3 mm\n"
    )
    assert errors_of(write(text, "t.yaml")) == [
        ("E200", 4, 10),
        ("E210", 5, 9),
        ("E221", 6, 14),
        ("E220", 7, 11),
    ]


ROBOT = RobotCapabilities(
    name="camera_only",
    sensors=["wrist_rgb", "ee_pose", "gripper"],
    cameras=[CameraSpec(name="wrist_rgb", width=128, height=128)],
)


def test_skill_needing_a_sensor_the_robot_lacks(write, errors_of):
    path = write('locate "x"\nrun skill plug_insert')
    assert errors_of(path, robot=ROBOT) == [("E230", 2, 11)]
    full = ROBOT.model_copy(update={"sensors": [*ROBOT.sensors, "tactile"], "tactile_dim": 15})
    assert errors_of(path, robot=full) == []
    wrong = full.model_copy(update={"tactile_dim": 8})
    assert errors_of(path, robot=wrong) == [("E230", 2, 11)]


def test_check_task_without_library_skips_skill_lookups(write):
    task = parse_file(write('locate "x"\nrun skill anything'))
    assert check_task(task, library=None) == []
