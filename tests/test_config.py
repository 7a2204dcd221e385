"""monitor.config: parse_config / load_config / parse_duration, and `monitor check-config` on a
bad file. Pure tests on TOML text, plus real files in tmp_path and the command line."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
from support.helpers import Result, run_cli
from hypothesis import given, strategies as st

from monitor.units import parse_duration
from monitor.config import (
    DERIVED,
    REQUIRED,
    SETTINGS,
    Config,
    Delivery,
    EmailConfig,
    FeedConfig,
    FetchConfig,
    WebhookConfig,
    default_config_path,
    describe,
    load_config,
    parse_config,
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
    ("event query not a string", "[events]\nraid = [\"raided\"]\n", "events.raid"),
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


# --- the settings table: its defaults, and the docs that must list every setting --------------

def test_every_default_is_a_valid_value_of_its_setting() -> None:
    for table, settings in SETTINGS.items():
        for s in settings:
            if s.default is None or s.default is REQUIRED or s.default is DERIVED:
                continue
            value = s.kind.read(s.default)
            assert s.check is None or s.check(value) is None, f"{table}.{s.key}"


def test_the_dataclass_defaults_are_the_table_defaults() -> None:
    assert FetchConfig().timeout == 20.0 and FetchConfig().max_bytes == 5_000_000
    assert Delivery() == Delivery(min_score=0.0, digest="", flood_limit=50, flood_window=600.0)
    assert WebhookConfig(name="h", url="https://h.example/").timeout == 10.0
    assert parse_config("", CONFIG_PATH).evidence_rechecks == (21600.0, 86400.0, 259200.0)


def test_the_shipped_config_sets_the_defaults() -> None:
    """config.toml shows each table's defaults: it must not drift from the settings table."""
    shipped = load_config(REPO / "config.toml")
    default = parse_config("", shipped.path)
    for name in ("fetch", "log", "http", "status", "data", "schedule", "database", "interval",
                 "backlog_max_age", "story_window", "story_update_window", "evidence_rechecks"):
        assert getattr(shipped, name) == getattr(default, name), name


def _toml_keys() -> dict[str, set[str]]:
    """The keys config.toml sets or shows commented out, by table (notifiers of every type in
    one); [terms], [entities] and [events] are left out: their keys are names the user
    chooses."""
    keys: dict[str, set[str]] = {}
    table = ""
    for line in (REPO / "config.toml").read_text(encoding="utf-8").splitlines():
        header = re.match(r"#?\s*\[\[?([\w-]+)\]\]?\s*$", line)
        if header:
            table = header.group(1)
        elif (key := re.match(r'#?\s*([A-Za-z_]\w*)\s*=\s*["\[{\dtf-]', line)) and table not in (
                "terms", "entities", "events"):
            keys.setdefault(table, set()).add(key.group(1))
    return keys


def _readme_rows() -> Iterator[tuple[str, list[str], list[str]]]:
    """The rows of the table in README.md's Configuration section: the settings table, the keys
    and their defaults (one default may stand for every key of its row)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    labels = {"every type": "notifiers", "webhook": "notifiers.webhook", "email": "notifiers.email",
              "apprise": "notifiers.apprise"}
    table = ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or cells[1] in ("key", "---"):
            continue
        if cells[0]:
            table = labels.get(cells[0], cells[0].strip("`[]"))
        keys = re.findall(r"`(\w+)`", cells[1])
        defaults = re.split(r",\s*(?![^\[]*\])", cells[2]) if cells[2] else []
        yield table, keys, defaults if len(defaults) == len(keys) else [cells[2]] * len(keys)


def _readme_keys() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for table, row, _ in _readme_rows():
        keys.setdefault(table.partition(".")[0], set()).update(row)
    return keys


def test_readme_shows_the_table_defaults() -> None:
    """Where README gives a default as a value, it is the table's ([[rules]] refer to Rules)."""
    declared = {(t, s.key): s for t, settings in SETTINGS.items() for s in settings}
    for table, keys, defaults in _readme_rows():
        for key, shown in zip(keys, defaults, strict=True):
            s = declared[table, key]
            if shown and s.default is not None and not isinstance(s.default, type(REQUIRED)):
                assert shown == f"`{json.dumps(s.default, ensure_ascii=False)}`", (table, key)


def _declared() -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {}
    for table, settings in SETTINGS.items():
        declared.setdefault(table.partition(".")[0], set()).update(s.key for s in settings)
    return declared


@pytest.mark.parametrize("source", [_toml_keys, _readme_keys], ids=["config.toml", "README.md"])
def test_every_setting_is_documented_and_every_documented_key_is_a_setting(
        source: Any) -> None:
    documented = source()
    declared = _declared()
    missing = sorted(f"{t}.{k}" for t, keys in declared.items() for k in keys - documented.get(t, set()))
    unknown = sorted(f"{t}.{k}" for t, keys in documented.items() for k in keys - declared.get(t, set()))
    assert (missing, unknown) == ([], [])


def test_check_config_defaults_lists_every_setting(tmp_path: Path) -> None:
    result = _cli("check-config", "--defaults", cwd=tmp_path)  # no config file is needed
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == list(describe())
    assert '  interval = "15m"  # duration: default poll interval of a feed' in result.stdout
    for settings in SETTINGS.values():
        for s in settings:
            assert f"  {s.key} = " in result.stdout


# --- values that would unbound the daemon's work ----------------------------------------------

NOT_FINITE = [
    # (id, TOML text, key named in the message, what the reason says)
    ("interval inf", '[monitor]\ninterval = "inf"\n', "monitor.interval", "finite"),
    ("interval nan", '[monitor]\ninterval = "nan"\n', "monitor.interval", "finite"),
    ("interval TOML inf", "[monitor]\ninterval = inf\n", "monitor.interval", "finite"),
    ("feed interval inf minutes", '[[feeds]]\nurl = "https://a.example/feed"\ninterval = "infm"\n',
     "feeds[0].interval", "finite"),
    ("min_score nan", '[[rules]]\nname = "r"\nquery = "piracy"\nmin_score = nan\n',
     "rules[0].min_score", "finite"),
    ("notifier min_score nan", EMAIL + "min_score = nan\n", "notifiers[0].min_score", "finite"),
    ("timeout inf", "[fetch]\ntimeout = inf\n", "fetch.timeout", "finite"),
    ("digest inf", EMAIL + 'digest = "inf"\n', "notifiers[0].digest", "expected an interval"),
    ("negative max_redirects", "[fetch]\nmax_redirects = -1\n", "fetch.max_redirects", "0 or more"),
    ("max_new_per_poll zero", "[fetch]\nmax_new_per_poll = 0\n", "fetch.max_new_per_poll",
     "at least 1"),
    ("smtp password in clear", EMAIL + 'security = "none"\nusername = "monitor"\n'
     'password_env = "MONITOR_SMTP_PASSWORD"\n', "notifiers[0].security", "clear text"),
    ("smtp password file in clear", EMAIL + 'security = "none"\nusername = "monitor"\n'
     'password_file = "smtp-password"\n', "notifiers[0].security", "clear text"),
]


@pytest.mark.parametrize(("text", "key", "why"), [pytest.param(t, k, w, id=i)
                                                  for i, t, k, w in NOT_FINITE])
def test_unbounded_values_are_refused_naming_key_and_reason(text: str, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, CONFIG_PATH)
    assert info.value.key == key
    assert why in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_smtp_without_encryption_may_log_in_to_a_relay_on_this_machine(host: str) -> None:
    text = (EMAIL.replace('"smtp.example.org"', f'"{host}"') + 'security = "none"\n'
            'username = "monitor"\npassword_env = "MONITOR_SMTP_PASSWORD"\n')
    mail = parse_config(text, CONFIG_PATH).notifiers[0]
    assert isinstance(mail, EmailConfig)
    assert (mail.security, mail.host, mail.port) == ("none", host, 25)


def test_smtp_without_encryption_and_without_login_is_allowed_anywhere() -> None:
    mail = parse_config(EMAIL + 'security = "none"\n', CONFIG_PATH).notifiers[0]
    assert isinstance(mail, EmailConfig) and mail.security == "none"


def test_max_new_per_poll_is_read() -> None:
    assert parse_config("[fetch]\nmax_new_per_poll = 5\n", CONFIG_PATH).fetch.max_new_per_poll == 5
    assert parse_config("", CONFIG_PATH).fetch.max_new_per_poll == 100



def test_an_event_query_is_read_as_written() -> None:
    config = parse_config('[events]\ndomain-seizure = "seized NEAR/3 domains"\n', CONFIG_PATH)
    assert config.events == {"domain-seizure": "seized NEAR/3 domains"}
