"""Durations and digest schedules: "15m" -> seconds; a notifier's ``digest`` -> when it is due.

One duration parser and one unit table serve every setting (config.py) and the digest cadence.
Pure functions of the setting, an anchor time and ``now``. An interval ("1h") or a five-field
cron expression ("0 8 * * 1-5"), whose next times come from APScheduler's CronTrigger, the
library that already schedules the daemon (imported here too, because the config check and the
outbox both need it and neither may import the daemon).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

def parse_iso_datetime(value: str) -> dt.datetime | None:
    """An ISO 8601 / RFC 3339 date or date and time ("2026-11-02", "...T10:00Z") in UTC; one
    without a zone is taken as UTC; None when it is not one (a feed's or a page's hostile text)."""
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    try:
        return when.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        return None


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_EXAMPLE = "expected a duration such as \"15m\""
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, 1 = Monday) as APScheduler 3 reads it.

    APScheduler 3's CronTrigger counts weekdays from Monday = 0 and its from_crontab passes the
    field through unchanged, so "1-5" would mean Tuesday to Saturday. Numbers are turned into
    day names here, the one spelling both agree on."""
    names: list[str] = []
    for item in field.lower().split(","):
        body, _, step_text = item.partition("/")
        if not step_text and not body.replace("-", "").isdigit() and body != "*":
            names.append(item)  # "mon", "mon-fri": already APScheduler's
            continue
        step = int(step_text) if step_text.isdigit() else 1
        if body == "*":
            first, last = 0, 6
        else:
            low, _, high = body.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ValueError(f"bad day of week {item!r}")
            first, last = int(low), int(high or low)
            if not step_text and not high:
                last = first
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step > 0):
            raise ValueError(f"bad day of week {item!r}")
        names += [DAY_NAMES[day % 7] for day in range(first, last + 1, step)]
    return ",".join(dict.fromkeys(names))


def _trigger(expr: str, tz: Any) -> CronTrigger:
    # Imported here: only a cron digest needs it, and `monitor --help` should not pay for it.
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_weekdays(weekday), timezone=tz)


@dataclass(frozen=True, slots=True)
class Cadence:
    """A parsed ``digest`` setting: ``every`` seconds, or a ``cron`` expression."""

    text: str
    every: float | None = None
    cron: str | None = None

    def next_after(self, anchor: dt.datetime, tz: Any = None) -> dt.datetime:
        """The first digest time after ``anchor`` (aware datetimes, returned in UTC).

        An interval counts from the anchor (the oldest alert waiting, or the last digest);
        a cron expression is read in ``tz`` (default: the machine's local time zone, as cron).
        """
        if self.every is not None:
            return anchor + dt.timedelta(seconds=self.every)
        trigger = _trigger(self.cron or "", tz)
        fire: dt.datetime | None = trigger.get_next_fire_time(None, anchor)
        if fire is None:  # cannot happen with five crontab fields, but never loop on it
            return anchor + dt.timedelta(days=366)
        return fire.astimezone(dt.timezone.utc)

    def is_due(self, anchor: dt.datetime, now: dt.datetime, tz: Any = None) -> bool:
        return self.next_after(anchor, tz) <= now


def _seconds(value: object) -> float:
    """ "90s", "15m", "2h", "1d", or a number of seconds -> seconds, whatever its sign."""
    if isinstance(value, bool):  # TOML's true is an int to Python: never a duration
        raise ValueError(DURATION_EXAMPLE)
    if isinstance(value, (int, float)):
        return _finite(float(value), value)
    if isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = text[-1]
        number = text[:-1] if unit in DURATION_UNITS else text
        try:
            seconds = float(number) * DURATION_UNITS.get(unit, 1)
        except ValueError:
            pass
        else:
            return _finite(seconds, value)
    raise ValueError(f"{DURATION_EXAMPLE}, got {value!r}")


def _finite(seconds: float, value: object) -> float:
    # "inf" and "nan" are floats to Python and TOML alike: a poll every "inf" would never come,
    # and NaN compares false with everything, so it would pass every bound.
    if not math.isfinite(seconds):
        raise ValueError(f"{DURATION_EXAMPLE}, got {value!r} (not a finite number)")
    return seconds


def parse_duration(value: object) -> float:
    """ "90s", "15m", "2h", "1d", or a number of seconds -> seconds (positive)."""
    seconds = _seconds(value)
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def parse_cadence(text: str) -> Cadence:
    """ "1h", "30m", "1d" or a crontab line; ValueError with the reason otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("expected an interval such as \"1h\" or a cron expression such as "
                         "\"0 8 * * 1-5\"")
    if " " not in text:
        try:
            seconds = _seconds(text)
        except ValueError:
            raise ValueError(f"expected an interval such as \"1h\" or a cron expression such as "
                             f"\"0 8 * * 1-5\", got {text!r}") from None
        if seconds < 60:
            raise ValueError(f"a digest interval must be at least one minute, got {text!r}")
        return Cadence(text=text, every=seconds)
    if len(text.split()) != 5:
        raise ValueError(f"a cron expression has five fields (minute hour day month weekday), "
                         f"got {text!r}")
    try:
        _trigger(text, dt.timezone.utc)
    except ValueError as e:
        raise ValueError(f"not a valid cron expression {text!r}: {e}") from None
    return Cadence(text=text, cron=text)
