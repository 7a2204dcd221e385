"""monitor.config: parse_config / load_config / parse_duration, and `monitor check-config` on a
bad file. Pure tests on TOML text, plus real files in tmp_path and the command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import Result, run_cli
from hypothesis import given, strategies as st

from monitor.config import (
    Config,
    EmailConfig,
    FeedConfig,
    WebhookConfig,
    default_config_path,
    load_config,
    parse_config,
    parse_duration,
)
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
CONFIG_PATH = Path("/srv/monitor/etc/config.toml")  # parse_config reads no file: any path will do

MINIMAL = textwrap.dedent("""\
    [[feeds]]
    url = "https://torrentfreak.com/feed/"
""")

EMAIL = textwrap.dedent("""\
    [[notifiers]]
    name = "mail"
    type = "email"
    host = "smtp.example.org"
    from = "monitor@example.org"
    to = ["analyst@example.org"]
""")

GOOD = textwrap.dedent("""\
    [monitor]
    database = "data/clippings.db"
    interval = "10m"

    [fetch]
    timeout = 7.5
    max_bytes = 2048
    user_agent = "test-agent/1"
    allow_private_networks = true
    max_redirects = 2
    fetch_pages = false

    [[feeds]]
    url = "https://torrentfreak.com/feed/"
    name = "TorrentFreak"
    interval = "90s"

    [[feeds]]
    url = "http://example.org/rss"
    enabled = false

    [[notifiers]]
    name = "hook"
    type = "webhook"
    url = "https://hooks.example.org/monitor"

    [[notifiers]]
    name = "mail"
    type = "email"
    enabled = false
    host = "smtp.example.org"
    port = 465
    from = "monitor@example.org"
    to = ["a@example.org", "b@example.org"]
    security = "tls"
    username = "monitor"
    password_env = "MONITOR_SMTP_PASSWORD"

    [[rules]]
    name = "enforcement"
    query = "piracy AND raid"
    notifiers = ["hook", "mail"]
""")


# --- parse_duration --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "seconds"), [
    ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("1.5h", 5400.0),
    (" 15M ", 900.0), ("45", 45.0), (30, 30.0), (2.5, 2.5),
])
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "   ", "15x", "m", "fast", "0m", "-5m", "0", 0, -1, True, None, [15]])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "m", "h", "d"]))
def test_parse_duration_units_multiply(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


# --- good configs ----------------------------------------------------------------------------

def test_minimal_config_takes_the_defaults() -> None:
    config = parse_config(MINIMAL, CONFIG_PATH)
    assert isinstance(config, Config)
    assert config.path == CONFIG_PATH
    assert config.database == CONFIG_PATH.parent / "monitor.db"
    assert config.interval == 900.0
    assert config.fetch.allow_private_networks is False
    assert config.fetch.timeout > 0 and config.fetch.max_bytes >= 1024
    assert config.feeds == (FeedConfig(url="https://torrentfreak.com/feed/"),)
    assert config.notifiers == () and config.rules == ()


def test_empty_config_is_valid() -> None:
    config = parse_config("", CONFIG_PATH)
    assert config.feeds == ()
    assert config.database == CONFIG_PATH.parent / "monitor.db"


def test_full_config_reads_every_key() -> None:
    config = parse_config(GOOD, CONFIG_PATH)
    assert config.database == CONFIG_PATH.parent / "data" / "clippings.db"
    assert config.interval == 600.0
    assert config.fetch.timeout == 7.5
    assert config.fetch.max_bytes == 2048
    assert config.fetch.user_agent == "test-agent/1"
    assert config.fetch.allow_private_networks is True
    assert config.fetch.max_redirects == 2
    assert config.fetch.fetch_pages is False
    assert config.feeds == (
        FeedConfig(url="https://torrentfreak.com/feed/", name="TorrentFreak", interval=90.0),
        FeedConfig(url="http://example.org/rss", enabled=False),
    )
    hook, mail = config.notifiers
    assert hook == WebhookConfig(name="hook", url="https://hooks.example.org/monitor")
    assert isinstance(mail, EmailConfig)
    assert (mail.name, mail.host, mail.port, mail.from_addr, mail.to) == (
        "mail", "smtp.example.org", 465, "monitor@example.org", ("a@example.org", "b@example.org"))
    assert (mail.enabled, mail.security, mail.username, mail.password_env) == (
        False, "tls", "monitor", "MONITOR_SMTP_PASSWORD")
    (rule,) = config.rules
    assert (rule.name, rule.query, rule.notifiers) == ("enforcement", "piracy AND raid", ("hook", "mail"))


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_email_port_defaults_follow_security(security: str, port: int) -> None:
    config = parse_config(EMAIL + f'security = "{security}"\n', CONFIG_PATH)
    assert config.notifiers[0].port == port


def test_absolute_database_is_kept() -> None:
    config = parse_config('[monitor]\ndatabase = "/var/lib/monitor/m.db"\n', CONFIG_PATH)
    assert config.database == Path("/var/lib/monitor/m.db")


def test_load_config_database_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "config.toml").write_text('[monitor]\ndatabase = "db/monitor.db"\n', encoding="utf-8")
    config = load_config(folder / "config.toml")
    assert config.database == (folder / "db" / "monitor.db").resolve()
    assert config.path == (folder / "config.toml").resolve()


def test_monitor_config_env_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    assert default_config_path() == path
    config = load_config()
    assert config.path == path.resolve()
    assert config.feeds[0].url == "https://torrentfreak.com/feed/"


def test_without_monitor_config_the_default_is_config_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    assert default_config_path() == Path("config.toml")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_the_repository_config_loads() -> None:
    config = load_config(REPO / "config.toml")
    assert len(config.feeds) >= 7
    assert config.fetch.allow_private_networks is False
    names = {n.name: n for n in config.notifiers}
    assert isinstance(names.get("email"), EmailConfig) and not names["email"].enabled
    assert isinstance(names.get("webhook"), WebhookConfig) and not names["webhook"].enabled
    assert config.database == REPO.resolve() / "monitor.db"


# --- bad configs: each names the file and the key ---------------------------------------------

BAD = [
    # (id, TOML text, key named in the message)
    ("unknown top-level key", "colour = 1\n" + MINIMAL, "colour"),
    ("unknown key in monitor", "[monitor]\ndatabse = \"x.db\"\n", "monitor.databse"),
    ("unknown key in a feed", '[[feeds]]\nurl = "https://a.example/feed"\nintervall = "5m"\n',
     "feeds[0].intervall"),
    ("unknown key in a notifier", EMAIL + 'smtp_host = "x"\n', "notifiers[0].smtp_host"),
    ("wrong type: timeout", '[fetch]\ntimeout = "fast"\n', "fetch.timeout"),
    ("wrong type: bool for int", "[fetch]\nmax_bytes = true\n", "fetch.max_bytes"),
    ("wrong type: string for bool", '[fetch]\nallow_private_networks = "yes"\n',
     "fetch.allow_private_networks"),
    ("wrong type: feed url", "[[feeds]]\nurl = 42\n", "feeds[0].url"),
    ("wrong type: to not a list", EMAIL.replace('to = ["analyst@example.org"]', 'to = "analyst@example.org"'),
     "notifiers[0].to"),
    ("wrong type: monitor not a table", "monitor = 3\n", "monitor"),
    ("wrong type: feeds not an array", 'feeds = "https://a.example/feed"\n', "feeds"),
    ("bad duration unit", '[monitor]\ninterval = "15x"\n', "monitor.interval"),
    ("zero duration", '[[feeds]]\nurl = "https://a.example/feed"\ninterval = "0m"\n', "feeds[0].interval"),
    ("negative duration", '[monitor]\ninterval = -5\n', "monitor.interval"),
    ("bad security", EMAIL + 'security = "ssl"\n', "notifiers[0].security"),
    ("password in clear", EMAIL + 'password = "hunter2"\n', "notifiers[0].password"),
    ("notifier type unknown", '[[notifiers]]\nname = "x"\ntype = "sms"\n', "notifiers[0].type"),
    ("rule names an unknown notifier",
     EMAIL + '[[rules]]\nname = "r"\nquery = "piracy"\nnotifiers = ["mail", "pager"]\n',
     "rules[0].notifiers"),
    ("duplicate feed url",
     MINIMAL + '[[feeds]]\nurl = "https://a.example/"\n[[feeds]]\nurl = "https://torrentfreak.com/feed/"\n',
     "feeds[2].url"),
    ("duplicate notifier name", EMAIL + EMAIL, "notifiers[1].name"),
    ("non-http feed url", '[[feeds]]\nurl = "ftp://a.example/feed"\n', "feeds[0].url"),
    ("file feed url", '[[feeds]]\nurl = "file:///etc/passwd"\n', "feeds[0].url"),
    ("non-http webhook url", '[[notifiers]]\nname = "h"\ntype = "webhook"\nurl = "hooks.example.org"\n',
     "notifiers[0].url"),
    ("missing feed url", '[[feeds]]\nname = "No URL"\n', "feeds[0].url"),
    ("missing notifier type", '[[notifiers]]\nname = "x"\n', "notifiers[0].type"),
    ("missing notifier name", '[[notifiers]]\ntype = "webhook"\nurl = "https://h.example/"\n',
     "notifiers[0].name"),
    ("missing email host", EMAIL.replace('host = "smtp.example.org"\n', ""), "notifiers[0].host"),
    ("missing email to", EMAIL.replace('to = ["analyst@example.org"]\n', ""), "notifiers[0].to"),
    ("empty email to", EMAIL.replace('to = ["analyst@example.org"]', "to = []"), "notifiers[0].to"),
    ("missing webhook url", '[[notifiers]]\nname = "h"\ntype = "webhook"\n', "notifiers[0].url"),
    ("missing rule query", '[[rules]]\nname = "r"\n', "rules[0].query"),
    ("timeout not positive", "[fetch]\ntimeout = 0\n", "fetch.timeout"),
    ("max_bytes too small", "[fetch]\nmax_bytes = 10\n", "fetch.max_bytes"),
]


@pytest.mark.parametrize(("text", "key"), [pytest.param(t, k, id=i) for i, t, k in BAD])
def test_bad_config_names_file_and_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, CONFIG_PATH)
    error = info.value
    assert error.path == str(CONFIG_PATH)
    assert error.key == key
    message = str(error)
    assert str(CONFIG_PATH) in message and key in message
    assert error.reason and error.reason in message


def test_password_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(EMAIL + 'password = "hunter2"\n', CONFIG_PATH)
    assert "hunter2" not in str(info.value)
    assert "password_env" in str(info.value)


@pytest.mark.parametrize("text", ["[monitor", "x = [", "a = 1\na = 2\n", "= 3\n", "\x00"])
def test_not_toml_names_the_file(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, CONFIG_PATH)
    assert info.value.path == str(CONFIG_PATH)
    assert str(info.value).startswith(f"{CONFIG_PATH}: ")
    assert "TOML" in str(info.value)


def test_load_config_reports_the_file_it_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EMAIL + 'security = "ssl"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path.resolve()) in str(info.value)
    assert "notifiers[0].security" in str(info.value)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[feeds]]\nname = "Télé"\nurl = "https://a.example/"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


# --- the CLI ---------------------------------------------------------------------------------

def _cli(*args: str, cwd: Path) -> Result:
    return run_cli(list(args), cwd=cwd, env={"MONITOR_CONFIG": None})


@pytest.mark.parametrize(("text", "key"), [
    (EMAIL + 'security = "ssl"\n', "notifiers[0].security"),
    ('[[feeds]]\nurl = "gopher://a.example/"\n', "feeds[0].url"),
])
def test_check_config_on_a_bad_file_fails_cleanly(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = _cli("--config", str(path), "check-config", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("monitor: error: ")
    assert str(path) in line and key in line
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_check_config_on_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = _cli("--config", "missing.toml", "check-config", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith("monitor: error: ") and "missing.toml" in result.stderr
    assert "Traceback" not in result.stderr
