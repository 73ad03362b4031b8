"""Crontab's day-of-week meaning, not APScheduler 3's (where 0 is Monday)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from feeds.cron import crontab_weekdays, parse_cron

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("sat,sun", "sun,sat"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
    ],
)
def test_weekdays_are_read_the_crontab_way(field, days):
    assert crontab_weekdays(field) == days


def test_sunday_zero_fires_on_a_sunday():
    trigger = CronTrigger(**parse_cron("0 8 * * 0"), timezone=SHANGHAI)
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 25, tzinfo=SHANGHAI))
    assert fire == datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)
    assert fire.strftime("%A") == "Sunday"


def test_six_fields_put_seconds_first():
    assert parse_cron("*/5 * * * * *")["second"] == "*/5"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 8 * *", "expected 5 cron fields (or 6 with seconds first), got '0 8 * *'"),
        (
            "0 25 * * *",
            "'0 25 * * *': Error validating expression '25': the last value (25) "
            "is higher than the maximum value (23)",
        ),
        ("0 8 * * 9", "day of week '9' is not 0-7 or a name such as mon"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(ValueError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message
