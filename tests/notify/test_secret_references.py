"""Webhook URLs, webhook headers and Apprise URLs hold tokens: each may be kept in an
environment variable or a file (url_env/url_file, headers_env/headers_file, urls_env/urls_file),
is read at send time, and is masked in every log line, debug included."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.helpers import monitor
from support.servers import WebhookReceiver

from monitor.config import parse_config
from monitor.errors import ConfigError

TOKEN = "hooktok-3f9a1c5e7d"
BEARER = "bearer-8b2e6f0a4c"


def config_with(folder: Path, notifier: str) -> Path:
    path = folder / "config.toml"
    path.write_text('[monitor]\ndatabase = "monitor.db"\n\n[[notifiers]]\n'
                    + textwrap.dedent(notifier), encoding="utf-8")
    return path


def test_webhook_url_and_headers_from_files(tmp_path: Path,
                                            webhook_receiver: WebhookReceiver) -> None:
    url_file = tmp_path / "hook-url"
    url_file.write_text(f"{webhook_receiver.url}/{TOKEN}\n", encoding="utf-8")
    headers_file = tmp_path / "hook-headers"
    headers_file.write_text(f"# for the receiver\nAuthorization: Bearer {BEARER}\n"
                            "X-Team: analysts\n", encoding="utf-8")
    config = config_with(tmp_path, f'''\
        name = "hook"
        type = "webhook"
        url_file = "{url_file}"
        headers_file = "{headers_file}"
        headers = {{ X-Team = "replaced", X-Other = "kept" }}
        ''')
    done = monitor(config, "-v", "notify", "test", "hook")
    assert done.code == 0, done.stderr
    [request] = webhook_receiver.wait_for(1)
    assert request.path.endswith(f"/{TOKEN}")
    assert request.headers["authorization"] == f"Bearer {BEARER}"
    assert (request.headers["x-team"], request.headers["x-other"]) == ("analysts", "kept")
    shown = done.stdout + done.stderr
    assert TOKEN not in shown and BEARER not in shown
    assert "[redacted]" in shown  # debug logging named the URL, masked


def test_webhook_url_and_headers_from_the_environment(tmp_path: Path,
                                                      webhook_receiver: WebhookReceiver) -> None:
    config = config_with(tmp_path, '''\
        name = "hook"
        type = "webhook"
        url_env = "HOOK_URL"
        headers_env = "HOOK_HEADERS"
        ''')
    env = {"HOOK_URL": f"{webhook_receiver.url}?token={TOKEN}",
           "HOOK_HEADERS": f"X-Api-Key: {BEARER}"}
    done = monitor(config, "-v", "notify", "test", "hook", env=env)
    assert done.code == 0, done.stderr
    [request] = webhook_receiver.wait_for(1)
    assert request.path.endswith(f"?token={TOKEN}") and request.headers["x-api-key"] == BEARER
    assert TOKEN not in done.stdout + done.stderr and BEARER not in done.stdout + done.stderr


@pytest.mark.parametrize("held, key, message", [
    ("hooks.example.org/x", "url_file", "url_file holds no http:// or https:// URL"),
    (f"Authorization Bearer {BEARER}", "headers_file",
     "headers_file: line 1 is not a header (expected Name: value)"),
])
def test_what_a_file_holds_is_checked_and_never_quoted(tmp_path: Path, held: str, key: str,
                                                       message: str) -> None:
    secret = tmp_path / "held"
    secret.write_text(held + "\n", encoding="utf-8")
    url = "" if key == "url_file" else 'url = "http://127.0.0.1:9/hook"\n'
    config = config_with(tmp_path, f'name = "hook"\ntype = "webhook"\n{url}{key} = "{secret}"\n')
    done = monitor(config, "notify", "test", "hook")
    assert done.code == 1
    assert message in done.stderr and "permanent" in done.stderr
    assert held not in done.stderr and BEARER not in done.stderr


def test_check_config_names_a_missing_reference(tmp_path: Path) -> None:
    config = config_with(tmp_path, f'''\
        name = "hook"
        type = "webhook"
        url_env = "NO_SUCH_HOOK_URL"
        headers_file = "{tmp_path / 'missing'}"
        ''')
    done = monitor(config, "check-config")
    assert done.code == 1
    assert "notifiers[0].url_env: environment variable NO_SUCH_HOOK_URL is not set" in done.stderr
    assert "notifiers[0].headers_file: cannot read headers_file" in done.stderr


def test_check_config_checks_what_a_reference_holds(tmp_path: Path) -> None:
    (tmp_path / "url").write_text(f"hooks.example.org/{TOKEN}\n", encoding="utf-8")
    config = config_with(tmp_path, f'''\
        name = "hook"
        type = "webhook"
        url_file = "{tmp_path / 'url'}"
        headers_env = "HOOK_HEADERS"
        ''')
    done = monitor(config, "check-config", env={"HOOK_HEADERS": f"X-Key: a\nBearer {BEARER}"})
    assert done.code == 1
    assert "notifiers[0].url_file: holds no http:// or https:// URL" in done.stderr
    assert "notifiers[0].headers_env: line 2 is not a header" in done.stderr
    assert TOKEN not in done.stderr and BEARER not in done.stderr


@pytest.mark.parametrize("keys, refused", [
    ("", "notifiers[0].url: is required (or url_env or url_file"),
    ('url = "https://h.example/"\nurl_file = "u"', "notifiers[0].url_file: set one of url"),
    ('url_env = "U"\nurl_file = "u"', "notifiers[0].url_file: set one of url"),
    ('url = "https://h.example/"\nheaders_env = "H"\nheaders_file = "h"',
     "notifiers[0].headers_file: set headers_env or headers_file, not both"),
])
def test_one_place_for_each_secret(keys: str, refused: str) -> None:
    with pytest.raises(ConfigError, match=refused.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(")):
        parse_config(f'[[notifiers]]\nname = "h"\ntype = "webhook"\n{keys}\n',
                     Path("/x/config.toml"))


@pytest.mark.parametrize("where", ["urls", "urls_file"])
def test_apprise_urls_are_masked_in_debug_logs(tmp_path: Path, webhook_receiver: WebhookReceiver,
                                               where: str) -> None:
    pytest.importorskip("apprise")
    host = webhook_receiver.url.split("://", 1)[1].split("/", 1)[0]
    url = f"json://{host}/hook/{TOKEN}"
    if where == "urls":
        key = f'urls = ["{url}"]'
    else:
        (tmp_path / "apprise-urls").write_text(url + "\n", encoding="utf-8")
        key = f'urls_file = "{tmp_path / "apprise-urls"}"'
    config = config_with(tmp_path, f'name = "phones"\ntype = "apprise"\n{key}\n')
    done = monitor(config, "-v", "notify", "test", "phones")
    assert done.code == 0, done.stderr
    [request] = webhook_receiver.wait_for(1)
    assert request.path == f"/hook/{TOKEN}"
    assert TOKEN not in done.stdout + done.stderr
    assert "JSON POST URL" in done.stderr  # Apprise logged where it posted, masked
