"""Preloaded by the extraction pool's forkserver (pipeline.workers), and only there: the
forkserver dies with the daemon, even after ``kill -9``, and the workers with it (their own
parent-death signal). It ignores SIGTERM, which systemd sends to the whole unit while the
daemon is still finishing its work; the daemon's exit ends it (its pipe closes)."""

from __future__ import annotations

import signal
import sys

# Imported by the forkserver, whose command line is `python -c "from multiprocessing.forkserver
# import main; ..."`; never acts in any other process importing it by mistake.
if sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules:
    from monitor.pipeline.workers import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
