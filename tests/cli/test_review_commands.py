"""The review settings (search, export, evidence, grouping): parsed and refused with the key named; documented in README and
config.toml; every new command has --help with an example."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.main import build_parser
from monitor.config import parse_config
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_settings() -> None:
    default = parse_config("", Path("/x/config.toml"))
    assert (default.story_window, default.story_update_window) == (259200.0, 21600.0)
    assert default.evidence_rechecks == (21600.0, 86400.0, 259200.0)
    c = parse_config('[monitor]\nstory_window = "2d"\nstory_update_window = "off"\n'
                     'evidence_rechecks = ["1d", "2h"]\n', Path("/x/config.toml"))
    assert (c.story_window, c.story_update_window, c.evidence_rechecks) == (
        172800.0, None, (7200.0, 86400.0))
    assert parse_config("[monitor]\nevidence_rechecks = []\n",
                        Path("/x/config.toml")).evidence_rechecks == ()
    for text, key in (('story_window = "soon"', "monitor.story_window"),
                      ('story_update_window = "never"', "monitor.story_update_window"),
                      ('evidence_rechecks = ["1d", "x"]', "monitor.evidence_rechecks")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_config(f"[monitor]\n{text}\n", Path("/x/config.toml"))


def test_documented() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    config_text = (REPO / "config.toml").read_text(encoding="utf-8").split("# === Rules")[0]
    for key in ("story_window", "story_update_window", "evidence_rechecks"):
        assert f"`{key}`" in readme and key in config_text, key
    for command in ("monitor search QUERY", "monitor export DIR", "monitor mark ID",
                    "monitor rules eval --feedback", "monitor stats", "monitor evidence ID DIR",
                    "monitor serve"):
        assert command in readme, command
    assert "scripts/install-test-deps && python3 -m venv" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if line.startswith("scripts/install"))
    assert command in ci


@pytest.mark.parametrize("name", ["search", "mark", "stats", "evidence", "serve", "export"])
def test_help_has_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--help"])
    assert "example:\n  monitor " in capsys.readouterr().out
