"""A warm grounder on a live source: `vitalskills locate` once, as a REPL, or with `--watch`.

The grounder loads once per process (`make_grounder` keeps it) and every query runs on
the session's current frame, so several queries share one image encoding (the OWL
detectors and the transformers maskers cache per image). A new frame comes only when
asked for: `:frame` in the REPL, every step of `--watch`. With `track:` a query found
once is followed to later frames by video propagation; `Answer.tracked` says which
path answered.

Frames come from image + depth files (read again for each new frame, so a camera tool
may rewrite them), from a simulated task held open (the scene stays still: the
simulator is not stepped between frames), or from a robot's scene camera over the
bridge (one `scene` request per frame; nothing moves the arm).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vitalskills.app.locate import FrameSource, Located, true_point
from vitalskills.errors import UsageError
from vitalskills.perception.grounder import Grounder, LocateResult
from vitalskills.robot import SceneFrame


@dataclass
class Answer:
    """One query's result on one frame, with how it was answered and how long it took."""

    located: Located
    frame_index: int
    latency_s: float
    grab_s: float = 0.0

    @property
    def result(self) -> LocateResult:
        return self.located.result

    @property
    def tracked(self) -> bool:
        """True when the tracker followed the object instead of a fresh text query."""
        return "track" in self.result.timings and "detector" not in self.result.timings

    def to_json(self) -> dict[str, Any]:
        """Return the result's JSON with the frame number, the path and the latencies."""
        return {
            **self.located.to_json(),
            "frame_index": self.frame_index,
            "answered_by": "tracker" if self.tracked else "query",
            "latency_s": self.latency_s,
            "grab_s": self.grab_s,
        }


class LocateSession:
    """One loaded grounder and the current frame of one source.

    The first frame is taken before the grounder loads, so a bad file or a robot without
    a scene camera is reported before a long model load.

    Args:
        source: where frames come from; `close` closes it (so does a failed start).
        build: loads the grounder, once (`make_grounder`); every query uses it.
    """

    def __init__(self, source: FrameSource, build: Callable[[], Grounder]) -> None:
        self.source = source
        self.frame_index = 0
        self._grab_s: float | None = None  # the current frame's grab time until it is asked
        try:
            self.frame = self.grab()
            start = time.perf_counter()
            self.grounder = build()
        except BaseException:
            source.close()
            raise
        self.load_s = time.perf_counter() - start

    @property
    def fresh(self) -> bool:
        """True while the current frame has not been asked about yet."""
        return self._grab_s is not None

    def grab(self) -> SceneFrame:
        """Take a new frame from the source; later queries run on it."""
        start = time.perf_counter()
        self.frame = self.source.grab()
        self._grab_s = time.perf_counter() - start
        self.frame_index += 1
        return self.frame

    def ask(self, query: str) -> Answer:
        """Locate `query` on the current frame.

        Raises:
            UsageError: the query is empty.
        """
        query = query.strip()
        if not query:
            raise UsageError("the query is empty", hint="name what to find, e.g. power strip")
        grab_s, self._grab_s = self._grab_s or 0.0, None
        start = time.perf_counter()
        result = self.grounder.locate(self.frame, query)
        latency = time.perf_counter() - start
        if self.source.point_frame != "base":
            result.frame = self.source.point_frame
        located = Located(result, self.frame, true_point(self.frame, query))
        return Answer(located, self.frame_index, latency, grab_s)

    def close(self) -> None:
        """Close the source."""
        self.source.close()

    def __enter__(self) -> LocateSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def watch(
    session: LocateSession,
    query: str,
    *,
    frames: int | None = None,
    interval_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Answer]:
    """Locate `query` on a new frame every `interval_s` seconds, `frames` times (None: forever).

    A frame starts at most every `interval_s`; a locate slower than that starts the next
    frame at once. Stop it early by closing the generator (or Ctrl-C in the caller).
    """
    if frames is not None and frames < 1:
        raise UsageError(f"--frames must be at least 1, got {frames}")
    if not query.strip():
        raise UsageError("--watch needs --query", hint="e.g. --watch --query 'power strip'")
    done = 0
    while frames is None or done < frames:
        start = time.monotonic()
        if not session.fresh:  # the session's first frame is still new: use it
            session.grab()
        yield session.ask(query)
        done += 1
        if frames is None or done < frames:
            sleep(max(0.0, start + interval_s - time.monotonic()))


#: REPL commands and what each does (`:help` prints them).
COMMANDS = {
    ":frame": "take a new frame from the source; later queries run on it",
    ":help": "list these commands",
    ":quit": "leave (also :q or the end of input)",
}
_ALIASES = {":q": ":quit", ":exit": ":quit"}


@dataclass
class NewFrame:
    """The REPL took a new frame."""

    index: int
    frame: SceneFrame


@dataclass
class Refused:
    """An input line the REPL could not act on; the session goes on."""

    line: str
    error: UsageError


@dataclass
class Help:
    """The REPL's commands, asked for with `:help`."""

    commands: dict[str, str]


ReplEvent = Answer | NewFrame | Refused | Help


def repl(session: LocateSession, lines: Iterable[str]) -> Iterator[ReplEvent]:
    """Answer each input line: a query on the current frame, or a `:command`.

    Blank lines are skipped. An unknown command is `Refused` and the session goes on;
    `:quit` or the end of `lines` ends it. Errors of the grounder or the source (a
    missing file, a lost robot) end it by raising.
    """
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not line.startswith(":"):
            yield session.ask(line)
            continue
        command = _ALIASES.get(line.lower(), line.lower())
        if command == ":quit":
            return
        if command == ":frame":
            frame = session.grab()
            yield NewFrame(session.frame_index, frame)
        elif command == ":help":
            yield Help(dict(COMMANDS))
        else:
            error = UsageError(
                f"unknown command `{line}`",
                hint=f"commands: {', '.join(COMMANDS)}; anything else is a query",
            )
            yield Refused(line, error)
