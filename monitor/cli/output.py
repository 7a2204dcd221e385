"""What the command line prints reaches a terminal: every write to stdout and stderr passes
through safetext.escape, so that a feed's title can neither drive the terminal (clear it, set
its clipboard with OSC 52, hide a link with OSC 8) nor reorder what it shows (bidi overrides).

One wrapper around both streams, installed by main() for one command line, rather than a call
at each print: a new command is covered without anyone remembering to. The escape is JSON's
(``\\u202e``), so `--json` lines still parse to the very same strings.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast

from monitor.safetext import escape


class SafeStream(io.TextIOBase):
    """``stream`` with every unsafe character escaped on the way in."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(escape(text))
        return len(text)

    def flush(self) -> None:
        # Also called when the wrapper is collected, maybe after the stream was closed.
        if not getattr(self.stream, "closed", False):
            self.stream.flush()

    def fileno(self) -> int:  # journald detection and faulthandler need the real descriptor
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def safe_output() -> Iterator[None]:
    """sys.stdout and sys.stderr escaped meanwhile, as they were afterwards."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, SafeStream(out)), cast(TextIO, SafeStream(err))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
