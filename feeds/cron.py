"""Crontab expressions with crontab's meaning, for APScheduler 3.

APScheduler 3 numbers weekdays from 0 = Monday, while crontab (and every
operator's habit) has 0 = Sunday; its own ``from_crontab`` keeps that trap.
Here the day-of-week field is read the crontab way (0 and 7 are Sunday, names
such as mon-fri work too) and handed to APScheduler as day names, which mean
the same thing in both.
"""

from __future__ import annotations

import re

DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELDS_5 = ("minute", "hour", "day", "month", "day_of_week")
FIELDS_6 = ("second", *FIELDS_5)


def _day_number(token: str) -> int:
    token = token.lower()
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"day of week {token!r} is not 0-7 or a name such as mon")


def crontab_weekdays(field: str) -> str:
    """Crontab's day-of-week field as APScheduler day names ('*' stays '*')."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|[a-zA-Z0-9]+)(?:-([a-zA-Z0-9]+))?(?:/(\d+))?", part)
        if not match:
            raise ValueError(f"day of week {part!r} is not understood")
        start, end, step = match.groups()
        if start == "*":
            first, last = 0, 6
        else:
            first = _day_number(start)
            last = _day_number(end) if end else (6 if step else first)
            if end and end.strip() == "7":
                last = 7
        if last < first:
            raise ValueError(f"day of week range {part!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, int(step or 1)))
    return ",".join(DAY_NAMES[day] for day in sorted(days))


def parse_cron(expression: str) -> dict[str, str]:
    """Crontab's 5 fields, or 6 with seconds first, as CronTrigger keyword arguments."""
    from apscheduler.triggers.cron import CronTrigger

    parts = expression.split()
    if len(parts) not in (5, 6):
        raise ValueError(f"expected 5 cron fields (or 6 with seconds first), got {expression!r}")
    fields = dict(zip(FIELDS_6 if len(parts) == 6 else FIELDS_5, parts, strict=True))
    fields["day_of_week"] = crontab_weekdays(fields["day_of_week"])
    try:
        CronTrigger(**fields, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{expression!r}: {exc}") from None
    return fields
