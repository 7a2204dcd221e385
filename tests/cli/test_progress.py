"""Progress bars of the long commands: drawn on stderr when it is a terminal (a pseudo-terminal
here, the monitor in a child process), never on stdout, and not at all without a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from support.feedserver import FeedServer
from support.helpers import REPO, monitor
from support.review_helpers import publish, review_config


def _run_on_a_terminal(*argv: str, cwd: Path) -> tuple[int, str, str]:
    """``monitor ARGV`` in a child whose stderr is a pseudo-terminal and whose stdout is a pipe:
    (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    # A terminal of 24 x 100 (a new pseudo-terminal is 0 x 0, where a bar has no room).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal's last end
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with subprocess.Popen([sys.executable, "-m", "monitor", *argv], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env) as child:
        os.close(slave)
        stdout, _ = child.communicate(timeout=180)
    reader.join(timeout=30)
    os.close(master)
    return child.returncode, stdout.decode(), b"".join(shown).decode(errors="replace")


def test_run_once_draws_a_bar_on_a_terminal_and_keeps_stdout_clean(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feeds = [publish(feed_server, "/a.xml", ["e1-a", "s1"]),
             publish(feed_server, "/b.xml", ["e4-a"])]
    config = review_config(tmp_path, feeds)
    code, stdout, terminal = _run_on_a_terminal("--config", str(config), "run", "--once",
                                                cwd=tmp_path)
    assert code == 0, terminal
    # The bar: its label, the count of feeds done out of all, what was found so far.
    assert "polling:" in terminal and "2/2" in terminal, terminal
    assert "3 new" in terminal
    # stdout: the one-line summary and nothing else.
    lines = stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("2 feeds polled"), stdout


def test_without_a_terminal_there_is_no_bar(tmp_path: Path, feed_server: FeedServer) -> None:
    config = review_config(tmp_path, [publish(feed_server, "/a.xml", ["e1-a"])])
    result = monitor(config, "run", "--once")
    assert result.code == 0, result.stderr
    assert "polling:" not in result.stderr and "\r" not in result.stderr
    assert result.stdout.startswith("1 feeds polled") and result.stdout.count("\n") == 1
    exported = monitor(config, "export", str(tmp_path / "out"))
    assert "exporting" not in exported.stderr and "\r" not in exported.stderr
    assert "1 clippings written" in exported.stderr
