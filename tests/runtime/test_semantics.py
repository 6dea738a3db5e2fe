"""Every row of the semantics table in docs/language.md: success, failure, timeout, halt.

Trees are compiled from hand-built IR and run on the dry-run robot with a manual clock
(10 Hz), then each node's status is asserted.
"""

from __future__ import annotations

from vitalskills.lang import ir

OK = ir.Wait(duration=ir.Quantity(value=0.1, unit="ms", dimension="time"))  # "wait 100 ms"
BOOM = ir.Fail(message="boom")
LONG = ir.Wait(duration=ir.Quantity(value=10.0, unit="s", dimension="time"))  # "wait 10 s"


def far_move(rt):
    return rt.ir.Move(delta=rt.vec([0, 300, 0]))  # 30 ticks at 1 cm per step


def halted_by_timeout(rt, *body):
    """Wrap `body` in `timeout 1 s`, the way a construct gets halted from outside."""
    return rt.ir.Timeout(duration=rt.q(1, "s"), body=list(body))


# ---------------------------------------------------------------- sequence


def test_sequence_runs_every_step_in_order(rt):
    out = rt.run(rt.task(OK, rt.ir.Wait(duration=rt.q(300, "ms"))))
    assert out.result.status == "success"
    assert out.status("wait 100 ms") == "success"
    assert out.status("wait 300 ms") == "success"
    started = [e.label for e in out.events if e.event == "node_started"]
    assert started == ["task t", "wait 100 ms", "wait 300 ms"]


def test_sequence_fails_at_first_failure_and_skips_the_rest(rt):
    out = rt.run(rt.task(OK, BOOM, LONG))
    assert out.result.status == "failure"
    assert out.result.reason == '`fail "boom"` failed: boom'
    assert out.status("wait 10 s") == "idle"


def test_sequence_halt_halts_the_running_step(rt):
    out = rt.run(rt.task(halted_by_timeout(rt, OK, LONG, BOOM)))
    assert out.status("timeout 1 s") == "failure"
    assert out.status("body") == "halted"
    assert out.status("wait 100 ms") == "success"
    assert out.status("wait 10 s") == "halted"
    assert out.status('fail "boom"') == "idle"


# ---------------------------------------------------------------- try / else


def test_try_body_success_skips_else(rt):
    out = rt.run(rt.task(rt.ir.Try(body=[OK], orelse=[BOOM])))
    assert out.result.status == "success"
    assert out.status("try") == "success"
    assert out.status('fail "boom"') == "idle"


def test_try_body_failure_runs_else_whose_outcome_counts(rt):
    out = rt.run(rt.task(rt.ir.Try(body=[BOOM], orelse=[OK])))
    assert out.status("try") == "success"
    assert out.node("try").reason == 'recovered in the else branch from: `fail "boom"` failed: boom'
    assert out.status("wait 100 ms") == "success"

    out = rt.run(rt.task(rt.ir.Try(body=[BOOM], orelse=[rt.ir.Fail(message="else failed")])))
    assert out.status("try") == "failure"
    assert out.result.reason == '`fail "else failed"` failed: else failed'


def test_try_without_else_catches_the_failure(rt):
    out = rt.run(rt.task(rt.ir.Try(body=[BOOM]), OK))
    assert out.result.status == "success"
    assert out.status("try") == "success"
    assert out.node("try").values["caught"] == '`fail "boom"` failed: boom'


def test_try_catches_a_timeout_in_its_body(rt):
    body = rt.ir.Timeout(duration=rt.q(500, "ms"), body=[LONG])
    out = rt.run(rt.task(rt.ir.Try(body=[body], orelse=[OK])))
    assert out.status("timeout 500 ms") == "failure"
    assert out.status("wait 10 s") == "halted"
    assert out.status("try") == "success"


def test_try_halt_halts_the_running_branch_and_skips_else(rt):
    out = rt.run(rt.task(halted_by_timeout(rt, rt.ir.Try(body=[LONG], orelse=[OK]))))
    assert out.status("try") == "halted"
    assert out.status("wait 10 s") == "halted"
    assert out.status("wait 100 ms") == "idle"

    out = rt.run(rt.task(halted_by_timeout(rt, rt.ir.Try(body=[BOOM], orelse=[LONG]))))
    assert out.status("try") == "halted"
    assert out.status("wait 10 s") == "halted"


# ---------------------------------------------------------------- retry


def test_retry_succeeds_on_first_success(rt):
    out = rt.run(rt.task(rt.ir.Retry(times=3, body=[OK])))
    assert out.status("retry 3") == "success"
    assert out.node("retry 3").values["attempts"] == 1


def test_retry_reruns_the_whole_body_until_attempts_run_out(rt):
    out = rt.run(rt.task(rt.ir.Retry(times=3, body=[OK, BOOM])))
    assert out.status("retry 3") == "failure"
    assert out.node("retry 3").values["attempts"] == 3
    starts = [e.label for e in out.events if e.event == "node_started"]
    assert starts.count("wait 100 ms") == 3
    assert starts.count('fail "boom"') == 3
    progress = [e.reason for e in out.events if e.event == "node_progress"]
    assert progress == [
        'attempt 1 of 3 failed (`fail "boom"` failed: boom); retrying',
        'attempt 2 of 3 failed (`fail "boom"` failed: boom); retrying',
    ]
    assert out.result.reason == 'all 3 attempts failed; last: `fail "boom"` failed: boom'


def test_retry_succeeds_when_a_later_attempt_succeeds(rt):
    # Not found on the first attempt, found on the second: the grounder answers in turn.
    class Flaky:
        name = "flaky"

        def __init__(self):
            self.calls = 0

        def locate(self, frame, query):
            from vitalskills.app.dryrun import DryRunGrounder

            self.calls += 1
            missing = [query] if self.calls == 1 else []
            return DryRunGrounder(missing=missing).locate(frame, query)

    body = [
        rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup"),
        rt.ir.Reach(target=rt.ref("cup")),
    ]
    out = rt.run(rt.task(rt.ir.Retry(times=3, body=body)), grounder=Flaky())
    assert out.status("retry 3") == "success"
    assert out.node("retry 3").values["attempts"] == 2
    assert out.node("retry 3").reason == "succeeded on attempt 2 of 3"


def test_retry_counts_a_timeout_as_a_failed_attempt(rt):
    inner = rt.ir.Timeout(duration=rt.q(200, "ms"), body=[LONG])
    out = rt.run(rt.task(rt.ir.Retry(times=2, body=[inner])))
    assert out.status("retry 2") == "failure"
    assert out.node("retry 2").values["attempts"] == 2


def test_retry_halt_stops_attempting(rt):
    out = rt.run(rt.task(halted_by_timeout(rt, rt.ir.Retry(times=5, body=[LONG]))))
    assert out.status("retry 5") == "halted"
    assert out.node("retry 5").values["attempts"] == 1


# ---------------------------------------------------------------- timeout


def test_timeout_passes_success_and_failure_through(rt):
    out = rt.run(rt.task(rt.ir.Timeout(duration=rt.q(1, "s"), body=[OK])))
    assert out.status("timeout 1 s") == "success"
    out = rt.run(rt.task(rt.ir.Timeout(duration=rt.q(1, "s"), body=[BOOM])))
    assert out.status("timeout 1 s") == "failure"
    assert out.result.reason == '`fail "boom"` failed: boom'


def test_timeout_halts_its_body_and_fails_when_it_expires(rt):
    out = rt.run(rt.task(rt.ir.Timeout(duration=rt.q(1, "s"), body=[LONG]), OK))
    assert out.status("timeout 1 s") == "failure"
    assert out.node("timeout 1 s").reason == "timed out after 1 s"
    assert out.node("wait 10 s").reason == "halted: the 1 s timeout expired"
    assert out.status("wait 10 s") == "halted"
    assert out.status("wait 100 ms") == "idle"
    # 10 Hz on a manual clock: the body got exactly 1 s worth of ticks.
    assert out.node("timeout 1 s").elapsed(0) == 1.0


def test_timeout_halting_a_motion_stops_the_robot(rt):
    out = rt.run(rt.task(rt.ir.Try(body=[halted_by_timeout(rt, far_move(rt))], orelse=[OK])))
    assert out.status("move [0, 300, 0] mm in base") == "halted"
    assert out.robot.actions == 10
    # The halted move stopped the robot before anything else started.
    assert ("node_started", "wait 100 ms", False) in out.moving


def test_timeout_halt_from_an_outer_timeout(rt):
    inner = rt.ir.Timeout(duration=rt.q(5, "s"), body=[LONG])
    out = rt.run(rt.task(halted_by_timeout(rt, inner)))
    assert out.status("timeout 5 s") == "halted"
    assert out.status("timeout 1 s") == "failure"


# ---------------------------------------------------------------- if found


def locate_cup(rt):
    return rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup")


def test_if_found_runs_then_when_found(rt):
    out = rt.run(rt.task(locate_cup(rt), rt.ir.IfFound(name="cup", then=[OK], orelse=[BOOM])))
    assert out.status("if found cup") == "success"
    assert out.status("wait 100 ms") == "success"
    assert out.status('fail "boom"') == "idle"


def test_if_found_runs_else_when_not_found(rt):
    from vitalskills.app.dryrun import DryRunGrounder

    t = rt.task(locate_cup(rt), rt.ir.IfFound(name="cup", then=[OK], orelse=[BOOM]))
    out = rt.run(t, grounder=DryRunGrounder(missing=["cup"]))
    assert out.status('locate "cup" as cup') == "success"
    assert out.status("if found cup") == "failure"
    assert out.status("wait 100 ms") == "idle"
    assert out.result.reason == '`fail "boom"` failed: boom'


def test_if_found_min_score_turns_a_weak_result_into_not_found(rt):
    from vitalskills.app.dryrun import DryRunGrounder

    class Weak(DryRunGrounder):
        def locate(self, frame, query):
            result = super().locate(frame, query)
            result.score = 0.2
            return result

    loc = rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup", min_score=0.3)
    out = rt.run(rt.task(loc, rt.ir.IfFound(name="cup", then=[BOOM])), grounder=Weak())
    assert out.status("if found cup") == "success"
    assert out.node("if found cup").reason == "`cup` was not found and there is no else branch"
    assert "below min_score 0.3" in out.node('locate "cup" as cup min_score 0.3').reason


def test_if_found_branch_failure_fails_it_and_halt_halts_the_branch(rt):
    out = rt.run(rt.task(locate_cup(rt), rt.ir.IfFound(name="cup", then=[BOOM])))
    assert out.status("if found cup") == "failure"
    out = rt.run(
        rt.task(locate_cup(rt), halted_by_timeout(rt, rt.ir.IfFound(name="cup", then=[LONG])))
    )
    assert out.status("if found cup") == "halted"
    assert out.status("wait 10 s") == "halted"


# ---------------------------------------------------------------- repeat


def test_repeat_runs_the_body_n_times(rt):
    body = [rt.ir.Gripper(action="close"), rt.ir.Gripper(action="open")]
    out = rt.run(rt.task(rt.ir.Repeat(times=3, body=body)))
    assert out.status("repeat 3") == "success"
    assert out.node("repeat 3").values["iterations"] == 3
    starts = [e.label for e in out.events if e.event == "node_started"]
    assert starts.count("gripper close") == 3
    assert out.robot.gripper == 0.0


def test_repeat_fails_at_the_first_failed_iteration(rt):
    loc = rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup")

    class SecondTimeMissing:
        name = "second"

        def __init__(self):
            self.calls = 0

        def locate(self, frame, query):
            from vitalskills.app.dryrun import DryRunGrounder

            self.calls += 1
            return DryRunGrounder(missing=[query] if self.calls == 2 else []).locate(frame, query)

    body = [loc, rt.ir.Reach(target=rt.ref("cup"))]
    out = rt.run(rt.task(rt.ir.Repeat(times=3, body=body)), grounder=SecondTimeMissing())
    assert out.status("repeat 3") == "failure"
    assert out.node("repeat 3").values["iterations"] == 1
    assert (
        out.result.reason
        == "iteration 2 of 3 failed: `reach cup` failed: cannot reach: `cup` was not found"
    )


def test_repeat_halt_halts_the_running_iteration(rt):
    out = rt.run(rt.task(halted_by_timeout(rt, rt.ir.Repeat(times=3, body=[LONG]))))
    assert out.status("repeat 3") == "halted"
    assert out.status("wait 10 s") == "halted"
