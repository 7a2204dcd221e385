"""The systemd units: `systemd-analyze verify` passes for the system and the user unit, and
`systemd-analyze security --offline=true` rates the system unit's exposure below 2.0. Also: the
daemon really runs with MemoryDenyWriteExecute (the kernel's PR_SET_MDWE, which is what systemd
applies), extraction workers included."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.feedserver import FeedServer, article_page, rss
from support.helpers import REPO, write_config

UNIT = REPO / "systemd" / "monitor.service"
USER_UNIT = REPO / "systemd" / "user" / "monitor.service"
INSTALLED = {UNIT: "/opt/monitor/bin/monitor", USER_UNIT: "%h/.local/share/monitor/venv/bin/monitor"}


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    """systemd-analyze, from Debian's systemd package (scripts/install-test-deps installs it,
    as the README's test command does)."""
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is missing: run scripts/install-test-deps (Debian's systemd)")
    return found


def as_installed(unit: Path, folder: Path) -> Path:
    """The unit with its ExecStart= pointing at an executable that exists here (verify checks
    it): only the installation prefix changes."""
    program = folder / "bin" / "monitor"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    copy = folder / "monitor.service"
    text = unit.read_text()
    assert INSTALLED[unit] in text
    copy.write_text(text.replace(INSTALLED[unit], str(program)))
    return copy


def test_system_unit_verifies(systemd_analyze: str, tmp_path: Path) -> None:
    result = subprocess.run([systemd_analyze, "verify", str(as_installed(UNIT, tmp_path))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitor.service" not in result.stderr, result.stderr


def test_the_commented_ip_address_lines_verify_once_enabled(systemd_analyze: str,
                                                            tmp_path: Path) -> None:
    """The unit's IPAddressDeny=/IPAddressAllow= guidance, uncommented, is a valid unit."""
    unit = as_installed(UNIT, tmp_path)
    text = unit.read_text()
    assert "#IPAddressDeny=" in text and "#IPAddressAllow=" in text
    unit.write_text(text.replace("#IPAddress", "IPAddress"))
    result = subprocess.run([systemd_analyze, "verify", str(unit)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitor.service" not in result.stderr, result.stderr


def test_user_unit_verifies(systemd_analyze: str, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run([systemd_analyze, "--user", "verify",
                             str(as_installed(USER_UNIT, tmp_path))],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitor.service" not in result.stderr, result.stderr


def test_system_unit_exposure_below_2(systemd_analyze: str) -> None:
    result = subprocess.run([systemd_analyze, "security", "--offline=true", "--no-pager",
                             str(UNIT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    level = re.search(r"Overall exposure level for monitor\.service: (\d+\.\d)", result.stdout)
    assert level, result.stdout
    assert float(level.group(1)) < 2.0, result.stdout


def directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_system_unit_settings() -> None:
    d = directives(UNIT)
    assert d["Type"] == ["notify"] and d["Restart"] == ["on-failure"]
    assert d["WatchdogSec"] and d["StateDirectory"] == ["monitor"]
    assert d["ConfigurationDirectory"] == ["monitor"] and d["User"] == ["monitor"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # Secrets by reference: credentials looked up in /etc/credstore/, skipped when absent.
    assert d["LoadCredential"] == ["monitor-smtp-password", "monitor-webhook-secret"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                "ProtectControlGroups", "RestrictNamespaces", "LockPersonality",
                "MemoryDenyWriteExecute"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert d["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "@system-service" in d["SystemCallFilter"]
    assert d["CapabilityBoundingSet"] == [""] and d["MemoryMax"]


def test_daemon_runs_with_memory_deny_write_execute(tmp_path: Path, feed_server: FeedServer) -> None:
    """PR_SET_MDWE refuses memory that is both writable and executable, in the process and its
    children (the forkserver and the extraction workers), as MemoryDenyWriteExecute=yes does."""
    probe = subprocess.run([sys.executable, "-c", "import ctypes,sys; l=ctypes.CDLL(None); "
                            "sys.exit(l.prctl(65, 1, 0, 0, 0) != 0)"], timeout=30)
    if probe.returncode != 0:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
    feed_server.put("/raid", article_page("Police raid a pirate IPTV operation", [
        "Police raided the offices of a pirate IPTV operation and seized its servers.",
        "The operators face charges of copyright infringement."]))
    url = feed_server.put("/feed.xml", rss("Piracy Daily", [
        {"title": "Police raid a pirate IPTV operation", "link": feed_server.url("/raid")}]),
        "application/rss+xml")
    config = write_config(tmp_path, [url], fetch_pages=True)
    wrapper = ("import ctypes, os, sys\n"
               "assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0\n"
               "os.execv(sys.executable, [sys.executable, '-m', 'monitor', *sys.argv[1:]])\n")
    result = subprocess.run([sys.executable, "-c", wrapper, "--config", str(config), "run",
                             "--once"], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
    assert "1 new clippings" in result.stdout, result.stdout + result.stderr
    conn = sqlite3.connect(tmp_path / "monitor.db")
    try:
        assert conn.execute("select origin from clippings").fetchall() == [("page",)]
    finally:
        conn.close()
    # The check itself works: asking for writable and executable memory fails under it.
    refused = subprocess.run([sys.executable, "-c", wrapper.replace(
        "os.execv(sys.executable, [sys.executable, '-m', 'monitor', *sys.argv[1:]])",
        "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)")],
        capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "PermissionError" in refused.stderr
