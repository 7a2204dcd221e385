"""The command line as a whole: exit codes of main(), every command's --help with an example
and a place in README.md, and a start that imports no HTTP, extraction or web library."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.helpers import REPO, run_cli

from monitor.cli.main import build_parser, main

# Libraries that only some commands need: `monitor --help` and `monitor list` must not pay for
# them (aiohttp and trafilatura alone took half a second).
HEAVY = ("aiohttp", "httpx", "trafilatura", "feedparser", "datasette", "prometheus_client")


def commands(parser: argparse.ArgumentParser,
             path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and group under ``parser``, as (("feeds", "add"), its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


ALL = sorted(" ".join(path) for path, _ in commands(build_parser()))


def test_the_tree_is_walked() -> None:
    assert {"run", "list", "feeds", "feeds add", "rules eval", "db prune", "notify test",
            "alerts retry"} <= set(ALL)


@pytest.mark.parametrize("command", ALL)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run_cli([*command.split(), "--help"])
    assert result.code == 0
    assert "example:\n  monitor " in result.stdout or "examples:\n  monitor " in result.stdout


@pytest.mark.parametrize("command", ALL)
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"monitor {command}" in readme, f"README.md says nothing of `monitor {command}`"


def test_a_group_alone_prints_its_help_and_exits_2() -> None:
    result = run_cli(["rules"])
    assert result.code == 2
    assert "monitor rules test" in result.stdout and "monitor rules eval" in result.stdout


def test_exit_codes_without_leaving_the_process(tmp_path: Path) -> None:
    assert run_cli(["--version"]).code == 0
    assert run_cli([]).code == 2
    usage = run_cli(["no-such-command"])
    assert usage.code == 2 and "invalid choice" in usage.stderr
    missing = run_cli(["--config", str(tmp_path / "missing.toml"), "list"])
    assert missing.code == 1 and missing.stderr.startswith("monitor: error: ")
    assert main(["--version"]) == 0  # returned, not raised


def test_list_on_an_empty_database_then_again(tmp_path: Path) -> None:
    """Twice in one process: the store is closed and the logging is reset between calls."""
    config = tmp_path / "config.toml"
    config.write_text('[monitor]\ndatabase = "monitor.db"\n', encoding="utf-8")
    for _ in range(2):
        result = run_cli(["--config", str(config), "list", "--json"])
        assert (result.code, result.stdout) == (0, "")


def test_help_and_list_start_without_the_heavy_libraries(tmp_path: Path) -> None:
    """A fresh interpreter, since this one has imported everything already."""
    config = tmp_path / "config.toml"
    config.write_text('[monitor]\ndatabase = "monitor.db"\n', encoding="utf-8")
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from monitor.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            codes = [main(["--help"]), main(["--config", {str(config)!r}, "list"])]
        print(json.dumps({{"codes": codes, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"codes": [0, 0], "loaded": []}


def test_which_commands_wait_for_the_writer_lock(tmp_path: Path) -> None:
    """Beside a daemon (its lock held here): the commands that store stories or run a cycle
    are refused, naming its pid and what to do; the short writes an analyst makes meanwhile
    (README, "Running beside the daemon") go through."""
    from support.helpers import write_config

    from monitor.clipping import make_clipping, render
    from monitor.parse.opml import OpmlFeed, render_opml
    from monitor.store.lock import DAEMON, hold_writer_lock

    config = write_config(tmp_path, [])
    clippings = []
    for i in range(2):
        path = tmp_path / f"{i}.txt"
        path.write_text(render(make_clipping(title=f"Story {i}", source="Example",
                                             url=f"https://example.org/{i}", body="Text.")))
        clippings.append(path)
    opml = tmp_path / "feeds.opml"
    opml.write_text(render_opml([OpmlFeed("https://example.org/feed.xml", "Example")]))

    def cli(*args: str) -> tuple[int, str]:
        done = run_cli(["--config", str(config), *args])
        return done.code, done.stderr

    assert cli("import", str(clippings[0]))[0] == 0
    [stored] = [json.loads(line)["id"] for line in
                run_cli(["--config", str(config), "list", "--json"]).stdout.splitlines()]
    with hold_writer_lock(tmp_path / "monitor.db", DAEMON):
        for args in (("import", str(clippings[1])), ("run", "--once")):
            code, err = cli(*args)
            assert code == 1 and f"in use by `monitor run` (pid {os.getpid()}" in err, err
            assert "systemctl reload monitor" in err and "systemctl stop monitor" in err
        assert cli("mark", stored, "relevant")[0] == 0
        # unchecked: example.org is no loopback feed, and a test fetches nothing else
        assert cli("feeds", "import", str(opml), "--no-check")[0] == 0
        assert cli("feeds", "disable", "https://example.org/feed.xml")[0] == 0
        assert cli("feeds", "enable", "https://example.org/feed.xml")[0] == 0
        assert cli("db", "prune", "--days", "30")[0] == 0
    assert cli("import", str(clippings[1]))[0] == 0  # the daemon has stopped


# -- check-config and run: what a valid file can still get wrong (monitor.preflight) -----------

SIGNED_HOOK = """
[[notifiers]]
name = "email"
type = "email"
enabled = false
host = "127.0.0.1"
from = "monitor@example.org"
to = ["analyst@example.org"]

[[notifiers]]
name = "webhook"
type = "webhook"
url = "http://127.0.0.1:9/unused"
secret_env = "WEBHOOK_SECRET"

[[rules]]
name = "enforcement"
query = "piracy AND raid"
"""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[monitor]\ndatabase = "monitor.db"\n' + text, encoding="utf-8")
    return path


def test_check_config_names_the_file_and_key_of_a_missing_secret(tmp_path: Path) -> None:
    config = _config(tmp_path, SIGNED_HOOK)
    result = run_cli(["--config", str(config), "check-config"], env={"WEBHOOK_SECRET": None})
    assert result.code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (f"monitor: error: {config}: notifiers[1].secret_env: environment "
                        "variable WEBHOOK_SECRET is not set")
    assert lines[-1] == f"{config}: 1 error, 0 warnings"
    done = run_cli(["--config", str(config), "check-config"],
                   env={"WEBHOOK_SECRET": "whsec_c2VjcmV0"})
    assert (done.code, done.stderr) == (0, "")
    assert done.stdout.startswith(f"{config}: OK (0 feeds, 1 rules, 1 of 2 notifiers enabled)")


def test_check_config_prints_warnings_and_exits_0(tmp_path: Path) -> None:
    config = _config(tmp_path, SIGNED_HOOK + 'notifiers = ["webhook"]\n' + """
[[notifiers]]
name = "pager"
type = "webhook"
url = "http://127.0.0.1:9/pager"
""")
    result = run_cli(["--config", str(config), "check-config"],
                     env={"WEBHOOK_SECRET": "whsec_c2VjcmV0"})
    assert result.code == 0, result.stderr
    assert result.stderr == (f"monitor: warning: {config}: notifiers[2].name: no enabled rule "
                             "routes to notifier 'pager': it will send nothing (add it to a "
                             "rule's notifiers, or leave a rule's notifiers empty)\n")
    assert "1 warning)" in result.stdout


def test_check_config_refuses_a_rule_routed_only_to_disabled_notifiers(tmp_path: Path) -> None:
    config = _config(tmp_path, SIGNED_HOOK + 'notifiers = ["email"]\n')
    result = run_cli(["--config", str(config), "check-config"],
                     env={"WEBHOOK_SECRET": "whsec_c2VjcmV0"})
    assert result.code == 1
    assert (f"monitor: error: {config}: rules[0].notifiers: rule 'enforcement' routes only to "
            "disabled notifiers (email)") in result.stderr
    assert f"monitor: warning: {config}: notifiers[1].name:" in result.stderr


def test_check_config_never_prints_a_secret_file(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hook").write_bytes(b"\xffwhsec_TOPSECRET")  # unreadable as text
    config = _config(tmp_path, SIGNED_HOOK.replace('secret_env = "WEBHOOK_SECRET"',
                                                   'secret_file = "hook"'))
    result = run_cli(["--config", str(config), "check-config"],
                     env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert result.code == 1
    assert "notifiers[1].secret_file" in result.stderr and "not UTF-8" in result.stderr
    assert "TOPSECRET" not in result.stderr + result.stdout


def test_the_shipped_config_passes_check_config() -> None:
    result = run_cli(["--config", str(REPO / "config.toml"), "check-config"])
    assert result.code == 0, result.stderr
    assert "monitor: error:" not in result.stderr


def test_run_once_refuses_to_start_on_a_missing_secret(tmp_path: Path) -> None:
    config = _config(tmp_path, SIGNED_HOOK)
    result = run_cli(["--config", str(config), "run", "--once"], env={"WEBHOOK_SECRET": None})
    assert result.code == 1
    assert (f"monitor: error: {config}: notifiers[1].secret_env: environment variable "
            "WEBHOOK_SECRET is not set") in result.stderr.splitlines()
    assert "not started" in result.stderr
    assert not (tmp_path / "monitor.db").exists()  # refused before touching the database


def test_run_once_logs_warnings_and_goes_on(tmp_path: Path) -> None:
    config = _config(tmp_path, SIGNED_HOOK.replace('secret_env = "WEBHOOK_SECRET"', "")
                     + 'notifiers = ["webhook"]\n'
                     + '\n[[notifiers]]\nname = "pager"\ntype = "webhook"\nurl = "http://127.0.0.1:9/p"\n')
    result = run_cli(["--config", str(config), "run", "--once"])
    assert result.code == 0, result.stderr
    assert "notifiers[2].name: no enabled rule routes to notifier 'pager'" in result.stderr
    assert (tmp_path / "monitor.db").exists()
