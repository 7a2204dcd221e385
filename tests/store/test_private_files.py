"""Files the monitor writes for people are 0600 whatever the umask (the database and its -wal
and -shm, backups, case files, OPML exports), and none is written through a planted link."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.hostile_text import RLO, UNSAFE, publish_hostile


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    was = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(was)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def polled(tmp_path: Path, feed_server: FeedServer) -> Path:
    config = write_config(tmp_path, [publish_hostile(feed_server)], fetch_pages=False)
    done = monitor(config, "run", "--once")
    assert done.code == 0, done.stderr
    return config


def test_the_database_and_its_companions_are_private(polled: Path, tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    companions = [p for p in (Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    for path in [db, *companions]:
        assert mode(path) == 0o600, path


def test_backups_are_private(polled: Path, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "monitor.db"
    done = monitor(polled, "db", "backup", str(target))
    assert done.code == 0, done.stderr
    assert mode(target) == 0o600


def test_case_files_are_private_and_refuse_a_planted_link(polled: Path, tmp_path: Path) -> None:
    [line] = monitor(polled, "list", "--json").stdout.splitlines()
    clipping_id = json.loads(line)["id"]
    case = tmp_path / "case"
    done = monitor(polled, "evidence", clipping_id, str(case))
    assert done.code == 0, done.stderr
    assert sorted(mode(p) for p in case.iterdir()) == [0o600, 0o600]
    manifest = (case / "manifest.json").read_text(encoding="utf-8")
    assert not UNSAFE.search(manifest) and RLO in json.loads(manifest)["title"]
    other = tmp_path / "other"
    other.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="utf-8")
    (other / "manifest.json").symlink_to(victim)
    done = monitor(polled, "evidence", clipping_id, str(other))
    assert done.code == 1 and "symbolic link" in done.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_opml_exports_are_private(polled: Path, tmp_path: Path) -> None:
    target = tmp_path / "feeds.opml"
    done = monitor(polled, "feeds", "export", str(target))
    assert done.code == 0, done.stderr
    assert mode(target) == 0o600
