"""Progress of a local review on a terminal: one line on standard error, rewritten in place.

Only for a terminal: when standard error is a pipe or a file, nothing extra is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from review.progress import Progress

_CLEAR = "\r\x1b[K"


class TerminalProgress:
    """Shows the stage, agent turns and tokens so far, and clears the line when done."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.turns = 0
        self.tokens = 0

    def __call__(self, event: Progress) -> None:
        self.turns = max(self.turns, event.turns)
        self.tokens = max(self.tokens, event.tokens)
        parts = [f"prwarden: {event.stage.value}"]
        if event.detail:
            parts.append(event.detail)
        if self.turns:
            parts.append(f"agent turn {self.turns}")
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens so far")
        parts.append(f"{self.clock() - self.started:.0f} s")
        self.stream.write(_CLEAR + " | ".join(parts)[:200])
        self.stream.flush()

    def close(self) -> None:
        self.stream.write(_CLEAR)
        self.stream.flush()


def for_stream(stream: TextIO) -> TerminalProgress | None:
    """A progress line when ``stream`` is a terminal, else nothing."""
    return TerminalProgress(stream) if stream.isatty() else None
