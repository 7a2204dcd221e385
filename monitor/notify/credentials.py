"""Secrets kept in files or environment variables: the SMTP password, the webhook signing
secret, webhook URLs and headers, Apprise URLs; read at send time so that a rotated secret
needs no restart."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.errors import NotifyError


def read_secret_file(name: str, key: str, channel: str) -> str:
    """The secret in ``name``: an absolute path, or a name under $CREDENTIALS_DIRECTORY, where
    systemd puts the credentials of a unit's LoadCredential=. One trailing newline is dropped.
    ``key`` is the config key naming the file (password_file, secret_file), for the errors.
    Every failure is permanent, and never quotes the file's content."""
    path = Path(name)
    if not path.is_absolute():
        folder = os.environ.get("CREDENTIALS_DIRECTORY")
        if not folder:
            raise NotifyError(f"{key} {name!r} is a relative name and "
                              "$CREDENTIALS_DIRECTORY is not set (systemd sets it for "
                              "LoadCredential=); give an absolute path otherwise",
                              channel=channel, permanent=True)
        path = Path(folder) / path
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise NotifyError(f"cannot read {key} {str(path)!r}: {reason}",
                          channel=channel, permanent=True) from e
    value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if not value:
        raise NotifyError(f"{key} {str(path)!r} is empty", channel=channel, permanent=True)
    return value


def read_secret_env(name: str, key: str, channel: str) -> str:
    """The value of the environment variable ``name`` (named by the config key ``key``);
    unset or empty is a permanent failure."""
    value = os.environ.get(name)
    if not value or not value.strip():
        state = "is empty" if value is not None else "is not set"
        raise NotifyError(f"environment variable {name} ({key}) {state}", channel=channel,
                          permanent=True)
    return value


def read_reference(env: str, file: str, key: str, channel: str) -> str | None:
    """The secret that ``<key>_env`` or ``<key>_file`` names (``env``, ``file``: their values),
    None when neither is set."""
    if file:
        return read_secret_file(file, f"{key}_file", channel)
    if env:
        return read_secret_env(env, f"{key}_env", channel)
    return None
