"""Progress bars for the long commands (`run --once`, `import`, `export`, `feeds import`,
`db prune`), on stderr and only when stderr is a terminal: a pipe, a file or the journal gets
nothing, and stdout never does. tqdm is imported here only.

The stages report through a ``monitor.models.Progress`` callable and never know of the bar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from monitor.models import Progress, no_progress


def wanted(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or no file behind it
        return False


@contextlib.contextmanager
def progress_bar(what: str, unit: str, *, stream: TextIO | None = None) -> Iterator[Progress]:
    """``with progress_bar("polling", "feeds") as progress:`` a Progress that draws a bar on
    ``stream`` (stderr) while the block runs. Log lines written meanwhile go above the bar
    instead of through it."""
    stream = stream if stream is not None else sys.stderr
    if not wanted(stream):
        yield no_progress
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar: Any = tqdm(total=None, desc=what, unit=unit, file=stream, dynamic_ncols=True,
                    leave=True, mininterval=0.2)

    def update(done: int, total: int | None, note: str = "") -> None:
        if total is not None and bar.total != total:
            bar.total = total
        if note:
            bar.set_postfix_str(note, refresh=done == bar.n)
        bar.update(done - bar.n)

    try:
        with logging_redirect_tqdm(tqdm_class=tqdm):
            yield update
    finally:
        bar.close()
