"""Progress bars for long CLI work: on stderr, only on a terminal, optionally after a delay."""
from __future__ import annotations

import sys
import time

import click


class TerminalProgress:
    """A ``progress(done, total)`` callback drawing a click progress bar with ETA.

    Nothing is drawn when stderr is not a terminal (logs and pipes stay clean), nor before
    ``delay_s`` has passed (short runs stay quiet).
    """

    def __init__(self, label: str, delay_s: float = 0.0, show_pos: bool = False):
        self.label = label
        self.delay_s = delay_s
        self.show_pos = show_pos
        self.start = time.monotonic()
        self.bar = None
        self.done = 0
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < self.delay_s:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_eta=True,
                                         show_pos=self.show_pos)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        """Finish the bar's line if one was shown."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
