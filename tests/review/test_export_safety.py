"""Exports of hostile feed text: CSV cells that no spreadsheet runs as a formula, no terminal
control or bidi override in any format, files created 0600 whatever the umask, and never a
write through a symbolic link planted in the export folder."""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.feedserver import FeedServer
from support.helpers import monitor, write_config
from support.hostile_text import FORMULA, RLO, UNSAFE, publish_hostile

FORMATS = {"csv": "clippings.csv", "jsonl": "clippings.jsonl"}


@pytest.fixture
def umask_022() -> Iterator[None]:
    was = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(was)


@pytest.fixture
def hostile_config(tmp_path: Path, feed_server: FeedServer) -> Path:
    config = write_config(tmp_path, [publish_hostile(feed_server)], fetch_pages=False)
    done = monitor(config, "run", "--once")
    assert done.code == 0, done.stderr
    return config


def export(config: Path, out: Path, fmt: str) -> None:
    done = monitor(config, "export", str(out), "--format", fmt)
    assert done.code == 0, done.stderr
    assert "1 clippings written" in done.stderr


def test_csv_cells_cannot_start_a_formula(hostile_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(hostile_config, out, "csv")
    with (out / "clippings.csv").open(newline="", encoding="utf-8") as f:
        [row] = list(csv.DictReader(f))
    assert row["title"].startswith("'" + FORMULA)
    for name, value in row.items():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
        assert not UNSAFE.search(value), (name, value)
    # Escaped, not dropped: the reader sees where the override was.
    assert "\\u202e" in row["title"]


def test_jsonl_parses_back_to_the_stored_text_with_nothing_raw(hostile_config: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(hostile_config, out, "jsonl")
    text = (out / "clippings.jsonl").read_text(encoding="utf-8")
    assert not UNSAFE.search(text)
    assert len(text.splitlines()) == 1
    [listed] = [json.loads(line) for line in monitor(hostile_config, "list", "--json").stdout
                .splitlines()]
    record = json.loads(text)
    assert record["title"] == listed["title"] and RLO in record["title"]


def test_clipping_files_hold_no_unsafe_character(hostile_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(hostile_config, out, "clipping")
    [path] = list(out.glob("*.txt"))
    text = path.read_text(encoding="utf-8")
    assert not UNSAFE.search(text)
    assert "pirate IPTV raid \\u202egnp.exe" in text


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "clipping"])
def test_exports_are_private_whatever_the_umask(hostile_config: Path, tmp_path: Path,
                                                umask_022: None, fmt: str) -> None:
    out = tmp_path / "out"
    export(hostile_config, out, fmt)
    written = [out / FORMATS[fmt]] if fmt in FORMATS else list(out.glob("*.txt"))
    assert written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_refuses_a_planted_symlink(hostile_config: Path, tmp_path: Path,
                                          fmt: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (out / FORMATS[fmt]).symlink_to(victim)
    done = monitor(hostile_config, "export", str(out), "--format", fmt)
    assert done.code == 1
    assert "symbolic link" in done.stderr and FORMATS[fmt] in done.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_export_never_overwrites_a_planted_clipping_file(hostile_config: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    export(hostile_config, out, "clipping")
    [first] = list(out.glob("*.txt"))
    first.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    first.symlink_to(victim)  # the very name the export would write
    done = monitor(hostile_config, "export", str(out))
    assert done.code == 0 and "0 clippings written" in done.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"
