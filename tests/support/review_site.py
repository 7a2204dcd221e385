"""`monitor serve` in a subprocess on 127.0.0.1, for the review site's tests: started on a free
port, waited for, stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from support.helpers import REPO
from support.servers import free_port


@contextlib.contextmanager
def serving(config: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """The site's base URL (http://127.0.0.1:PORT) while `monitor serve` runs."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "serve", "--port", str(port)],
        env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=2).read()
                break
            except urllib.error.HTTPError:  # an answer all the same (401 with a password)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"monitor serve did not start: {server.communicate()}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
