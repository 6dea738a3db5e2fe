"""Log refused traffic without letting whoever sends it fill the disk.

Anyone who can reach the bridge's port can send it junk as fast as the network
allows. Logging every refusal would turn that into a disk-filling attack, while
logging none would hide both attacks and honest bugs. So the first refusal of each
kind is logged in full, the rest are only counted, and one summary line per
interval says how many were swallowed. Each interval starts afresh, so a new kind
of problem (or an old one coming back) always shows at least once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

MAX_TEXT = 500
"""Characters of a logged text kept: a refused message may quote peer-controlled bytes."""


class RateLimitedLog:
    """Log the first refusal of each kind per interval in full; count and summarise the rest.

    Call `note` for every refusal (cheap: a dict look-up and an increment once the kind
    has been logged), and `flush` from the serving loop (cheap: one clock read until the
    interval is over). `close` logs whatever is still counted.

    Args:
        logger: where the lines go (at INFO).
        interval_s: at most one summary per this many seconds.
        clock: seconds from an arbitrary start; tests pass a fake one.
        what: the plural noun in the summary line.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        what: str = "messages",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.logger = logger
        self.interval_s = interval_s
        self.what = what
        self._clock = clock
        self._since = clock()
        # kind -> refusals counted but not logged since `_since`; a kind present here
        # has had its first occurrence logged in this interval.
        self._counts: dict[str, int] = {}

    def note(self, kind: str, text: str, *args: object) -> None:
        """Record one refusal of `kind`; log `text % args` only if `kind` is new this interval.

        Pass peer-controlled values as `args`, not pre-formatted into `text`, so that
        the formatting is skipped for the refusals that are only counted.
        """
        count = self._counts.get(kind)
        if count is not None:
            self._counts[kind] = count + 1
            return
        self._counts[kind] = 0
        self.logger.info("%s", _bounded(text % args if args else text))

    def flush(self) -> None:
        """Log the summary and start a new interval, if `interval_s` has passed."""
        now = self._clock()
        if now - self._since >= self.interval_s:
            self._summarise(now)

    def close(self) -> None:
        """Log the summary of whatever is still counted, however short the interval."""
        self._summarise(self._clock())

    @property
    def pending(self) -> int:
        """Refusals counted but not yet summarised."""
        return sum(self._counts.values())

    def _summarise(self, now: float) -> None:
        counted = sorted(
            ((kind, n) for kind, n in self._counts.items() if n),
            key=lambda item: (-item[1], item[0]),
        )
        if counted:
            total = sum(n for _, n in counted)
            kinds = ", ".join(f"{kind} {n}" for kind, n in counted)
            self.logger.info(
                "refused %d more %s in the last %.0f s: %s",
                total,
                self.what,
                now - self._since,
                kinds,
            )
        self._counts.clear()
        self._since = now


def _bounded(text: str) -> str:
    """One line of at most `MAX_TEXT` characters: a peer must not forge or flood log lines."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > MAX_TEXT:
        return f"{text[:MAX_TEXT]}... ({len(text) - MAX_TEXT} more characters)"
    return text
