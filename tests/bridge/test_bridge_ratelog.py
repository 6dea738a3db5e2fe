"""RateLimitedLog: the first refusal of each kind in full, the rest as one summary line."""

from __future__ import annotations

import logging

import pytest

from vitalskills.bridge.ratelog import MAX_TEXT, RateLimitedLog

LOGGER = "vitalskills.test.ratelog"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> RateLimitedLog:
    caplog.set_level(logging.INFO, logger=LOGGER)
    return RateLimitedLog(logging.getLogger(LOGGER), interval_s=10.0, clock=clock)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_first_of_each_kind_in_full_then_one_summary(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(40_001):
        log.note("malformed", "refused a malformed message from peer 1")
    for _ in range(3_001):
        log.note("truncated", "refused a truncated message from peer 2")
    clock.now += 9.9
    log.flush()  # the interval is not over yet
    assert lines(caplog) == [
        "refused a malformed message from peer 1",
        "refused a truncated message from peer 2",
    ]
    clock.now += 0.1
    log.flush()
    assert lines(caplog)[2:] == [
        "refused 43000 more messages in the last 10 s: malformed 40000, truncated 3000"
    ]
    assert all(record.levelno == logging.INFO for record in caplog.records)
    assert log.pending == 0


def test_each_interval_shows_each_kind_again(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    log.note("malformed", "first")
    log.note("malformed", "second")
    clock.now += 10
    log.flush()
    log.note("malformed", "third")
    log.note("truncated", "a new kind shows at once")
    assert lines(caplog) == [
        "first",
        "refused 1 more messages in the last 10 s: malformed 1",
        "third",
        "a new kind shows at once",
    ]


def test_a_quiet_interval_logs_nothing(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    log.note("malformed", "only one")
    clock.now += 60
    log.flush()
    log.close()
    assert lines(caplog) == ["only one"]


def test_a_late_flush_says_how_long_it_covers(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        log.note("malformed", "x")
    clock.now += 61.4
    log.flush()
    assert lines(caplog)[-1] == "refused 2 more messages in the last 61 s: malformed 2"


def test_close_logs_what_is_pending(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(5):
        log.note("truncated", "x")
    clock.now += 2
    log.close()
    assert lines(caplog)[-1] == "refused 4 more messages in the last 2 s: truncated 4"


def test_a_flood_of_43000_refusals_gives_a_few_lines(
    log: RateLimitedLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(43_000):  # 25 s of refusals, flushing after each as a serving loop does
        clock.now += 25 / 43_000
        log.note("truncated" if i % 14 == 0 else "malformed", "refused message %d", i)
        log.flush()
    log.close()
    # per 10 s interval: one full line per kind and one summary
    assert len(caplog.records) <= 9
    counted = sum(
        int(line.split()[1])
        for line in lines(caplog)
        if line.startswith("refused ") and "more" in line
    )
    shown = sum(1 for line in lines(caplog) if line.startswith("refused message"))
    assert counted + shown == 43_000


def test_args_are_formatted_only_for_lines_that_are_logged(
    log: RateLimitedLog, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    class Peer:
        def __str__(self) -> str:
            calls.append(1)
            return "tcp://10.0.0.9"

    for _ in range(100):
        log.note("malformed", "refused a message from %s", Peer())
    assert lines(caplog) == ["refused a message from tcp://10.0.0.9"]
    assert len(calls) == 1


def test_a_peer_cannot_forge_or_stretch_lines(
    log: RateLimitedLog, caplog: pytest.LogCaptureFixture
) -> None:
    log.note("forged", "bad %s", "x\nCRITICAL all keys stolen\r")
    log.note("long", "y" * (MAX_TEXT + 1000))
    forged, long = lines(caplog)
    assert forged == "bad x\\nCRITICAL all keys stolen\\r"
    assert long == "y" * MAX_TEXT + "... (1000 more characters)"


def test_the_summary_can_name_what_it_counts(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    log = RateLimitedLog(logging.getLogger(LOGGER), clock=clock, what="CurveZMQ handshakes")
    log.note("unknown-key", "x")
    log.note("unknown-key", "x")
    log.close()
    assert lines(caplog)[-1] == "refused 1 more CurveZMQ handshakes in the last 0 s: unknown-key 1"


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        RateLimitedLog(logging.getLogger(LOGGER), interval_s=0)
