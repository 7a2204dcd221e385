"""monitor.preflight: config_problems on parsed TOML text, an environment given as a dict and
real secret files in tmp_path. Table-driven: each case is a config, the environment, the files
of the credentials folder, and the problems expected as (severity, key, words of the message)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.preflight import ConfigProblems, Problem, check_environment, config_problems

REPO = Path(__file__).resolve().parent.parent

HOOK = """
[[notifiers]]
name = "hook"
type = "webhook"
url = "https://hooks.example.org/monitor"
"""
MAIL = """
[[notifiers]]
name = "mail"
type = "email"
host = "smtp.example.org"
from = "monitor@example.org"
to = ["analyst@example.org"]
"""
PHONES = """
[[notifiers]]
name = "phones"
type = "apprise"
"""
RULE = """
[[rules]]
name = "enforcement"
query = "piracy AND raid"
"""
OFF = "enabled = false\n"


def rule(*notifiers: str, extra: str = "") -> str:
    names = ", ".join(f'"{n}"' for n in notifiers)
    return RULE + f"notifiers = [{names}]\n" + extra


Expected = list[tuple[str, str, str]]

CASES: list[tuple[str, str, dict[str, str], dict[str, bytes] | None, Expected]] = [
    # -- secrets in environment variables
    ("webhook secret_env unset", HOOK + 'secret_env = "WEBHOOK_SECRET"\n' + RULE, {}, None,
     [("error", "notifiers[0].secret_env", "environment variable WEBHOOK_SECRET is not set")]),
    ("webhook secret_env empty", HOOK + 'secret_env = "WEBHOOK_SECRET"\n' + RULE,
     {"WEBHOOK_SECRET": ""}, None,
     [("error", "notifiers[0].secret_env", "environment variable WEBHOOK_SECRET is empty")]),
    ("webhook secret_env set", HOOK + 'secret_env = "WEBHOOK_SECRET"\n' + RULE,
     {"WEBHOOK_SECRET": "whsec_c2VjcmV0"}, None, []),
    ("email password_env unset", MAIL + 'username = "monitor"\npassword_env = "SMTP_PASSWORD"\n'
     + RULE, {}, None,
     [("error", "notifiers[0].password_env", "environment variable SMTP_PASSWORD is not set")]),
    ("email login with no password anywhere", MAIL + 'username = "monitor"\n' + RULE, {}, None,
     [("error", "notifiers[0].username", "neither password_env nor password_file")]),
    ("email password_env without a login: never read", MAIL + 'password_env = "SMTP_PASSWORD"\n'
     + RULE, {}, None,
     [("warning", "notifiers[0].password_env", "username is not")]),
    ("apprise urls_env unset", PHONES + 'urls_env = "APPRISE_URLS"\n' + RULE, {}, None,
     [("error", "notifiers[0].urls_env", "environment variable APPRISE_URLS is not set")]),
    ("apprise urls_env blank", PHONES + 'urls_env = "APPRISE_URLS"\n' + RULE,
     {"APPRISE_URLS": "  "}, None,
     [("error", "notifiers[0].urls_env", "environment variable APPRISE_URLS is empty")]),
    ("only enabled notifiers' secrets count",
     HOOK + OFF + 'secret_env = "WEBHOOK_SECRET"\n' + MAIL + RULE, {}, None, []),
    # -- secrets in files, relative names under $CREDENTIALS_DIRECTORY
    ("secret_file readable", HOOK + 'secret_file = "hook-secret"\n' + RULE, {},
     {"hook-secret": b"whsec_c2VjcmV0\n"}, []),
    ("secret_file missing", HOOK + 'secret_file = "hook-secret"\n' + RULE, {}, {},
     [("error", "notifiers[0].secret_file", "No such file or directory")]),
    ("secret_file relative without $CREDENTIALS_DIRECTORY",
     HOOK + 'secret_file = "hook-secret"\n' + RULE, {}, None,
     [("error", "notifiers[0].secret_file", "$CREDENTIALS_DIRECTORY is not set")]),
    ("secret_file empty", HOOK + 'secret_file = "hook-secret"\n' + RULE, {},
     {"hook-secret": b"\n"}, [("error", "notifiers[0].secret_file", "is empty")]),
    ("password_file not text", MAIL + 'username = "monitor"\npassword_file = "smtp"\n' + RULE, {},
     {"smtp": b"\xff\xfeTOPSECRET"}, [("error", "notifiers[0].password_file", "not UTF-8")]),
    # -- routes
    ("a rule routed only to disabled notifiers", HOOK + MAIL + OFF + rule("mail"), {}, None,
     [("error", "rules[0].notifiers", "routes only to disabled notifiers (mail)"),
      ("warning", "notifiers[0].name", "no enabled rule routes to notifier 'hook'")]),
    ("a rule routed to one enabled notifier of two", HOOK + MAIL + OFF + rule("hook", "mail"),
     {}, None, []),
    ("a disabled rule goes nowhere: no error", HOOK + MAIL + OFF + rule("mail", extra=OFF)
     + rule("hook").replace("enforcement", "other"), {}, None, []),
    ("an enabled notifier no rule routes to", HOOK + MAIL + rule("hook"), {}, None,
     [("warning", "notifiers[1].name", "no enabled rule routes to notifier 'mail'")]),
    ("a notifier reached only by a disabled rule", HOOK + MAIL + rule("hook")
     + rule("mail", extra=OFF).replace("enforcement", "other"), {}, None,
     [("warning", "notifiers[1].name", "'mail'")]),
    ("a rule naming none reaches every enabled notifier", HOOK + MAIL + RULE, {}, None, []),
    ("no notifier enabled", HOOK + OFF + RULE, {}, None,
     [("warning", "notifiers", "no notifier is enabled")]),
    ("no rules, no notifiers", "", {}, None, []),
    ("errors first", HOOK + 'secret_env = "WEBHOOK_SECRET"\n' + MAIL + rule("hook"), {}, None,
     [("error", "notifiers[0].secret_env", "WEBHOOK_SECRET"),
      ("warning", "notifiers[1].name", "'mail'")]),
]


@pytest.mark.parametrize(("text", "environ", "files", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_config_problems(tmp_path: Path, text: str, environ: dict[str, str],
                         files: dict[str, bytes] | None, expected: Expected) -> None:
    config = parse_config(text, tmp_path / "config.toml")
    credentials = None
    if files is not None:
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        for name, content in files.items():
            (credentials / name).write_bytes(content)
    problems = config_problems(config, environ, str(credentials) if credentials else None)
    assert len(problems) == len(expected), problems
    for problem, (severity, key, words) in zip(problems, expected):
        assert (problem.severity, problem.key) == (severity, key), problem
        assert words in problem.message, problem
        assert problem.path == str(tmp_path / "config.toml")
        assert "TOPSECRET" not in str(problem)  # a file's content is never shown


def test_an_absolute_secret_file_that_is_a_folder_is_unreadable(tmp_path: Path) -> None:
    config = parse_config(HOOK + f'secret_file = "{tmp_path}"\n' + RULE, tmp_path / "c.toml")
    [problem] = config_problems(config, {}, None)
    assert problem.key == "notifiers[0].secret_file" and "cannot read" in problem.message


def test_a_rule_naming_an_unknown_notifier_is_an_error(tmp_path: Path) -> None:
    # parse_config refuses it already; a Config built in code is checked all the same.
    config = parse_config(HOOK + RULE, tmp_path / "c.toml")
    config = dataclasses.replace(config, rules=(
        dataclasses.replace(config.rules[0], notifiers=("ghost",)),))
    problems = config_problems(config, {}, None)
    assert [(p.severity, p.key, p.message) for p in problems][0] == (
        "error", "rules[0].notifiers", "no notifier named 'ghost'")


def test_a_problem_reads_file_key_message() -> None:
    problem = Problem("error", "/etc/monitor/config.toml", "notifiers[1].secret_env",
                      "environment variable WEBHOOK_SECRET is not set")
    assert str(problem) == ("/etc/monitor/config.toml: notifiers[1].secret_env: environment "
                            "variable WEBHOOK_SECRET is not set")


def test_the_shipped_config_has_no_error() -> None:
    problems = config_problems(load_config(REPO / "config.toml"), {}, None)
    assert not [p for p in problems if p.is_error], problems


def test_check_environment_reads_this_process_environment(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(HOOK + 'secret_env = "WEBHOOK_SECRET"\n' + MAIL + rule("hook"),
                          tmp_path / "c.toml")
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigProblems) as info:
        check_environment(config)
    assert [p.key for p in info.value.problems] == ["notifiers[0].secret_env"]  # errors only
    monkeypatch.setenv("WEBHOOK_SECRET", "whsec_c2VjcmV0")
    assert [p.key for p in check_environment(config)] == ["notifiers[1].name"]
    assert os.environ["WEBHOOK_SECRET"]
